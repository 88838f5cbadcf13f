"""A lost secrets store is an error, never a fresh start (issue 20, build item 2).

Each refusal: exit 3 (secrets problem), a message naming what would be lost and the way
back, and the repo, the base dir and the age key untouched (checksums before/after). The
"deployed" release is a render copied into a temp base dir (see :mod:`tests.secrets.lost`);
``test_lost_store_e2e.py`` repeats the fresh-clone case next to a real running stack.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest

from tests.helpers import REPO, copy_repo, zixly
from tests.secrets.lost import ENV, RELEASE, Deployed, checksum, clone, deployed_local
from zixly_stack.render.tree import RECOVERY_PATH
from zixly_stack.secrets.document import Entry


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployed, Path]]:
    """One rendered-and-"deployed" environment per module; each test works on its own copy."""
    work = tmp_path_factory.mktemp("lost")
    key = work / "age.key"
    key.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    key.chmod(0o600)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZIXLY_AGE_KEY_FILE", str(key))
        mp.setenv("HOME", str(work))
        mp.setenv("XDG_CONFIG_HOME", str(work / ".config"))
        mp.delenv("ZIXLY_AGE_KEY", raising=False)
        yield deployed_local(work), key


@pytest.fixture
def deployed(template: tuple[Deployed, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    d = clone(template[0], template[1], tmp_path)
    monkeypatch.setenv("ZIXLY_AGE_KEY_FILE", str(tmp_path / "age.key"))
    return d


def _refused(d: Deployed, *args: str, extra: tuple[Path, ...] = ()) -> str:
    """Run a command that must refuse; return its stderr after checking exit 3 and nothing changed."""
    before = checksum(d.root, d.base, *extra)
    res = d.run(*args)
    assert res.code == 3, (res.code, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert checksum(d.root, d.base, *extra) == before
    return res.stderr


def test_render_with_recipients_but_no_store_refuses(tmp_path: Path, age_key: Path) -> None:
    """The issue's example: recipients.txt present, secrets.age gone -> `render` made a fresh store, exit 0."""
    root = copy_repo(tmp_path / "repo", REPO, envs=("production",))
    assert zixly("secrets", "init", "production", root=root).code == 0
    (root / "inventories" / "production" / "secrets.age").unlink()
    before = checksum(root, age_key.parent)
    res = zixly("render", "production", "--out", str(tmp_path / "out"), root=root)
    assert res.code == 3, res.stderr
    assert checksum(root, age_key.parent) == before
    assert not (tmp_path / "out").exists()
    text = res.stderr
    assert "inventories/production/secrets.age: the secrets store of 'production' is missing" in text
    assert "recipients.txt lists 1 key(s)" in text
    assert "n8n.encryption_key" in text and "Credentials could not be decrypted" in text  # what would be lost
    assert "git log -- inventories/production/secrets.age" in text  # the ways back
    assert "zixly secrets recover production --from-release" in text
    assert "Nothing was generated, written or changed." in text


def test_plan_and_deploy_refuse_a_missing_store_too(deployed: Deployed) -> None:
    deployed.store.unlink()
    for args in (("plan", ENV), ("deploy", ENV, "--yes")):
        text = _refused(deployed, *args)
        assert f"zixly secrets recover {ENV} --from-release" in text


def test_up_in_a_fresh_clone_next_to_old_data_refuses(deployed: Deployed, tmp_path: Path) -> None:
    """After `down` and a fresh clone (no secrets.age nor recipients.txt: per machine), `up` must not start anew."""
    deployed.store.unlink()
    (deployed.env_dir / "recipients.txt").unlink()
    text = _refused(deployed, "up", "--env", ENV, extra=(tmp_path / "age.key", tmp_path / "home"))
    assert "this machine holds data of it" in text
    assert f"a deployed release: {deployed.base / ENV / 'current'} (made with store " in text
    assert f"zixly secrets recover {ENV} --from-release" in text


