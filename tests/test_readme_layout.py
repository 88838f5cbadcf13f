"""The README's repository-layout table names the packages that exist, and only those.

The ``zixly_stack/`` row lists the layers (packages and the top-level modules that are a layer of
their own, such as ``project``); a package added without a word there, or a name left there after
its package went away, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "zixly_stack"


def layout_row(readme: str) -> str:
    """The ``zixly_stack/`` row of the README's layout table."""
    rows = [line for line in readme.splitlines() if line.startswith("| `zixly_stack/` |")]
    assert len(rows) == 1, "the README's layout table has one zixly_stack/ row"
    return rows[0]


def named(row: str) -> set[str]:
    """Layer names in backticks (``models``, not paths such as ``catalog/rules.py``)."""
    return {w for w in re.findall(r"`([a-z_]+)`", row)}


def packages(root: Path) -> set[str]:
    """Directories holding Python files (``deploy`` is a namespace package: no ``__init__.py``)."""
    return {p.parent.name for p in root.glob("*/*.py")}


def modules(root: Path) -> set[str]:
    return {p.stem for p in root.glob("*.py")}


def test_every_package_is_in_the_layout_table() -> None:
    row = named(layout_row((ROOT / "README.md").read_text()))
    assert packages(PACKAGE) - row == set(), "packages missing from README.md's zixly_stack/ row"
    assert row - packages(PACKAGE) - modules(PACKAGE) == set(), "README.md names layers that do not exist"


def test_a_missing_or_stale_package_is_found(tmp_path: Path) -> None:
    (tmp_path / "shiny").mkdir()
    (tmp_path / "shiny" / "__init__.py").write_text("")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "base.py").write_text("")
    row = named("| `zixly_stack/` | the tool: `models`, `gone` (see `docs/x.md`) |")
    assert packages(tmp_path) - row == {"shiny"}
    assert row - packages(tmp_path) - modules(tmp_path) == {"gone"}
