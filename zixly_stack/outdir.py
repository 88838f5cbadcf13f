"""The ``--out`` contract: write only where nothing of anyone else's can be lost.

An output directory is written when it is

* absent (created, parents included),
* an empty directory, or
* a tree this tool wrote before: it holds :data:`MARKER` (JSON, ``format`` :data:`FORMAT`, the
  list of files written) and nothing else than those files. A tree rendered before the marker
  existed is recognised by its ``<host>/manifest.json`` files, which list every file of their host.

Anything else is refused (exit 2, nothing deleted, nothing written), and so is a directory that
equals or contains the repository root, lies inside ``inventories/``, ``services/``,
``templates/`` or ``.git/``, is a system directory, or is (or contains) the home directory.
A previously written tree into which someone added files is refused too, listing them: the
new tree replaces the old one wholesale, so they would be lost.

Writing is atomic: the new tree is built beside the old one, then swapped in (one
``renameat2(RENAME_EXCHANGE)`` where the kernel has it, two renames elsewhere); the old tree is
checked once more after the swap (swapped back and refused if foreign files appeared) and then
removed file by file, only the files it listed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import ConfigError, Location, Problem
from .models.types import SYSTEM_DIRS, SYSTEM_TREES, control_problem
from .render.tree import RenderedFile
from .safepath import PathEscapeError, inside, relative_problem

MARKER = ".zixly-render.json"
FORMAT = 1
SOURCE_DIRS = ("inventories", "services", "templates", ".git")
_SHOW = 8
NEW_DIR = "render into a new or empty directory, such as build/ENV, the default"


def _problem(out: Path, message: str, hint: str) -> ConfigError:
    return ConfigError([Problem(Location(str(out)), "--out", message, hint)])


def _listing(paths: list[str]) -> str:
    shown = ", ".join(paths[:_SHOW])
    return shown + (f" and {len(paths) - _SHOW} more" if len(paths) > _SHOW else "")


def _count(paths: list[str]) -> str:
    return f"{len(paths)} entr{'y' if len(paths) == 1 else 'ies'}"


def _entries(tree: Path) -> tuple[set[str], set[str], set[str]]:
    """Relative paths of everything under ``tree``: (regular files, directories, anything else)."""
    files: set[str] = set()
    dirs: set[str] = set()
    other: set[str] = set()  # symlinks, FIFOs...: zixly never writes them
    for dirpath, dirnames, filenames in os.walk(tree):
        base = Path(dirpath).relative_to(tree)
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            kind = other if path.is_symlink() else dirs if path.is_dir() else files if path.is_file() else other
            kind.add(str(base / name))
    return files, dirs, other


def _parents(paths: Iterable[str]) -> set[str]:
    return {str(p) for rel in paths for p in Path(rel).parents if str(p) != "."}


def _marker_files(tree: Path) -> set[str] | None:
    """Files the marker lists, or ``None`` when there is no (valid) marker."""
    path = tree / MARKER
    if not path.is_file() or path.is_symlink():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), list):
        return None
    return {f for f in doc["files"] if isinstance(f, str) and relative_problem(f) is None} | {MARKER}


def _manifest_files(tree: Path, top: set[str]) -> set[str] | None:
    """Files listed by ``<host>/manifest.json`` of a tree rendered before the marker existed."""
    listed: set[str] = set()
    for host in top:
        manifest = tree / host / "manifest.json"
        try:
            doc = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
            return None
        listed.add(f"{host}/manifest.json")
        listed.update(f"{host}/{e['path']}" for e in doc["files"]
                      if isinstance(e, dict) and isinstance(e.get("path"), str) and relative_problem(e["path"]) is None)
    return listed or None


def ours(tree: Path) -> tuple[set[str] | None, list[str]]:
    """(files this tool wrote in ``tree`` or ``None`` if it did not write it, foreign entries)."""
    files, dirs, other = _entries(tree)
    listed = _marker_files(tree)
    if listed is None:
        top = {e for e in files | dirs | other if "/" not in e}
        listed = _manifest_files(tree, top) if top and top <= dirs else None
    if listed is None:
        return None, sorted(files | dirs | other)
    foreign = sorted((files - listed) | (dirs - _parents(listed)) | other)
    return listed, foreign


def check_out_file(out: Path, root: Path | None) -> Path:
    """A file output (``health --out``, ``images save --out``): never in a system directory or among the
    repository's sources, no control characters. Replacing a file the user names is the point."""
    bad = control_problem(str(out))
    if bad:
        raise _problem(Path(repr(str(out))), f"the path {bad}", "a file name has no control characters")
    target = out.expanduser().resolve()
    if root is not None:
        _check_repo(out, target, root.resolve())
    tree = next((t for t in SYSTEM_TREES if target.is_relative_to(t)), None)
    if tree or target.parent == Path("/"):
        where = f"under the system directory {tree}" if tree else "in the root directory"
        raise _problem(out, f"{target} is {where}", "write it into a directory of your own")
    return target


