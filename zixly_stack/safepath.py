"""Every path we write stays under its root: one small check used by every writer.

``inside(root, rel)`` joins a relative path to a root and refuses what could land elsewhere: an
absolute path, a ``..`` or empty component, a control character, and, on disk, a symlink on the
way that points out of the root. ``posix_inside`` is the same rule for paths on hosts (strings,
nothing resolved). A refusal is a :class:`PathEscapeError` (exit 2): it means an input got past
validation, and nothing is written.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from .errors import ZixlyError
from .models.types import CONTROL


class PathEscapeError(ZixlyError):
    """A path we were about to write is not under its root."""

    exit_code = 2


def relative_problem(rel: str) -> str | None:
    """Why ``rel`` is not a plain relative path (``a/b/c``), or ``None``."""
    if not rel:
        return "empty path"
    if rel.startswith("/"):
        return "absolute path"
    if CONTROL.search(rel) or "\\" in rel:
        return "control character or backslash"
    for part in rel.split("/"):
        if part in ("", ".", ".."):
            return f"component {part!r}"
    return None


def _refuse(root: str, rel: str, why: str) -> PathEscapeError:
    return PathEscapeError(f"refused to write {rel!r} under {root}: {why}; it would not stay under {root}. "
                           "Nothing was written.")


def inside(root: Path, rel: str) -> Path:
    """``root / rel`` when it stays under ``root`` (symlinks of existing parts resolved); else raise."""
    why = relative_problem(rel)
    if why:
        raise _refuse(str(root), rel, why)
    base = root.resolve()
    target = base.joinpath(*rel.split("/"))
    probe = target
    while not probe.exists() and not probe.is_symlink() and probe != base:
        probe = probe.parent
    if not probe.resolve().is_relative_to(base):
        raise _refuse(str(root), rel, f"{probe} leads to {probe.resolve()}")
    return target


def posix_inside(root: str, rel: str) -> str:
    """``root/rel`` for a path on a host (no resolution there: the text itself must be plain)."""
    why = relative_problem(rel)
    if why or not root.startswith("/"):
        raise _refuse(root, rel, why or "the root is not absolute")
    return posixpath.join(root, rel)
