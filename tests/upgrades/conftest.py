"""Fixtures for the upgrade rules: a copy of the real catalog and environments to edit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_repo


@pytest.fixture
def catalog_repo(tmp_path: Path) -> Path:
    """The real ``services/`` and ``inventories/`` copied into a temporary repo."""
    return copy_repo(tmp_path / "repo", envs=("production", "local"))


def edit(repo: Path, file: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` once in ``repo/file`` (the fixture must still hold ``old``)."""
    path = repo / file
    text = path.read_text()
    assert old in text, f"fixture drifted: {old!r} not in {file}"
    path.write_text(text.replace(old, new, 1))


def line_of(repo: Path, file: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for i, line in enumerate((repo / file).read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {file}")
