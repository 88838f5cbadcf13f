"""Golden files: compare a rendered tree (text AND mode of every file) with its reviewed copy.

``pytest --update-golden`` rewrites a golden tree from the current render and then FAILS the
test, so a run with the flag can never pass: the rewrite is reviewed (``git diff tests/``)
and committed, and a second run without the flag proves it. Under CI (``CI=true``) the flag
is refused before any test runs (:func:`refuse_update_under_ci`), since CI must compare, never
rewrite.

A golden tree holds the files as text and one more file, :data:`MODES_FILE`, listing each
file's mode (``0600 vps1/n8n/env/runner.env``): git keeps only 644/755, so 0600 env files and
0444 secret files could otherwise lose their mode unnoticed.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

MODES_FILE = "_modes.txt"
Tree = Mapping[str, tuple[str, int]]  # relative path -> (text, mode)


def modes_text(tree: Tree) -> str:
    """The :data:`MODES_FILE` text of *tree*: ``0644 path`` per file, sorted by path."""
    return "".join(f"{mode:04o} {path}\n" for path, (_, mode) in sorted(tree.items()))


def read_golden(base: Path) -> dict[str, str]:
    """Every file of the golden tree *base* (the modes file included) by relative path."""
    return {str(p.relative_to(base)): p.read_text() for p in sorted(base.rglob("*")) if p.is_file()}


def expected_files(tree: Tree) -> dict[str, str]:
    """What the golden tree of *tree* holds: the texts and the modes file."""
    return {**{path: text for path, (text, _) in tree.items()}, MODES_FILE: modes_text(tree)}


def write_golden(base: Path, tree: Tree) -> list[str]:
    """Replace the golden tree *base* by *tree*; return the paths that changed (added, removed, edited)."""
    before = read_golden(base) if base.exists() else {}
    after = expected_files(tree)
    if base.exists():
        shutil.rmtree(base)
    for path, text in after.items():
        target = base / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def check_golden(base: Path, tree: Tree, update: bool) -> None:
    """Fail unless *tree* equals the golden tree *base*, texts and modes.

    With *update*: rewrite *base* from *tree*, then fail naming what changed (see module doc).
    """
    if update:
        changed = write_golden(base, tree)
        pytest.fail(
            f"golden {base} rewritten ({len(changed)} file(s) changed: {', '.join(changed[:20]) or 'none'}); "
            "review `git diff tests/`, commit it, then run again without --update-golden",
            pytrace=False,
        )
    have = read_golden(base) if base.exists() else {}
    want = expected_files(tree)
    assert sorted(want) == sorted(have), (
        f"rendered file set differs from {base}: missing {sorted(set(want) - set(have))}, "
        f"extra {sorted(set(have) - set(want))} (review, then pytest --update-golden)"
    )
    for path, text in want.items():
        assert text == have[path], f"{base / path} differs from the render (review, then pytest --update-golden)"


def refuse_update_under_ci(update: bool, ci: bool) -> None:
    """Raise :class:`pytest.UsageError` when ``--update-golden`` is asked for under CI."""
    if update and ci:
        raise pytest.UsageError("--update-golden is refused under CI (CI=true): goldens are rewritten by a "
                                "developer, reviewed in the diff and committed; CI only compares")
