"""The CI machinery: tests join a worker group by the fixture they use, the scheduler hands the
groups out first, ``--timings`` records where the time went and ``.ci/report.py`` prints it.

The end-to-end cases run a small pytest project in a subprocess with real pytest-xdist
workers, with fake ``local_stack`` / ``vps_pool`` fixtures that record their process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.harness.schedule import GROUPS, group_of, scope_of, work_order
from tests.helpers import REPO

CONFTEST = '''
import os, pytest
pytest_plugins = ["tests.harness.schedule", "tests.harness.timing"]

def _record(name):
    with open(os.environ["SETUPS"], "a") as fh:
        fh.write(f"{name} {os.environ.get('PYTEST_XDIST_WORKER', 'main')}\\n")

@pytest.fixture(scope="session")
def local_stack():
    _record("local_stack")

@pytest.fixture(scope="session")
def vps_pool():
    _record("vps_pool")

@pytest.fixture(scope="session")
def duo(vps_pool):  # built on the hosts, like tests/deploy/conftest.py's
    pass

@pytest.fixture(scope="module")
def module_thing():
    _record("module_thing")
'''

SHARED = {  # four modules: without the groups, four workers would take one each
    "test_backup_like.py": "def test_b1(local_stack): pass\ndef test_b2(local_stack): pass\n",
    "test_browser_like.py": "import pytest\n@pytest.mark.parametrize('p', ['a@b', 'c'])\n"
                            "def test_page(local_stack, p): pass\n",
    "test_remote_like.py": "def test_r1(duo): pass\ndef test_r2(duo): pass\n",
    "test_vps_like.py": "def test_v1(vps_pool): pass\ndef test_v2(vps_pool): pass\n",
}
FREE = {"test_unit_like.py": "".join(f"def test_u{i}(module_thing): pass\n" for i in range(6))}


def test_a_test_joins_the_group_of_the_shared_fixture_it_uses() -> None:
    assert group_of(("request", "local_stack", "tmp_path")) == "stack"
    assert group_of(("duo", "vps", "vps_hosts", "vps_pool")) == "hosts"
    assert group_of(("vps_hosts", "vps_pool")) == "vps", "test hosts without duo: the other host worker"
    assert group_of(("local_stack", "vps_pool")) == "stack", "the first group that matches wins"
    assert group_of(("tmp_path", "engine", "kit_images")) is None
    assert [g for g, _ in GROUPS][:3] == ["stack", "hosts", "vps"]


def test_scopes_are_groups_or_modules_and_groups_go_first() -> None:
    assert scope_of("tests/a.py::test_x@stack") == "stack"
    assert scope_of("tests/a.py::T::test_x@hosts") == "hosts"
    assert scope_of("tests/a.py::test_x[a@b]") == "tests/a.py", "an @ inside parameters is no group"
    assert scope_of("tests/a.py::test_x[a@b]@stack") == "stack"
    scopes: dict[str, dict[str, bool]] = {
        "tests/small.py": {"1": False},
        "hosts": {"1": False},
        "tests/big.py": {"1": False, "2": False, "3": False},
        "custom": {"1": False},
        "stack": {"1": False, "2": False},
    }
    assert work_order(scopes) == ["stack", "hosts", "custom", "tests/big.py", "tests/small.py"]


def _project(tmp_path: Path, modules: dict[str, str]) -> Path:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for name, text in modules.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def _pytest(project: Path, *args: str) -> list[dict[str, Any]]:
    """Run pytest in *project* with ``--timings``; its records (the run must pass)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SETUPS": str(project / "setups.txt")}
    env.pop("COVERAGE_PROCESS_CONFIG", None)
    for name in [n for n in env if n.startswith("PYTEST_XDIST_")]:  # this run's own worker identity
        env.pop(name)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"--timings={project / 't.jsonl'}", *args], cwd=project,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return [json.loads(line) for line in (project / "t.jsonl").read_text().splitlines()]


