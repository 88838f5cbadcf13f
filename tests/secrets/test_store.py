"""The store: generated once, reused byte-identically, written only on change, shared by recipients."""

from __future__ import annotations

import json
import stat
from collections.abc import Mapping
from pathlib import Path

import pyrage
import pytest

from zixly_stack.errors import SecretsError
from zixly_stack.models.secret_spec import SecretSpec
from zixly_stack.secrets import Identity, Secret, SecretStore

from .helpers import CANARY, REQUIRED, snapshot


def _revealed(values: Mapping[str, Secret]) -> dict[str, str]:
    return {k: v.reveal() for k, v in values.items()}


def test_missing_store_opens_empty_and_writes_nothing(env_dir: Path, alice: Identity) -> None:
    env_dir.mkdir(parents=True)
    store = SecretStore.open(env_dir, alice)
    assert not store.exists
    assert store.names() == []
    assert store.get("n8n.encryption_key") is None
    assert not store.save()
    assert snapshot(env_dir) == {}


def test_create_then_ensure_generates_and_saves(env_dir: Path, alice: Identity) -> None:
    store = SecretStore.create(env_dir, alice)
    values, added = store.ensure(REQUIRED)
    assert sorted(values) == sorted(REQUIRED)
    assert added.index("n8n.owner_password") < added.index("n8n.owner_password_hash")
    assert store.save()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert sorted(snapshot(env_dir)) == ["recipients.txt", "secrets.age"]  # no temp files left


def test_ensure_twice_is_identical_and_second_save_does_not_touch_the_file(
    store: SecretStore, env_dir: Path, alice: Identity
) -> None:
    first, _ = SecretStore.open(env_dir, alice).ensure(REQUIRED)
    before_bytes = store.path.read_bytes()
    before_mtime = store.path.stat().st_mtime_ns

    reopened = SecretStore.open(env_dir, alice)
    second, added = reopened.ensure(REQUIRED)
    assert added == []
    assert _revealed(second) == _revealed(first)
    assert not reopened.changed
    assert reopened.save() is False
    assert store.path.read_bytes() == before_bytes
    assert store.path.stat().st_mtime_ns == before_mtime


def test_new_required_secret_keeps_existing_ones_byte_identical(
    store: SecretStore, env_dir: Path, alice: Identity
) -> None:
    before = _revealed(SecretStore.open(env_dir, alice).ensure(REQUIRED)[0])
    more = {**REQUIRED, "chatwoot.secret_key_base": SecretSpec(type="alnum", length=128)}
    reopened = SecretStore.open(env_dir, alice)
    _, added = reopened.ensure(more)
    assert added == ["chatwoot.secret_key_base"]
    assert reopened.save()
    after = _revealed(SecretStore.open(env_dir, alice).ensure(more)[0])
    assert {k: after[k] for k in before} == before
    assert len(after["chatwoot.secret_key_base"]) == 128


def test_existing_value_is_never_regenerated_even_if_spec_changes(
    store: SecretStore, env_dir: Path, alice: Identity
) -> None:
    old = store.get("n8n.encryption_key")
    reopened = SecretStore.open(env_dir, alice)
    values, added = reopened.ensure({"n8n.encryption_key": SecretSpec(type="uuid")})
    assert added == [] and values["n8n.encryption_key"] == old
    assert not reopened.save()


def test_file_is_a_plain_age_file_with_the_documented_json(store: SecretStore, alice: Identity) -> None:
    raw = store.path.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1\n")
    doc = json.loads(pyrage.decrypt(raw, alice.age_identities()))
    assert doc["version"] == 1
    entry = doc["secrets"]["n8n.encryption_key"]
    assert set(entry) >= {"value", "type", "created", "rotated"}
    assert entry["type"] == "hex" and entry["rotated"] is None
    assert entry["never_rotate"] == REQUIRED["n8n.encryption_key"].never_rotate
    assert doc["secrets"]["n8n.owner_password_hash"]["of"] == "n8n.owner_password"
    assert CANARY.encode() not in raw


def test_set_stores_value_and_rehashes_bcrypt_dependents(store: SecretStore, env_dir: Path, alice: Identity) -> None:
    import bcrypt

    rehashed = store.set("n8n.owner_password", CANARY)
    assert rehashed == ["n8n.owner_password_hash"]
    assert store.save()
    reopened = SecretStore.open(env_dir, alice)
    assert reopened.get("n8n.owner_password") == store.get("n8n.owner_password")
    hashed = reopened.get("n8n.owner_password_hash")
    assert hashed is not None and bcrypt.checkpw(CANARY.encode(), hashed.reveal().encode())
    assert CANARY.encode() not in store.path.read_bytes()


def test_set_same_value_changes_nothing(store: SecretStore) -> None:
    current = store.get("n8n.owner_password")
    assert current is not None
    assert store.set("n8n.owner_password", current) == []
    assert not store.save()


