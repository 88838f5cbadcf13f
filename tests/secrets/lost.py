"""Helpers for the lost-store tests: a repo whose `local` environment has a "deployed" release.

The release is what a deploy leaves in ``<base_dir>/<env>/``: the rendered host tree in
``releases/<id>/`` and the ``current`` symlink. It is made here by rendering and copying
(no engine needed); ``tests/secrets/test_lost_store_e2e.py`` checks the same against a
real stack.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import Run, copy_repo, zixly_proc
from zixly_stack.secrets import agefile, document
from zixly_stack.secrets.document import Entry
from zixly_stack.secrets.identity import load_identity

ENV = "zxlost"  # a name no developer stack uses
RELEASE = "20261201T000000Z-0001"


@dataclass
class Deployed:
    """A repo root with the `local` environment (base_dir in tmp) and its release."""

    root: Path
    base: Path
    env: str = ENV

    @property
    def env_dir(self) -> Path:
        return self.root / "inventories" / self.env

    @property
    def store(self) -> Path:
        return self.env_dir / "secrets.age"

    def run(self, *args: str) -> Run:
        return zixly_proc(*args, root=self.root)

    def entries(self) -> dict[str, Entry]:
        """The store's entries, decrypted with the configured key."""
        identity = load_identity()
        assert identity is not None
        return document.loads(agefile.decrypt(self.store.read_bytes(), identity))


def deployed_local(tmp_path: Path, seed: Callable[[Deployed], None] | None = None) -> Deployed:
    """The repo's `local` environment, renamed :data:`ENV` (its projects never meet a developer's own
    ``zixly up``), its store made (and *seed* applied to it), rendered and "deployed" under tmp_path/opt."""
    root = copy_repo(tmp_path / "repo", envs=("local",))
    (root / "inventories" / "local").rename(root / "inventories" / ENV)
    base = tmp_path / "opt"
    env_file = root / "inventories" / ENV / "environment.yaml"
    text = re.sub(r"(?m)^base_dir: .*$", f"base_dir: {base}", env_file.read_text())
    text = re.sub(r"(?m)^(\s+bind: ).*$", r"\g<1>127.0.0.250", text)
    env_file.write_text(text.replace("/var/backups/zixly/local", str(tmp_path / "backups")))
    d = Deployed(root, base)
    assert d.run("secrets", "init", ENV).code == 0
    if seed is not None:
        seed(d)
    rendered = d.run("render", ENV, "--out", str(tmp_path / "build"))
    assert rendered.code == 0, rendered.stderr
    release = base / ENV / "releases" / RELEASE
    release.parent.mkdir(parents=True)
    shutil.copytree(tmp_path / "build" / "local", release, symlinks=True)
    os.symlink(f"releases/{RELEASE}", base / ENV / "current")
    return d


def clone(template: Deployed, key: Path, tmp_path: Path) -> Deployed:
    """A private copy of *template* (repo, base dir and age key) under *tmp_path*: tests change it freely."""
    root, base = tmp_path / "repo", tmp_path / "opt"
    shutil.copytree(template.root, root, symlinks=True)
    shutil.copytree(template.base, base, symlinks=True)
    env_file = root / "inventories" / ENV / "environment.yaml"
    env_file.write_text(env_file.read_text().replace(str(template.base), str(base))
                        .replace(str(template.base.parent / "backups"), str(tmp_path / "backups")))
    shutil.copy(key, tmp_path / "age.key")
    (tmp_path / "age.key").chmod(0o600)
    return Deployed(root, base)


def checksum(*dirs: Path) -> dict[str, str]:
    """Every entry under *dirs* (files, dirs, symlinks; not followed) with its kind, mode and content hash."""
    out: dict[str, str] = {}
    for top in dirs:
        if not top.exists():
            out[str(top)] = "absent"
            continue
        for parent, subdirs, files in os.walk(top, followlinks=False):
            for name in subdirs + files:
                p = Path(parent) / name
                st = p.lstat()
                if p.is_symlink():
                    out[str(p)] = f"link {os.readlink(p)}"
                elif p.is_dir():
                    out[str(p)] = f"dir {st.st_mode:o}"
                else:
                    out[str(p)] = f"file {st.st_mode:o} {hashlib.sha256(p.read_bytes()).hexdigest()}"
    return out
