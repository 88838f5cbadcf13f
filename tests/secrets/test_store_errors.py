"""A store that cannot be decrypted is a clear error, and nothing is generated or written.

Each case checks: SecretsError (exit code 3), a message that names the file and says
what is wrong and what to do, distinct per cause, and the directory byte-identical
afterwards with no new file (no fresh store, no temp file, no key file).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyrage
import pytest

from zixly_stack.errors import SecretsError
from zixly_stack.secrets import Identity, SecretStore

from .helpers import REQUIRED, snapshot


def _render_like(env_dir: Path, identity: Identity | None) -> None:
    """What a render does: open, ensure, save."""
    store = SecretStore.open(env_dir, identity)
    store.ensure(REQUIRED)
    store.save()


def _fails(env_dir: Path, identity: Identity | None, tmp_path: Path) -> str:
    before_repo = snapshot(tmp_path)
    with pytest.raises(SecretsError) as info:
        _render_like(env_dir, identity)
    assert snapshot(tmp_path) == before_repo  # store, recipients, key dir: untouched, nothing new
    assert info.value.exit_code == 3
    text = str(info.value)
    assert str(env_dir / "secrets.age") in text
    assert "Nothing was generated or written." in text
    assert "\n" not in text
    return text


def test_wrong_key_names_the_recipients(store: SecretStore, env_dir: Path, bob: Identity, tmp_path: Path) -> None:
    text = _fails(env_dir, bob, tmp_path)
    assert "cannot decrypt with your key" in text
    assert bob.public_keys[0] in text  # yours
    assert store.recipients[0] in text  # who it is for
    assert "it is encrypted to 1 key(s)" in text
    assert f"zixly secrets recipients prod add {bob.public_keys[0]}" in text


def test_listed_but_not_reencrypted_key_says_so(
    store: SecretStore, env_dir: Path, bob: Identity, tmp_path: Path
) -> None:
    rec = env_dir / "recipients.txt"
    rec.write_text(rec.read_text() + bob.public_keys[0] + "\n")  # edited by hand, store not re-encrypted
    text = _fails(env_dir, bob, tmp_path)
    assert "is in recipients.txt but the store was not re-encrypted for it" in text
    assert "it is encrypted to 1 key(s)" in text


def test_missing_key(store: SecretStore, env_dir: Path, tmp_path: Path, isolated_keys: Path) -> None:
    text = _fails(env_dir, None, tmp_path)
    assert "no age key found" in text
    assert "ZIXLY_AGE_KEY" in text and str(isolated_keys) in text
    assert store.recipients[0] in text
    assert not isolated_keys.exists()  # no key was created on the way


def _truncate_half(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


def _truncate_payload_end(raw: bytes) -> bytes:
    return raw[:-1]


def _truncate_in_header(raw: bytes) -> bytes:
    return raw[:30]


def _flip_payload(raw: bytes) -> bytes:
    b = bytearray(raw)
    b[-20] ^= 0x01
    return bytes(b)


def _flip_mac(raw: bytes) -> bytes:
    b = bytearray(raw)
    pos = raw.index(b"\n--- ") + 10
    b[pos] = ord("A") if b[pos] != ord("A") else ord("B")
    return bytes(b)


def _empty(raw: bytes) -> bytes:
    return b""


def _not_age(raw: bytes) -> bytes:
    return b'{"version": 1, "secrets": {}}\n'


def _merge_conflict(raw: bytes) -> bytes:
    return b"<<<<<<< HEAD\n" + raw + b"\n=======\n" + raw + b"\n>>>>>>> branch\n"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (_truncate_half, "is damaged"),
        (_truncate_payload_end, "is damaged"),
        (_truncate_in_header, "truncated inside the age header"),
        (_flip_payload, "integrity check"),
        (_flip_mac, "age header fails its integrity check"),
        (_empty, "the file is empty"),
        (_not_age, "does not start with the age v1 header"),
        (_merge_conflict, "git merge-conflict markers"),
    ],
)
def test_corrupt_store(
    store: SecretStore,
    env_dir: Path,
    alice: Identity,
    tmp_path: Path,
    damage: Callable[[bytes], bytes],
    expected: str,
) -> None:
    store.path.write_bytes(damage(store.path.read_bytes()))
    text = _fails(env_dir, alice, tmp_path)
    assert "the store is damaged" in text
    assert expected in text
    assert "Restore it from git" in text


def test_corrupt_store_with_no_key_reports_the_damage(store: SecretStore, env_dir: Path, tmp_path: Path) -> None:
    store.path.write_bytes(store.path.read_bytes()[:40])
    assert "the store is damaged" in _fails(env_dir, None, tmp_path)


def test_decryptable_but_not_a_store(store: SecretStore, env_dir: Path, alice: Identity, tmp_path: Path) -> None:
    recipient = pyrage.x25519.Recipient.from_str(alice.public_keys[0])
    docs: list[object] = [
        {"version": 2, "secrets": {}},
        {"secrets": []},
        {"version": 1, "secrets": {"a.b": {"value": 1}}},
    ]
    for doc in docs:
        store.path.write_bytes(pyrage.encrypt(json.dumps(doc).encode(), [recipient]))
        text = _fails(env_dir, alice, tmp_path)
        assert "decrypted, but it is not a zixly secrets store" in text


def test_the_three_causes_have_distinct_messages(
    store: SecretStore, env_dir: Path, alice: Identity, bob: Identity, tmp_path: Path
) -> None:
    wrong = _fails(env_dir, bob, tmp_path)
    missing = _fails(env_dir, None, tmp_path)
    store.path.write_bytes(_flip_payload(store.path.read_bytes()))
    corrupt = _fails(env_dir, alice, tmp_path)
    heads = {m.split(": ", 2)[1] for m in (wrong, missing, corrupt)}
    assert len(heads) == 3, heads


def test_a_store_that_is_a_directory_is_named_not_a_crash(store: SecretStore, env_dir: Path, alice: Identity,
                                                           tmp_path: Path) -> None:
    """Found by the hostile corpus (S23): an internal IsADirectoryError, exit 1, before."""
    store_file = env_dir / "secrets.age"
    store_file.unlink()
    store_file.mkdir()
    text = _fails(env_dir, alice, tmp_path)
    assert "is a directory, not a file" in text and "git log -- secrets.age" in text
