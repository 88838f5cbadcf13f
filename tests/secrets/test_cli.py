"""``zixly secrets`` through click's CliRunner: values never printed unless --reveal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from zixly_stack.cli.secrets_cmd import secrets_group
from zixly_stack.models.secret_spec import SecretSpec
from zixly_stack.secrets import MASK, Identity, SecretStore

from .helpers import CANARY, REQUIRED, snapshot


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path / "repo"


@pytest.fixture
def as_alice(monkeypatch: pytest.MonkeyPatch, alice: Identity) -> Identity:
    monkeypatch.setenv("ZIXLY_AGE_KEY", alice.keys[0].reveal())
    return alice


def _catalog(root: Path, env: str) -> dict[str, SecretSpec]:
    """The environment's secrets as a catalog would declare them (these repos have no services/)."""
    return dict(REQUIRED)


def _run(repo: Path, *args: str, input: str | None = None, **obj: object) -> Result:
    return CliRunner().invoke(secrets_group, list(args), input=input,
                              obj={"root": repo, "secret_specs": _catalog, **obj})


@pytest.fixture
def canary_store(store: SecretStore, as_alice: Identity) -> SecretStore:
    """The saved store with n8n.owner_password set to the canary."""
    store.set("n8n.owner_password", CANARY)
    store.save()
    return store


def _no_leak(result: Result) -> None:
    assert CANARY not in result.output
    assert CANARY not in (result.stderr or "")


def test_init_creates_key_recipients_and_store_then_refuses(repo: Path, isolated_keys: Path) -> None:
    result = _run(repo, "init", "prod")
    assert result.exit_code == 0, result.output
    assert isolated_keys.exists()
    env_dir = repo / "inventories" / "prod"
    assert sorted(snapshot(env_dir)) == ["recipients.txt", "secrets.age"]
    public = Identity.from_text(isolated_keys.read_text(), "key").public_keys[0]
    assert public in (env_dir / "recipients.txt").read_text()
    assert "back it up" in result.output
    before = snapshot(env_dir)
    again = _run(repo, "init", "prod")
    assert again.exit_code == 3
    assert "already exists" in again.stderr
    assert snapshot(env_dir) == before


def test_list_never_prints_values(canary_store: SecretStore, repo: Path) -> None:
    result = _run(repo, "list", "prod")
    assert result.exit_code == 0, result.output
    _no_leak(result)
    for name in REQUIRED:
        assert name in result.output
    fingerprint = canary_store.get("n8n.owner_password").fingerprint()  # type: ignore[union-attr]
    assert fingerprint in result.output
    for secret_name in REQUIRED:
        value = canary_store.get(secret_name)
        assert value is not None and value.reveal() not in result.output


def test_list_json(canary_store: SecretStore, repo: Path) -> None:
    result = _run(repo, "list", "prod", "--json")
    assert result.exit_code == 0, result.output
    _no_leak(result)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(REQUIRED)
    row = rows["n8n.owner_password"]
    assert set(row) == {"name", "type", "created", "rotated", "fingerprint", "never_rotate"}
    assert rows["n8n.encryption_key"]["never_rotate"]


def test_show_masks_without_reveal(canary_store: SecretStore, repo: Path) -> None:
    result = _run(repo, "show", "prod", "n8n.owner_password")
    assert result.exit_code == 0, result.output
    _no_leak(result)
    assert MASK in result.output
    assert canary_store.get("n8n.owner_password").fingerprint() in result.output  # type: ignore[union-attr]


def test_show_reveal_prints_only_the_value(canary_store: SecretStore, repo: Path) -> None:
    result = _run(repo, "show", "prod", "n8n.owner_password", "--reveal")
    assert result.exit_code == 0, result.output
    assert result.stdout == CANARY + "\n"


def test_set_reads_stdin_and_never_echoes(store: SecretStore, as_alice: Identity, repo: Path) -> None:
    result = _run(repo, "set", "prod", "n8n.owner_password", input=CANARY + "\n")
    assert result.exit_code == 0, result.output
    _no_leak(result)
    assert "re-hashed n8n.owner_password_hash" in result.output
    assert SecretStore.open(store.env_dir).get("n8n.owner_password").reveal() == CANARY  # type: ignore[union-attr]


def test_set_takes_no_value_from_argv(store: SecretStore, as_alice: Identity, repo: Path) -> None:
    before = store.path.read_bytes()
    result = _run(repo, "set", "prod", "n8n.owner_password", CANARY)
    assert result.exit_code == 2  # usage error: unexpected extra argument
    assert store.path.read_bytes() == before


