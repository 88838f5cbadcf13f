"""Bad input: exact GCC-like messages, exit code 2, and nothing written anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import zixly, zixly_proc

from .bad_inputs import CASES
from .conftest import assert_refused, edit


def test_there_are_at_least_25_cases() -> None:
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)


def test_valid_fixture_renders(repo: Path, tmp_path: Path) -> None:
    result = zixly("render", "base", "--out", str(tmp_path / "out"), root=repo)
    assert result.code == 0, result.stderr
    assert (tmp_path / "out" / "vps1" / "crm" / "compose.yaml").is_file()


@pytest.mark.parametrize(("case_id", "file", "old", "new", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    repo: Path, tmp_path: Path, case_id: str, file: str, old: str | None, new: str | None, expected: list[str]
) -> None:
    edit(repo, file, old, new)
    assert_refused(repo, tmp_path / "out", expected)


def test_bad_input_as_a_real_process_has_no_traceback(repo: Path, tmp_path: Path) -> None:
    edit(repo, "inventories/base/environment.yaml", "domain: example.com", "domian: example.com")
    result = zixly_proc("render", "base", "--out", str(tmp_path / "out"), root=repo)
    assert result.code == 2
    assert "did you mean 'domain'?" in result.stderr
    assert "Traceback" not in result.stderr
    debug = zixly_proc("--debug", "render", "base", "--out", str(tmp_path / "out"), root=repo)
    assert debug.code != 0 and "Traceback" in debug.stderr


def test_unknown_environment(repo: Path) -> None:
    result = zixly("validate", "bsae", root=repo)
    assert result.code == 2
    assert "unknown environment 'bsae' (did you mean 'base'?)" in result.stderr


def test_validate_json(repo: Path) -> None:
    edit(repo, "inventories/base/environment.yaml", "stores: shared", "stores: both")
    import json

    result = zixly("validate", "base", "--json", root=repo)
    assert result.code == 2
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    assert doc["problems"][0]["path"] == "stores" and doc["problems"][0]["line"] == 4
