"""`zixly secrets set|rotate` know each secret from the catalog (issue 20, build item 2).

Real catalog (a copy of this repo's production environment), real age keys, the CLI as a user runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO, copy_repo, zixly
from tests.secrets.lost import checksum
from zixly_stack.secrets import SecretStore

KEY = "0123456789abcdef" * 4  # an n8n encryption key brought from an existing installation


@pytest.fixture
def root(tmp_path: Path, age_key: Path) -> Path:
    root = copy_repo(tmp_path / "repo", REPO, envs=("production",))
    assert zixly("secrets", "init", "production", root=root).code == 0
    return root


def test_unknown_name_is_refused_with_a_did_you_mean(root: Path) -> None:
    before = checksum(root)
    res = zixly("secrets", "set", "production", "n8n.encryptionkey", root=root, input=KEY + "\n")
    assert res.code == 3
    assert "n8n.encryptionkey: not a secret of 'production' (did you mean 'n8n.encryption_key'?)" in res.stderr
    assert checksum(root) == before
    nothing = zixly("secrets", "set", "production", "nope.thing", root=root, input=KEY + "\n")
    assert nothing.code == 3 and "did you mean" not in nothing.stderr and checksum(root) == before


def test_imported_key_before_the_first_render_keeps_its_type_and_never_rotate(root: Path) -> None:
    """`set` before the first render used to store a never-rotate key as an ordinary password: rotate then worked."""
    res = zixly("secrets", "set", "production", "n8n.encryption_key", root=root, input=KEY + "\n")
    assert res.code == 0, res.stderr
    entry = SecretStore.open(root / "inventories" / "production").entry("n8n.encryption_key")
    assert entry is not None and entry.type == "hex" and entry.never_rotate
    assert "Credentials could not be decrypted" in entry.never_rotate
    before = checksum(root)
    refused = zixly("secrets", "rotate", "production", "n8n.encryption_key", root=root)
    assert refused.code == 3 and "Credentials could not be decrypted" in refused.stderr
    again = zixly("secrets", "set", "production", "n8n.encryption_key", root=root, input="f" * 64 + "\n")
    assert again.code == 3 and "--force" in again.stderr
    assert checksum(root) == before
    rendered = zixly("render", "production", "--out", str(root / "out"), root=root)
    assert rendered.code == 0, rendered.stderr
    assert (root / "out" / "vps1" / "n8n" / "secrets" / "n8n_encryption_key").read_text() == KEY


def test_a_key_stored_as_a_password_by_an_older_zixly_is_still_never_rotated(root: Path) -> None:
    store = SecretStore.open(root / "inventories" / "production")
    store.set("n8n.encryption_key", KEY)  # what `set` recorded before: type password, no never_rotate
    store.save()
    entry = store.entry("n8n.encryption_key")
    assert entry is not None and entry.never_rotate is None
    before = checksum(root)
    res = zixly("secrets", "rotate", "production", "n8n.encryption_key", root=root)
    assert res.code == 3 and "refusing to rotate" in res.stderr
    assert checksum(root) == before
    fixed = zixly("secrets", "set", "production", "n8n.encryption_key", root=root, input=KEY + "\n")
    assert fixed.code == 0, fixed.stderr  # same value: the catalog's type and reason are recorded
    entry = SecretStore.open(root / "inventories" / "production").entry("n8n.encryption_key")
    assert entry is not None and entry.type == "hex" and entry.never_rotate


def test_type_must_agree_with_the_catalog(root: Path) -> None:
    res = zixly("secrets", "set", "production", "n8n.encryption_key", "--type", "password", root=root,
                input=KEY + "\n")
    assert res.code == 3 and "the catalog declares it as hex" in res.stderr
