"""Fixtures rendering the real catalog with deterministic (fake) secrets."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, REPO, fake_secrets, zixly
from zixly_stack.project import load, render, write_tree
from zixly_stack.render import RenderedFile

GOLDEN_ENVS = ("production", "local")
ALL_ENVS = ("production", "staging", "local", "demo")

_cache: dict[str, tuple[RenderedFile, ...]] = {}


def render_env(env: str) -> tuple[RenderedFile, ...]:
    """Render ``env`` of the real repo with fake secrets (cached per session)."""
    if env not in _cache:
        loaded = load(REPO, env)
        _cache[env] = render(loaded, fake_secrets(loaded))
    return _cache[env]


@pytest.fixture(scope="session")
def rendered_trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example environment rendered and written to disk once per session."""
    out: dict[str, Path] = {}
    for env in ALL_ENVS:
        target = tmp_path_factory.mktemp(f"render-{env}") / env
        write_tree(render_env(env), target)
        out[env] = target
    return out


def checksum(root: Path) -> str:
    """One digest over every file (path, mode, bytes) and symlink under ``root``, ``.git`` included."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            h.update(f"L {rel} {p.readlink()}\n".encode())
        elif p.is_file():
            h.update(f"F {rel} {p.stat().st_mode:o}\n".encode() + p.read_bytes())
        else:
            h.update(f"D {rel}\n".encode())
    return h.hexdigest()


@pytest.fixture
def git_repo(tmp_path: Path, age_key: Path) -> Path:
    """The mini repo as a git repository with an initialised secrets store for env 'base'."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "minirepo", root)
    assert zixly("secrets", "init", "base", root=root).code == 0
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm",
                    "fixture"], check=True)
    return root