def _workers(records: list[dict[str, Any]], key: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in records:
        out.setdefault(r[key] or r["module"], set()).add(r["worker"])
    return out


def test_xdist_runs_each_shared_group_on_one_worker_with_one_setup(tmp_path: Path) -> None:
    project = _project(tmp_path, SHARED)
    records = _pytest(project, "-n", "4", "--dist", "loadgroup")
    assert len(records) == 8 and all(r["outcome"] == "passed" for r in records)
    assert all("@" not in r["nodeid"].split("[")[0] for r in records), "recorded without xdist's group suffix"
    workers = _workers(records, "group")
    assert {g: len(w) for g, w in workers.items()} == {"stack": 1, "hosts": 1, "vps": 1}
    assert len(set().union(*workers.values())) == 3, "the three groups run side by side"
    setups = (project / "setups.txt").read_text().split("\n")
    assert [s.split()[0] for s in setups if s].count("local_stack") == 1, setups
    assert [s.split()[0] for s in setups if s].count("vps_pool") == 2, "one pool per host group's worker"
    stack_setup = [f for r in records for f in r["fixtures"] if f[0] == "local_stack"]
    assert len(stack_setup) == 1 and stack_setup[0][1] == "session"


def test_xdist_keeps_an_ungrouped_module_on_one_worker(tmp_path: Path) -> None:
    project = _project(tmp_path, FREE)
    records = _pytest(project, "-n", "2", "--dist", "loadgroup")
    assert len(records) == 6 and {r["group"] for r in records} == {None}
    assert len(_workers(records, "module")["test_unit_like.py"]) == 1
    assert (project / "setups.txt").read_text().split().count("module_thing") == 1


def test_without_xdist_everything_runs_in_one_process_in_order(tmp_path: Path) -> None:
    project = _project(tmp_path, {**SHARED, **FREE})
    records = _pytest(project, "-p", "no:xdist")
    assert {r["worker"] for r in records} == {"main"} and len(records) == 14
    assert [r["module"] for r in records] == sorted(r["module"] for r in records), "collection order is kept"


def _report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_report", REPO / ".ci" / "report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_run(out: Path, took: float, failed: bool = False) -> None:
    start = time.time() - took
    (out / "phases.tsv").write_text(
        f"pip install (make install)\t{start}\t{start + 30}\t0\tfg\n"
        f"kit images (kit.log)\t{start + 31}\t{start + 40}\t0\tbg\n"
        f"tests (make test)\t{start + 31}\t\t\tfg\n")
    tests = [
        {"nodeid": "tests/backup/test_backup_e2e.py::test_a", "module": "tests/backup/test_backup_e2e.py",
         "group": "stack", "worker": "gw0", "outcome": "failed" if failed else "passed", "start": start + 40,
         "stop": start + 600, "setup": 500.0, "call": 60.0, "teardown": 0.0,
         "fixtures": [["local_stack", "session", 225.0], ["first", "module", 200.0]],
         **({"error": "teardown: E   AssertionError: zixly down left {'volumes': ['v1']}\n[...]\ntail"}
            if failed else {})},
        {"nodeid": "tests/render/test_x.py::test_b", "module": "tests/render/test_x.py", "group": None,
         "worker": "gw1", "outcome": "passed", "start": start + 40, "stop": start + 50, "setup": 0.0,
         "call": 10.0, "teardown": 0.0, "fixtures": [], "figures": {"rto_s": 321, "rpo": "4m05s"}},
    ]
    (out / "tests.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tests) + '{"cut short')
    (out / "coverage.json").write_text(json.dumps({
        "files": {"zixly_stack/render/compose.py": {"summary": {"num_statements": 100, "missing_lines": 10}},
                  "zixly_stack/render/units.py": {"summary": {"num_statements": 100, "missing_lines": 30}},
                  "zixly_stack/errors.py": {"summary": {"num_statements": 50, "missing_lines": 0}}},
        "totals": {"num_statements": 250, "missing_lines": 40, "percent_covered": 84.0}}))
    (out / "pytest.log").write_text("....F\n= 1 failed, 1 passed in 600.00s (0:10:00) =\n")


def test_report_shows_phases_groups_modules_coverage_and_ends_with_the_summary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_run(tmp_path, took=700, failed=True)
    assert _report().main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(ln.startswith("kit images (kit.log)") and "in the background" in ln for ln in lines), out
    assert any(ln.startswith("tests (make test)") and "unfinished" in ln for ln in lines), out
    shared = next(ln for ln in lines if "setup of local_stack" in ln)
    assert shared.split()[0] == "225", shared
    module = next(ln for ln in lines if ln.endswith("tests/backup/test_backup_e2e.py  (1 failed)"))
    assert module.split()[0] == "335", "the session fixture's setup is shown apart from the module"
    assert any(ln.split()[:4] == ["zixly_stack/render", "200", "40", "80%"] for ln in lines), out
    assert "tests/render/test_x.py::test_b: rto_s 321, rpo 4m05s" in lines, "a test's figures are shown"
    assert "within the budget" in out
    assert lines[-1] == "= 1 failed, 1 passed in 600.00s (0:10:00) =", "the runner's summary closes the output"
    why = lines.index("tests/backup/test_backup_e2e.py::test_a:")
    assert lines[why + 1] == "    teardown: E   AssertionError: zixly down left {'volumes': ['v1']}", lines[why:]
    assert why > lines.index(next(ln for ln in lines if "within the budget" in ln)), "why it failed is near the end"


def test_report_warns_loudly_past_the_budget_and_names_the_slowest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_run(tmp_path, took=2500)
    assert _report().main([str(tmp_path), "--budget", "2400"]) == 0
    captured = capsys.readouterr()
    assert "WARNING: CI took" in captured.out and "over its budget of 2400 s" in captured.out
    assert "tests/backup/test_backup_e2e.py 335s" in captured.err
    assert "setup of local_stack" in captured.err


def test_a_recorded_error_keeps_every_sub_exceptions_message_of_a_long_report() -> None:
    from tests.harness.timing import error_text

    noise = "\n".join(f"    frame line {i}" for i in range(2000))
    longrepr = (f"  | ExceptionGroup: errors while tearing down (2 sub-exceptions)\n{noise}\n"
                "    | E   AssertionError: zixly down --volumes left {'networks': ['n1']}\n"
                f"{noise}\n    | E   Failed: test resources left behind by run zx1\n{noise}\nthe very end")
    text = error_text(longrepr)
    assert len(text) <= 6000
    assert "left {'networks': ['n1']}" in text and "Failed: test resources left behind" in text, text[:500]
    assert text.endswith("the very end")