def test_two_recipients_can_both_decrypt(store: SecretStore, env_dir: Path, alice: Identity, bob: Identity) -> None:
    assert store.add_recipient(bob.public_keys[0], "bob")
    assert store.save()
    as_alice = SecretStore.open(env_dir, alice).ensure(REQUIRED)[0]
    as_bob = SecretStore.open(env_dir, bob).ensure(REQUIRED)[0]
    assert _revealed(as_alice) == _revealed(as_bob)
    assert "# bob" in (env_dir / "recipients.txt").read_text()
    assert SecretStore.open(env_dir, alice).encrypted_key_count == 2


def test_removing_a_recipient_reencrypts_so_it_cannot_decrypt(
    store: SecretStore, env_dir: Path, alice: Identity, bob: Identity
) -> None:
    store.add_recipient(bob.public_keys[0])
    store.save()
    as_bob = SecretStore.open(env_dir, bob)
    assert as_bob.remove_recipient(alice.public_keys[0])
    assert as_bob.save()
    with pytest.raises(SecretsError, match="not encrypted to your key"):
        SecretStore.open(env_dir, alice)
    assert SecretStore.open(env_dir, bob).names() == sorted(REQUIRED)
    assert alice.public_keys[0] not in (env_dir / "recipients.txt").read_text()


def test_remove_refuses_last_and_own_key(store: SecretStore, alice: Identity, bob: Identity) -> None:
    with pytest.raises(SecretsError, match="only recipient"):
        store.remove_recipient(alice.public_keys[0])
    store.add_recipient(bob.public_keys[0])
    with pytest.raises(SecretsError, match="locks you out"):
        store.remove_recipient(alice.public_keys[0])
    assert store.remove_recipient(alice.public_keys[0], force=True)


def test_save_refuses_to_lock_you_out(env_dir: Path, alice: Identity, bob: Identity) -> None:
    env_dir.mkdir(parents=True)
    (env_dir / "recipients.txt").write_text(bob.public_keys[0] + "\n")
    store = SecretStore.open(env_dir, alice)
    store.ensure(REQUIRED)
    with pytest.raises(SecretsError, match="lock you out"):
        store.save()
    assert not store.path.exists()


def test_new_store_needs_recipients(env_dir: Path, alice: Identity) -> None:
    store = SecretStore.open(env_dir, alice)
    store.ensure(REQUIRED)
    with pytest.raises(SecretsError, match="no recipients"):
        store.save()
    assert not env_dir.exists()


def test_create_refuses_an_existing_store(store: SecretStore, env_dir: Path, alice: Identity) -> None:
    before = snapshot(env_dir)
    with pytest.raises(SecretsError, match="already exists"):
        SecretStore.create(env_dir, alice)
    assert snapshot(env_dir) == before


def test_stale_copy_never_overwrites_a_newer_store(store: SecretStore, env_dir: Path, alice: Identity) -> None:
    one = SecretStore.open(env_dir, alice)
    two = SecretStore.open(env_dir, alice)
    one.set("n8n.owner_password", "first-writer-wins-1")
    assert one.save()
    written = store.path.read_bytes()
    two.set("n8n.owner_password", "second-writer-2")
    with pytest.raises(SecretsError, match="changed on disk"):
        two.save()
    assert store.path.read_bytes() == written
    assert sorted(snapshot(env_dir)) == ["recipients.txt", "secrets.age"]


def test_a_fresh_store_never_replaces_one_that_appeared(env_dir: Path, alice: Identity) -> None:
    env_dir.mkdir(parents=True)
    (env_dir / "recipients.txt").write_text(alice.public_keys[0] + "\n")
    late = SecretStore.open(env_dir, alice)  # no store yet
    late.ensure(REQUIRED)
    SecretStore.create(env_dir, alice)  # somebody else creates it meanwhile
    existing = (env_dir / "secrets.age").read_bytes()
    with pytest.raises(SecretsError):
        late.save()
    assert (env_dir / "secrets.age").read_bytes() == existing


def test_recipients_file_keeps_comments_and_rejects_bad_keys(env_dir: Path, alice: Identity) -> None:
    from zixly_stack.errors import ConfigError

    env_dir.mkdir(parents=True)
    (env_dir / "recipients.txt").write_text(f"# team\n{alice.public_keys[0]}  # alice\n\nage1notakey\n")
    with pytest.raises(ConfigError) as info:
        SecretStore.open(env_dir, alice)
    assert "recipients.txt:4:1: not an age public key" in str(info.value)


def test_bad_secret_names_are_config_errors(store: SecretStore) -> None:
    from zixly_stack.errors import ConfigError

    with pytest.raises(ConfigError, match="NoService"):
        store.ensure({"NoService": SecretSpec()})
