"""The golden-file helper itself (:mod:`tests.goldens`): it can fail, it records modes, and
``--update-golden`` rewrites then fails, and is refused under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.goldens import MODES_FILE, check_golden, read_golden, refuse_update_under_ci, write_golden

REPO = Path(__file__).resolve().parents[1]
TREE = {"h/app/compose.yaml": ("services: {}\n", 0o644), "h/app/env/web.env": ("KEY=********\n", 0o600)}


def test_an_identical_tree_passes_and_modes_are_recorded(tmp_path: Path) -> None:
    write_golden(tmp_path / "g", TREE)
    assert (tmp_path / "g" / MODES_FILE).read_text() == "0644 h/app/compose.yaml\n0600 h/app/env/web.env\n"
    check_golden(tmp_path / "g", TREE, update=False)


@pytest.mark.parametrize(
    ("changed", "says"),
    [
        ({**TREE, "h/app/env/web.env": ("KEY=********\n", 0o644)}, "_modes.txt differs"),
        ({**TREE, "h/app/compose.yaml": ("services: {x: {}}\n", 0o644)}, "compose.yaml differs"),
        ({**TREE, "h/app/new.txt": ("x\n", 0o644)}, "missing ['h/app/new.txt']"),
        ({"h/app/compose.yaml": TREE["h/app/compose.yaml"]}, "extra ['h/app/env/web.env']"),
    ],
    ids=["mode", "text", "added", "removed"],
)
def test_any_difference_fails(tmp_path: Path, changed: dict[str, tuple[str, int]], says: str) -> None:
    write_golden(tmp_path / "g", TREE)
    with pytest.raises(AssertionError, match=says.replace("[", r"\[").replace("]", r"\]")):
        check_golden(tmp_path / "g", changed, update=False)


def test_update_rewrites_then_fails_naming_what_changed(tmp_path: Path) -> None:
    write_golden(tmp_path / "g", TREE)
    changed = {**TREE, "h/app/env/web.env": ("KEY=********\n", 0o400)}
    with pytest.raises(pytest.fail.Exception, match=r"1 file\(s\) changed: _modes.txt"):
        check_golden(tmp_path / "g", changed, update=True)
    assert "0400 h/app/env/web.env" in read_golden(tmp_path / "g")[MODES_FILE]
    check_golden(tmp_path / "g", changed, update=False)  # the rewritten tree is what the next run compares
    with pytest.raises(pytest.fail.Exception, match=r"0 file\(s\) changed: none"):
        check_golden(tmp_path / "g", changed, update=True)  # even an unchanged rewrite never passes


def test_update_is_refused_under_ci_only() -> None:
    with pytest.raises(pytest.UsageError, match="refused under CI"):
        refuse_update_under_ci(update=True, ci=True)
    refuse_update_under_ci(update=True, ci=False)
    refuse_update_under_ci(update=False, ci=True)


def test_the_real_command_line_refuses_update_under_ci() -> None:
    """``CI=true pytest --update-golden`` stops with a usage error (exit 4) before any test runs."""
    env = {**os.environ, "CI": "true"}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--update-golden",
                          "tests/render/test_render_outputs.py::test_golden_tree"],
                         capture_output=True, text=True, cwd=REPO, env=env, check=False, timeout=300)
    assert res.returncode == pytest.ExitCode.USAGE_ERROR, res.stdout + res.stderr
    assert "--update-golden is refused under CI" in res.stderr
