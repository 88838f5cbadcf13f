"""rotate: refuses never-rotate keys without force and says what breaks; re-hashes dependents."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from zixly_stack.errors import SecretsError
from zixly_stack.models.secret_spec import SecretSpec
from zixly_stack.secrets import Identity, SecretStore

from .helpers import REQUIRED, snapshot

REASON = REQUIRED["n8n.encryption_key"].never_rotate or ""
assert REASON


def test_refuses_never_rotate_without_force(store: SecretStore, env_dir: Path, alice: Identity) -> None:
    before = snapshot(env_dir)
    old = store.get("n8n.encryption_key")
    with pytest.raises(SecretsError) as info:
        store.rotate("n8n.encryption_key", REQUIRED["n8n.encryption_key"])
    assert REASON in str(info.value)
    assert "--force" in str(info.value)
    assert info.value.exit_code == 3
    assert store.get("n8n.encryption_key") == old
    assert not store.save()
    assert snapshot(env_dir) == before


def test_stored_never_rotate_protects_even_without_catalog_spec(store: SecretStore) -> None:
    with pytest.raises(SecretsError, match="Invoice Ninja loses encrypted data"):
        store.rotate("invoiceninja.app_key", SecretSpec(type="laravel_key"))


def test_force_rotates_and_says_what_breaks(store: SecretStore, env_dir: Path, alice: Identity) -> None:
    old = store.get("n8n.encryption_key")
    report = store.rotate("n8n.encryption_key", REQUIRED["n8n.encryption_key"], force=True)
    assert report.startswith("WARNING")
    assert REASON in report
    assert store.save()
    reopened = SecretStore.open(env_dir, alice)
    new = reopened.get("n8n.encryption_key")
    assert new is not None and new != old
    assert len(new.reveal()) == 64
    entry = reopened.entry("n8n.encryption_key")
    assert entry is not None and entry.rotated is not None


def test_rotating_a_password_rehashes_its_bcrypt(store: SecretStore, env_dir: Path, alice: Identity) -> None:
    old_hash = store.get("n8n.owner_password_hash")
    report = store.rotate("n8n.owner_password", REQUIRED["n8n.owner_password"])
    assert "re-hashed n8n.owner_password_hash" in report
    assert not report.startswith("WARNING")
    store.save()
    reopened = SecretStore.open(env_dir, alice)
    password, hashed = reopened.get("n8n.owner_password"), reopened.get("n8n.owner_password_hash")
    assert password is not None and hashed is not None and hashed != old_hash
    assert bcrypt.checkpw(password.reveal().encode(), hashed.reveal().encode())


def test_rotate_unknown_secret_is_an_error(store: SecretStore) -> None:
    with pytest.raises(SecretsError, match="nothing to rotate"):
        store.rotate("n8n.nope", SecretSpec())


def test_set_over_never_rotate_needs_force(store: SecretStore) -> None:
    with pytest.raises(SecretsError, match="n8n can no longer decrypt"):
        store.set("n8n.encryption_key", "a" * 64)
    store.set("n8n.encryption_key", "a" * 64, force=True)
    assert store.changed
