"""An unexpected exception (a bug) is one clear block with exit 1; the traceback only with --debug."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import copy_repo, zixly


def _boom(*_args: object, **_kwargs: object) -> None:
    raise UnicodeDecodeError("utf-8", b"\xb5", 0, 1, "invalid start byte")


def test_a_bug_is_reported_without_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_repo(tmp_path)
    monkeypatch.setattr("zixly_stack.project.load", _boom)
    res = zixly("validate", "local", root=root)
    assert res.code == 1
    assert "Traceback" not in res.stderr
    assert "internal error: UnicodeDecodeError" in res.stderr and "--debug" in res.stderr
    assert "test_cli_internal_errors" not in res.stderr  # only our own frames are named


def test_debug_lets_the_traceback_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_repo(tmp_path)
    monkeypatch.setattr("zixly_stack.project.load", _boom)
    with pytest.raises(UnicodeDecodeError):
        zixly("--debug", "validate", "local", root=root)