def check_out(out: Path, root: Path | None) -> Path:
    """The resolved output directory when zixly may replace it; else ConfigError (nothing touched).

    ``root`` is the repository (``None``: no repository to protect, e.g. a demo's scratch tree).
    """
    bad = control_problem(str(out))
    if bad:
        raise _problem(Path(repr(str(out))), f"the path {bad}", "a directory name has no control characters")
    target = out.expanduser().resolve()
    home = Path.home().resolve()
    if root is not None:
        _check_repo(out, target, root.resolve())
    tree = next((t for t in SYSTEM_TREES if target.is_relative_to(t)), None)
    if tree or str(target) in SYSTEM_DIRS:
        what = f"under the system directory {tree}" if tree else "a system directory"
        raise _problem(out, f"{target} is {what}", NEW_DIR)
    if home.is_relative_to(target):
        raise _problem(out, f"{target} {'is' if home == target else 'contains'} your home directory", NEW_DIR)
    if target.exists() and not target.is_dir():
        raise _problem(out, f"{target} exists and is not a directory", "choose a directory path")
    if target.is_dir():
        listed, foreign = ours(target)
        if foreign and listed is None:
            raise _problem(out, f"{target} holds {_count(foreign)} zixly did not write: {_listing(foreign)}; "
                                "nothing was deleted",
                           "choose a new or empty directory; zixly replaces only trees it wrote")
        if foreign:
            raise _problem(out, f"{target} was rendered by zixly but now also holds {_count(foreign)} it did not "
                                f"write: {_listing(foreign)}; nothing was deleted",
                           "move them out first: a new render replaces the whole tree")
    return target


def _check_repo(out: Path, target: Path, repo: Path) -> None:
    if repo.is_relative_to(target):
        raise _problem(out, f"{target} {'is' if repo == target else 'contains'} the repository {repo}",
                       NEW_DIR)
    for part in SOURCE_DIRS:
        if target.is_relative_to(repo / part):
            raise _problem(out, f"{target} is inside the repository's {part}/, which holds sources, not output",
                           NEW_DIR)


def write_tree(files: tuple[RenderedFile, ...], out: Path, root: Path | None = None) -> None:
    """Replace ``out`` with exactly ``files`` plus :data:`MARKER`, atomically (module contract).

    ``root`` (the repository) adds the checks of :func:`check_out` against it. Secret files are
    0600 (or their declared mode) in 0700 directories.
    """
    target = check_out(out, root)
    fresh = [d for d in (target.parent, *target.parent.parents) if not d.exists()]  # deepest first
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new.", dir=target.parent))
        _fill(tmp, files)
    except BaseException as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # a fresh directory holding only what we just wrote
        for d in fresh:
            with contextlib.suppress(OSError):
                d.rmdir()
        if isinstance(exc, OSError):
            raise _problem(out, f"cannot write {exc.filename or target}: {exc.strerror or exc}",
                           "choose a directory you can write to, on a disk with room") from None
        raise
    _swap_in(tmp, target, out, root)


def _fill(tmp: Path, files: tuple[RenderedFile, ...]) -> None:
    for f in files:
        path = inside(tmp, f.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, f.mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f.text)
        os.chmod(path, f.mode)
        if f.secret:
            os.chmod(path.parent, 0o700)
    marker = {"format": FORMAT, "written_by": "zixly render", "files": sorted(f.path for f in files)}
    (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def _swap_in(tmp: Path, target: Path, out: Path, root: Path | None) -> None:
    """Put ``tmp`` at ``target``; afterwards ``tmp`` holds the old tree (or nothing)."""
    if not target.exists():
        tmp.rename(target)
        return
    _swap(tmp, target)
    listed, foreign = ours(tmp)
    if foreign:  # appeared between the check and the swap: put the old tree back, drop ours, refuse
        _swap(tmp, target)
        _remove_listed(tmp, _marker_files(tmp) or set())
        check_out(out, root)
    _remove_listed(tmp, listed or set())


def _swap(a: Path, b: Path) -> None:
    """Exchange two directories of one parent: atomically with renameat2, else with three renames."""
    if _exchange(a, b):
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{b.name}.swap.", dir=b.parent))
    aside.rmdir()
    b.rename(aside)
    a.rename(b)
    aside.rename(a)


def _remove_listed(tree: Path, listed: set[str]) -> None:
    """Delete the listed files of ``tree``, then its directories that are left empty (never anything else;
    a listed path that leads out of ``tree``, through ``..`` or a symlink, is left alone)."""
    for rel in sorted(listed):
        try:
            path = inside(tree, rel)
        except PathEscapeError:
            continue
        if path.is_file() or path.is_symlink():
            path.unlink()
    for rel in sorted(_parents(listed), key=lambda p: len(Path(p).parts), reverse=True):
        with contextlib.suppress(OSError):
            (tree / rel).rmdir()
    with contextlib.suppress(OSError):
        tree.rmdir()


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2); ``False`` when the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return int(fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)) == 0
