"""Bad input: exact GCC-like messages, exit code 2, and nothing written anywhere."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, tree_snapshot, zixly, zixly_proc

from .bad_inputs import CASES


def _mutate(repo: Path, file: str, old: str | None, new: str | None) -> None:
    path = repo / file
    if new is None:
        path.unlink()
    elif old is None:
        path.write_text(new)
    else:
        text = path.read_text()
        assert old in text, f"fixture drifted: {old!r} not in {file}"
        path.write_text(text.replace(old, new, 1))


@pytest.fixture
def repo(tmp_path: Path, age_key: Path) -> Path:
    """The mini repo with an initialised secrets store for env 'base'."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "minirepo", root)
    assert zixly("secrets", "init", "base", root=root).code == 0
    return root


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
    _mutate(repo, file, old, new)
    before = tree_snapshot(repo)
    out = tmp_path / "out"
    result = zixly("render", "base", "--out", str(out), root=repo)
    assert result.code == 2, result.stderr
    lines = result.stderr.rstrip("\n").split("\n")
    assert lines[:-1] == expected
    n = len(expected)
    assert lines[-1] == f"{n} error{'s' if n != 1 else ''} in configuration; nothing was written"
    assert "Traceback" not in result.stderr
    assert not out.exists(), "render wrote output despite bad input"
    assert tree_snapshot(repo) == before, "bad input changed files in the repo (secrets store?)"
    # validate reports the same problems: it renders in memory, so what it accepts, render renders
    v = zixly("validate", "base", root=repo)
    assert v.code == 2
    assert v.stderr.rstrip("\n").split("\n")[:-1] == expected
    assert tree_snapshot(repo) == before


def test_bad_input_as_a_real_process_has_no_traceback(repo: Path, tmp_path: Path) -> None:
    _mutate(repo, "inventories/base/environment.yaml", "domain: example.com", "domian: example.com")
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
    _mutate(repo, "inventories/base/environment.yaml", "stores: shared", "stores: both")
    import json

    result = zixly("validate", "base", "--json", root=repo)
    assert result.code == 2
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    assert doc["problems"][0]["path"] == "stores" and doc["problems"][0]["line"] == 4
