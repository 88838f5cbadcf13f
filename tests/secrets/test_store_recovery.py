"""The store pieces behind recovery: adopt, extraction from release files, hashes that follow their source."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from zixly_stack.errors import SecretsError
from zixly_stack.secrets import Identity, SecretStore
from zixly_stack.secrets.document import Entry
from zixly_stack.secrets.recover import extract, markers
from zixly_stack.secrets.value import Secret

from .helpers import REQUIRED


def test_a_stored_hash_follows_a_regenerated_source(store: SecretStore, env_dir: Path, alice: Identity) -> None:
    """A recovered store may hold n8n.owner_password_hash without the password: a new password gets a new hash."""
    reopened = SecretStore.open(env_dir, alice)
    old_hash = reopened.get("n8n.owner_password_hash")
    del reopened._entries["n8n.owner_password"]
    values, added = reopened.ensure(REQUIRED)
    assert added == ["n8n.owner_password"]
    assert values["n8n.owner_password_hash"] != old_hash
    assert bcrypt.checkpw(values["n8n.owner_password"].reveal().encode(), values["n8n.owner_password_hash"].reveal()
                          .encode())


def test_setting_the_value_a_hash_already_matches_keeps_the_hash(store: SecretStore) -> None:
    password = store.get("n8n.owner_password")
    assert password is not None
    store.set("n8n.owner_password", "something-else-1")
    store.set("n8n.owner_password", password, force=True)
    kept = store.get("n8n.owner_password_hash")
    assert store.set("n8n.owner_password", password) == []
    assert store.get("n8n.owner_password_hash") == kept


def test_adopt_creates_exclusively_and_never_replaces(env_dir: Path, alice: Identity, store: SecretStore) -> None:
    entries = {"n8n.x": Entry(Secret("v" * 12), "password", "2026-01-01T00:00:00Z")}
    with pytest.raises(SecretsError):
        SecretStore.open(env_dir, alice).adopt(entries)
    other = env_dir.parent / "other"
    fresh = SecretStore.open(other, alice)
    fresh.add_recipient(alice.public_keys[0])
    fresh.adopt(entries)
    fresh.save()
    assert SecretStore.open(other, alice).get("n8n.x") == Secret("v" * 12)


def test_extract_reads_values_as_written_or_url_encoded_and_refuses_disagreement() -> None:
    names = ["a.pw", "b.key"]
    m = markers(names)
    marked = {
        "h/x.env": f"# header\nPW='{m['a.pw'].reveal()}'\nURL=postgres://u:{m['a.pw'].reveal()}@db/x\n",
        "h/secrets/k": m["b.key"].reveal(),
    }
    deployed = {"h/x.env": Secret("# header\nPW='p@ss/w'\nURL=postgres://u:p%40ss%2Fw@db/x\n"),
                "h/secrets/k": Secret("KEY\nWITH NEWLINE")}
    values, problems = extract(marked, deployed, names)
    assert values == {"a.pw": Secret("p@ss/w"), "b.key": Secret("KEY\nWITH NEWLINE")} and problems == {}
    deployed["h/x.env"] = Secret("# header\nPW='one'\nURL=postgres://u:two@db/x\n")
    values, problems = extract(marked, deployed, names)
    assert "a.pw" not in values and problems == {"a.pw": "its copies in the release files disagree"}
    deployed["h/x.env"] = Secret("# another shape\nPW='one'\n")
    values, problems = extract(marked, deployed, names)
    assert "a.pw" not in values and "a.pw" not in problems  # not read at all: the file changed shape
