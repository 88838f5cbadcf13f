"""Identity resolution: env key, key file, per-user file; created only when asked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from zixly_stack.errors import SecretsError
from zixly_stack.secrets import Identity, default_key_path, ensure_identity, load_identity


def test_nothing_configured_is_none_and_creates_nothing(isolated_keys: Path) -> None:
    assert load_identity() is None
    assert not isolated_keys.exists()
    assert not isolated_keys.parent.exists()


def test_env_key_wins(monkeypatch: pytest.MonkeyPatch, alice: Identity, bob: Identity, tmp_path: Path) -> None:
    key_file = tmp_path / "bob.key"
    key_file.write_text(bob.key_file_text())
    monkeypatch.setenv("ZIXLY_AGE_KEY_FILE", str(key_file))
    monkeypatch.setenv("ZIXLY_AGE_KEY", alice.keys[0].reveal())
    loaded = load_identity()
    assert loaded is not None
    assert loaded.public_keys == alice.public_keys
    assert loaded.source == "ZIXLY_AGE_KEY"


def test_key_file_env(monkeypatch: pytest.MonkeyPatch, bob: Identity, tmp_path: Path) -> None:
    key_file = tmp_path / "bob.key"
    key_file.write_text(bob.key_file_text())
    monkeypatch.setenv("ZIXLY_AGE_KEY_FILE", str(key_file))
    loaded = load_identity()
    assert loaded is not None and loaded.public_keys == bob.public_keys
    assert str(key_file) in loaded.source


def test_per_user_file_honours_xdg(isolated_keys: Path, alice: Identity) -> None:
    assert default_key_path() == isolated_keys
    isolated_keys.parent.mkdir(parents=True)
    isolated_keys.write_text(alice.key_file_text())
    loaded = load_identity()
    assert loaded is not None and loaded.public_keys == alice.public_keys


def test_relative_xdg_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")
    assert default_key_path() == tmp_path / "home" / ".config" / "zixly" / "age.key"


def test_missing_key_file_is_an_error_not_a_fallthrough(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZIXLY_AGE_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(SecretsError, match="does not exist"):
        load_identity()


def test_malformed_key_error_does_not_echo_the_key(monkeypatch: pytest.MonkeyPatch, alice: Identity) -> None:
    broken = alice.keys[0].reveal()[:-6] + "QQQQQQ"
    monkeypatch.setenv("ZIXLY_AGE_KEY", broken)
    with pytest.raises(SecretsError) as info:
        load_identity()
    assert "ZIXLY_AGE_KEY" in str(info.value)
    assert broken not in str(info.value)
    assert info.value.exit_code == 3


def test_non_age_line_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIXLY_AGE_KEY", "ssh-ed25519 AAAA...")
    with pytest.raises(SecretsError, match="line 1 is not an age X25519 secret key"):
        load_identity()


def test_ensure_identity_creates_private_file_once(isolated_keys: Path) -> None:
    created = ensure_identity()
    assert isolated_keys.exists()
    assert stat.S_IMODE(isolated_keys.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_keys.parent.stat().st_mode) == 0o700
    content = isolated_keys.read_bytes()
    assert f"# public key: {created.public_keys[0]}".encode() in content
    again = ensure_identity()
    assert again.public_keys == created.public_keys
    assert isolated_keys.read_bytes() == content


def test_ensure_identity_uses_env_key_without_creating(
    monkeypatch: pytest.MonkeyPatch, alice: Identity, isolated_keys: Path
) -> None:
    monkeypatch.setenv("ZIXLY_AGE_KEY", alice.keys[0].reveal())
    assert ensure_identity().public_keys == alice.public_keys
    assert not isolated_keys.exists()


def test_identity_repr_masks_private_key(alice: Identity) -> None:
    text = repr(alice) + str(alice)
    assert alice.keys[0].reveal() not in text
    assert alice.public_keys[0] in text
    assert "AGE-SECRET-KEY" not in text


def test_key_file_text_round_trips(alice: Identity, bob: Identity) -> None:
    parsed = Identity.from_text(alice.key_file_text(), "test")
    assert parsed.public_keys == alice.public_keys
    both = Identity.from_text(alice.key_file_text() + bob.key_file_text(), "two keys")
    assert both.public_keys == alice.public_keys + bob.public_keys
