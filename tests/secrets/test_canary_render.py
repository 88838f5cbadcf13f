"""Canary: secrets set to known strings appear only in env/secret files of the render.

Not in compose.yaml, Traefik config, mounted files, the manifest, CLI output or golden
files. (Plan and deploy output are covered by the deploy tests.)
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, REPO, copy_repo, zixly
from zixly_stack.project import load
from zixly_stack.render.context import required_secrets
from zixly_stack.secrets.store import SecretStore


def _canary(name: str) -> str:
    return "CANARY" + hashlib.sha256(name.encode()).hexdigest()[:16]


def _seed_canaries(root: Path, env: str) -> list[str]:
    assert zixly("secrets", "init", env, root=root).code == 0
    store = SecretStore.open(root / "inventories" / env)
    names = list(required_secrets(load(root, env).stack))
    for name in names:
        store.set(name, _canary(name), force=True)
    store.save()
    return [_canary(n) for n in names]


@pytest.mark.parametrize("source", ["minirepo", "production"])
def test_canaries_only_in_secret_files(source: str, tmp_path: Path, age_key: Path) -> None:
    if source == "minirepo":
        root = tmp_path / "repo"
        shutil.copytree(FIXTURES / "minirepo", root)
        env = "base"
    else:
        root = copy_repo(tmp_path / "repo", REPO, envs=("production",))
        env = "production"
    canaries = _seed_canaries(root, env)
    out = tmp_path / "out"
    result = zixly("render", env, "--out", str(out), root=root)
    assert result.code == 0, result.stderr
    assert not [c for c in canaries if c in result.stdout + result.stderr]
    seen: set[str] = set()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        text = path.read_text()
        found = [c for c in canaries if c in text]
        rel = path.relative_to(out)
        secret_file = len(rel.parts) > 1 and rel.parts[-2] in ("env", "secrets", ".zixly")  # not the top marker
        if found:
            assert secret_file, f"{rel} contains secret values"
            assert path.stat().st_mode & 0o077 == 0 or rel.parts[-2] == "secrets", rel
        seen.update(found)
    # every secret that the stack consumes reached an env/secret file (the canary test can fail)
    assert seen, "no canary reached any file: the test is not exercising secrets"
    manifest_text = "".join(p.read_text() for p in out.rglob("manifest.json"))
    assert not [c for c in canaries if c in manifest_text]
    listing = zixly("secrets", "list", env, "--json", root=root)
    assert listing.code == 0 and not [c for c in canaries if c in listing.stdout]
