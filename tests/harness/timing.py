"""Where a test run's time went: ``pytest --timings=FILE`` writes one JSON line per test.

Contract
--------
With ``--timings=FILE`` the process that reports results (the xdist controller, or the
only process) appends to *FILE*, as soon as each test's teardown is reported, one line::

    {"nodeid": ..., "module": "tests/x/test_y.py", "group": "stack" | null,
     "worker": "gw0" | "main", "outcome": "passed" | "failed" | "skipped",
     "start": <epoch s>, "stop": <epoch s>, "setup": s, "call": s, "teardown": s,
     "fixtures": [[name, scope, seconds], ...], "error": "<phase>: <end of the report>",
     "figures": {"name": value, ...}}

``fixtures`` lists the module- and session-scoped fixtures whose setup ran inside this
test's setup (their time is part of ``setup``), so a report can show the shared stack's
bring-up apart from the module that happened to need it first. Lines are flushed one by
one, so a run that is killed still leaves the tests it finished. ``error`` (failed tests only)
is the end of the first failure's report: readable while the run goes on (xdist prints
failures only at the end). ``figures`` (only when a test gave some) are the measurements a test
recorded with :func:`figure` -- e.g. the disaster-recovery test's RTO and RPO -- so a CI run's
report shows them although pytest captures the test's output. Without the option nothing is
recorded. ``.ci/report.py`` turns the file into the CI timing table.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.schedule import group_of

FIXTURE_KEY = "zixly_fixture_setup"
FIGURE_PREFIX = "figure:"
WORKER_KEY = "zixly_worker"
GROUP_KEY = "zixly_group"
_setups: dict[str, list[list[Any]]] = {}  # nodeid -> fixtures set up during its setup (worker side)


def figure(request: pytest.FixtureRequest, name: str, value: float | str) -> None:
    """Record a measurement of the running test under *name* (kept in ``--timings``'s line as
    ``figures``, printed by ``.ci/report.py``)."""
    request.node.user_properties.append((FIGURE_PREFIX + name, value))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--timings", metavar="FILE", default=None,
                     help="Append one JSON line per finished test (phase durations, worker, group) to FILE.")


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Generator[None]:
    start = time.monotonic()
    yield
    if fixturedef.scope in ("module", "package", "session"):
        item = getattr(request, "_pyfuncitem", None)
        if item is not None:
            _setups.setdefault(item.nodeid, []).append(
                [fixturedef.argname, fixturedef.scope, round(time.monotonic() - start, 3)])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if call.when == "setup":
        report.user_properties.append((WORKER_KEY, os.environ.get("PYTEST_XDIST_WORKER", "main")))
        report.user_properties.append((GROUP_KEY, group_of(getattr(item, "fixturenames", ()))))
        report.user_properties.append((FIXTURE_KEY, _setups.pop(item.nodeid, [])))


def _base_nodeid(nodeid: str) -> str:
    """The node id without xdist's ``@group`` suffix."""
    head, sep, tail = nodeid.rpartition("@")
    return head if sep and "]" not in tail and "::" in head else nodeid


class TimingRecorder:
    """Appends one JSON line per finished test to *path* (on the reporting process only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: dict[str, dict[str, Any]] = {}  # nodeid -> record being filled

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = _base_nodeid(report.nodeid)
        rec = self.pending.setdefault(nodeid, {
            "nodeid": nodeid, "module": nodeid.split("::", 1)[0], "group": None, "worker": "main",
            "outcome": "passed", "start": report.start, "stop": report.stop,
            "setup": 0.0, "call": 0.0, "teardown": 0.0, "fixtures": []})
        props = dict(report.user_properties)
        rec["worker"] = props.get(WORKER_KEY, rec["worker"])
        rec["group"] = props.get(GROUP_KEY, rec["group"])
        rec["fixtures"] = props.get(FIXTURE_KEY, rec["fixtures"])
        figures = {k[len(FIGURE_PREFIX):]: v for k, v in props.items()
                   if isinstance(k, str) and k.startswith(FIGURE_PREFIX)}
        if figures:
            rec.setdefault("figures", {}).update(figures)
        rec[report.when] = round(report.duration, 3)
        rec["stop"] = report.stop
        if report.failed:
            rec["outcome"] = "failed"
            rec.setdefault("error", f"{report.when}: {error_text(report.longreprtext)}")
        elif report.skipped and rec["outcome"] == "passed":
            rec["outcome"] = "skipped"
        if report.when == "teardown":
            with self.path.open("a") as fh:
                fh.write(json.dumps(self.pending.pop(nodeid)) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    target = config.getoption("--timings", None)
    if target and not hasattr(config, "workerinput"):  # xdist workers report to the controller
        path = Path(target).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        config.pluginmanager.register(TimingRecorder(path), "zixly-timings")


def error_text(longrepr: str, limit: int = 6000) -> str:
    """What a failure says, short enough for the CI report: pytest's ``E`` lines (every sub-exception
    of a group has its own), then the end of the report."""
    marked = "\n".join(line for line in longrepr.splitlines() if line.lstrip("| ").startswith("E "))
    tail = longrepr[-2500:]
    return (marked[: limit - len(tail)] + "\n[...]\n" + tail) if marked else longrepr[-limit:]
