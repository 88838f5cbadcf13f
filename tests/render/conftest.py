"""Fixtures rendering the real catalog with deterministic (fake) secrets."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest

from tests.helpers import FIXTURES, REPO, fake_secrets, tree_snapshot, zixly
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


def edit(repo: Path, file: str, old: str | None, new: str | None) -> None:
    """Replace ``old`` by ``new`` once in ``repo/file`` (``old=None``: the file's text becomes
    ``new``, created if absent; ``new=None``: the file is deleted)."""
    path = repo / file
    if new is None:
        path.unlink()
    elif old is None:
        path.write_text(new)
    else:
        text = path.read_text()
        assert old in text, f"fixture drifted: {old!r} not in {file}"
        path.write_text(text.replace(old, new, 1))


@pytest.fixture
def repo(tmp_path: Path, age_key: Path) -> Path:
    """The mini repo with an initialised secrets store for env 'base'."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "minirepo", root)
    assert zixly("secrets", "init", "base", root=root).code == 0
    return root


def assert_refused(repo: Path, out: Path, expected: list[str]) -> None:
    """``render`` and ``validate`` of env 'base' both exit 2 with exactly ``expected`` (then the
    count line), no traceback, nothing written to ``out``, the repository byte-identical."""
    before = tree_snapshot(repo)
    result = zixly("render", "base", "--out", str(out), root=repo)
    assert result.code == 2, result.stderr
    lines = result.stderr.rstrip("\n").split("\n")
    assert lines[:-1] == expected
    n = len(expected)
    assert lines[-1] == f"{n} error{'s' if n != 1 else ''} in configuration; nothing was written"
    assert "Traceback" not in result.stderr
    assert not out.exists(), "render wrote output despite bad input"
    assert tree_snapshot(repo) == before, "bad input changed files in the repo (secrets store?)"
    checked = zixly("validate", "base", root=repo)  # renders in memory and runs the same rules
    assert checked.code == 2
    assert checked.stderr.rstrip("\n").split("\n")[:-1] == expected
    assert tree_snapshot(repo) == before


@pytest.fixture(scope="session")
def _seeded_minirepo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The mini repo once per session with a complete secrets store (rendered once), and its key."""
    home = tmp_path_factory.mktemp("seeded")
    key = home / "age.key"
    key.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    key.chmod(0o600)
    root = home / "repo"
    shutil.copytree(FIXTURES / "minirepo", root)
    env = {"HOME": str(home), "ZIXLY_AGE_KEY_FILE": str(key), "ZIXLY_AGE_KEY": None}
    assert zixly("secrets", "init", "base", root=root, env=env).code == 0
    assert zixly("render", "base", "--out", str(home / "out"), root=root, env=env).code == 0
    return root, key


@pytest.fixture
def seeded_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _seeded_minirepo: tuple[Path, Path]) -> Iterator[Path]:
    """A copy of the mini repo whose secrets store already holds every secret: renders generate
    nothing (the rule tests then skip the 2 s bcrypt of the edge password per case)."""
    source, key = _seeded_minirepo
    monkeypatch.setenv("HOME", str(key.parent))
    monkeypatch.delenv("ZIXLY_AGE_KEY", raising=False)
    monkeypatch.setenv("ZIXLY_AGE_KEY_FILE", str(key))
    root = tmp_path / "repo"
    shutil.copytree(source, root)
    yield root


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