def test_set_empty_stdin_is_refused(store: SecretStore, as_alice: Identity, repo: Path) -> None:
    before = store.path.read_bytes()
    result = _run(repo, "set", "prod", "n8n.owner_password", input="")
    assert result.exit_code == 3
    assert "empty value" in result.stderr
    assert store.path.read_bytes() == before


def test_rotate_with_catalog_lookup_refuses_then_forces(store: SecretStore, as_alice: Identity, repo: Path) -> None:
    calls: list[tuple[Path, str, str]] = []

    def lookup(root: Path, env: str, name: str) -> SecretSpec | None:
        calls.append((root, env, name))
        return SecretSpec(type="alnum", length=40, never_rotate="Metabase cannot read its saved connections")

    store.set("n8n.metabase_key", "x" * 40)
    store.save()
    before = store.path.read_bytes()
    refused = _run(repo, "rotate", "prod", "n8n.metabase_key", spec_lookup=lookup)
    assert refused.exit_code == 3
    assert "Metabase cannot read its saved connections" in refused.stderr
    assert "Traceback" not in refused.output
    assert refused.stderr.count("\n") == 1  # one clear line
    assert store.path.read_bytes() == before
    assert calls == [(repo, "prod", "n8n.metabase_key")]

    forced = _run(repo, "rotate", "prod", "n8n.metabase_key", "--force", spec_lookup=lookup)
    assert forced.exit_code == 0, forced.output
    assert "WARNING" in forced.stderr and "Metabase cannot read its saved connections" in forced.stderr
    new = SecretStore.open(store.env_dir).get("n8n.metabase_key")
    assert new is not None and new.reveal() != "x" * 40 and new.reveal().isalnum() and len(new.reveal()) == 40


def test_rotate_of_a_secret_the_catalog_no_longer_declares_uses_stored_metadata(
    store: SecretStore, as_alice: Identity, repo: Path
) -> None:
    refused = _run(repo, "rotate", "prod", "n8n.encryption_key", secret_specs=lambda r, e: {})
    assert refused.exit_code == 3
    assert "n8n can no longer decrypt stored credentials" in refused.stderr
    old = store.get("n8n.owner_password")
    ok = _run(repo, "rotate", "prod", "n8n.owner_password", secret_specs=lambda r, e: {})
    assert ok.exit_code == 0, ok.output
    new = SecretStore.open(store.env_dir).get("n8n.owner_password")
    assert new is not None and new != old and len(new.reveal()) == 24


def test_recipients_add_list_remove(store: SecretStore, as_alice: Identity, bob: Identity, repo: Path) -> None:
    key = bob.public_keys[0]
    added = _run(repo, "recipients", "prod", "add", key, "--comment", "bob")
    assert added.exit_code == 0, added.output
    assert SecretStore.open(store.env_dir, bob).names() == sorted(REQUIRED)
    listed = _run(repo, "recipients", "prod", "list")
    assert listed.stdout.split() == [as_alice.public_keys[0], key]
    removed = _run(repo, "recipients", "prod", "remove", key)
    assert removed.exit_code == 0, removed.output
    assert "rotate" in removed.stderr  # reminder: old copies in git still open with that key
    bad = _run(repo, "recipients", "prod", "add", "age1nope")
    assert bad.exit_code == 3 and "not an age public key" in bad.stderr


def test_errors_are_one_line_with_exit_code(
    store: SecretStore, repo: Path, bob: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZIXLY_AGE_KEY", bob.keys[0].reveal())
    before = snapshot(repo)
    result = _run(repo, "list", "prod")
    assert result.exit_code == 3
    assert result.stderr.startswith(str(store.path) + ": cannot decrypt with your key")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert snapshot(repo) == before
    missing = _run(repo, "list", "staging")
    assert missing.exit_code == 3 and "zixly secrets init staging" in missing.stderr
    bad_env = _run(repo, "list", "../etc")  # a bad name is a configuration error, as in every command
    assert bad_env.exit_code == 2 and "invalid environment name '../etc'" in bad_env.stderr


def test_key_prints_public_key_creating_it_once(repo: Path, isolated_keys: Path) -> None:
    first = _run(repo, "key")
    assert first.exit_code == 0, first.output
    assert "created your age key" in first.stderr
    public = first.stdout.strip()
    assert public.startswith("age1")
    assert "AGE-SECRET-KEY" not in first.output
    second = _run(repo, "key")
    assert second.stdout.strip() == public and second.stderr == ""


def test_refused_init_creates_no_key(store: SecretStore, repo: Path, isolated_keys: Path) -> None:
    result = _run(repo, "init", "prod")
    assert result.exit_code == 3
    assert not isolated_keys.exists()