def test_up_and_deploy_with_a_new_store_refuse_and_name_both_stores(deployed: Deployed) -> None:
    """`secrets init` after the loss makes a NEW store: its values did not make the deployed data."""
    manifest = json.loads((deployed.base / ENV / "current" / "manifest.json").read_text())
    deployed.store.unlink()
    (deployed.env_dir / "recipients.txt").unlink()
    assert deployed.run("secrets", "init", ENV).code == 0
    for args in (("plan", ENV), ("deploy", ENV, "--yes"), ("up", "--env", ENV)):  # read-only first
        text = _refused(deployed, *args)
        assert f"was deployed with store {manifest['store']}" in text
        assert "is a new store that never deployed" in text
        assert f"mv inventories/{ENV}/secrets.age inventories/{ENV}/secrets.age.new" in text
        assert f"zixly secrets recover {ENV} --from-release" in text


def _values(entries: dict[str, Entry]) -> dict[str, tuple[str, str, str | None]]:
    return {n: (e.value.reveal(), e.type, e.never_rotate) for n, e in entries.items()}


def test_recover_from_release_gives_back_the_same_store(deployed: Deployed) -> None:
    entries = deployed.entries()
    manifest = json.loads((deployed.base / ENV / "current" / "manifest.json").read_text())
    deployed.store.unlink()
    (deployed.env_dir / "recipients.txt").unlink()
    res = deployed.run("secrets", "recover", ENV, "--from-release")
    assert res.code == 0, res.stderr
    assert f"recovered {len(entries)} secret(s)" in res.stdout and f"store {manifest['store']}" in res.stdout
    assert _values(deployed.entries()) == _values(entries)  # every value, type and never-rotate reason
    assert "not recovered" not in res.stderr
    plan = deployed.run("plan", ENV, "--json")
    assert plan.code == 0, plan.stderr
    changed = json.loads(plan.stdout)["hosts"][0]["files"]
    assert changed, "the copied release differs in its base dir paths: the plan must see files"
    assert [f["path"] for f in changed if f["secret"]] == []  # every secret file (the sheet too) as deployed


def test_recover_never_overwrites_a_store(deployed: Deployed) -> None:
    text = _refused(deployed, "secrets", "recover", ENV, "--from-release")
    assert "a store exists; recover never overwrites one" in text


def test_a_release_without_recovery_sheets_gives_its_values_from_the_secret_files(deployed: Deployed) -> None:
    """A release made before recovery sheets: values come from the env and secret files; the ones only zixly's
    hooks use are not there, and are reported (never generated)."""
    entries = deployed.entries()
    (deployed.base / ENV / "releases" / RELEASE / RECOVERY_PATH).unlink()
    deployed.store.unlink()
    res = deployed.run("secrets", "recover", ENV, "--from-release")
    assert res.code == 0, res.stderr
    got = deployed.entries()
    assert _values(got) == {n: v for n, v in _values(entries).items() if n in got}
    assert "n8n.encryption_key" in got and "postgres.admin_password" in got
    assert "not recovered: n8n.owner_password: only its bcrypt hash (n8n.owner_password_hash) is deployed" in res.stderr
    assert set(entries) - set(got) == {line.split(":")[1].strip() for line in res.stderr.splitlines()
                                       if line.startswith("not recovered:")}


def test_recover_refuses_when_a_never_rotate_key_cannot_be_recovered(deployed: Deployed) -> None:
    release = deployed.base / ENV / "releases" / RELEASE
    (release / RECOVERY_PATH).unlink()
    shutil.rmtree(release / "n8n" / "secrets")
    deployed.store.unlink()
    text = _refused(deployed, "secrets", "recover", ENV, "--from-release")
    assert "cannot recover n8n.encryption_key" in text and "--partial" in text
    res = deployed.run("secrets", "recover", ENV, "--from-release", "--partial")
    assert res.code == 0, res.stderr
    assert "n8n.encryption_key" not in deployed.entries()
