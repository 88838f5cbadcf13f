"""The projects of one stage are brought up at the same time also on THIS machine (``zixly up``).

This machine's runner waits on plain (blocking) subprocesses: in gevent's greenlets, without the
monkey-patch SSH hosts bring, the stage's projects took turns -- one ``compose up --wait`` after
the other, although the contract says they run concurrently. Here the host is this machine's
runner class with each command a blocking 0.6 s wait (what a ``compose up --wait`` is to the
process); the commands the deploy runs and their order per project are the real ones.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from zixly_stack.deploy.converge import converge
from zixly_stack.plan.model import ComposeShape, ProjectChange
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.runner import LocalRunner, connect
from zixly_stack.runner.base import Result, Sink, Source

WAIT_S = 0.6


@dataclass
class BlockingHere(LocalRunner):
    """This machine's runner; every ``compose up`` blocks the calling thread for :data:`WAIT_S`."""

    fail: tuple[str, ...] = ()
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:
        line = argv[-1]
        m = re.search(r"/current/([^/]+)/compose\.yaml up --detach --wait", line)
        if m is None:  # the marker of what a project was brought up from, the failed project's inspect
            return Result(tuple(argv), 0, b"", b"")
        start = time.monotonic()
        time.sleep(WAIT_S)  # blocking, as subprocess.Popen.wait is without gevent's patch
        with self.lock:
            self.windows[m.group(1)] = (start, time.monotonic())
        return Result(tuple(argv), 1 if m.group(1) in self.fail else 0, b"", b"")


@dataclass
class Here:
    name: str = "local"


def _up(name: str, stage: int) -> ProjectChange:
    return ProjectChange(project=f"zixly-t-{name}", directory=name, action="up", stage=stage, wait_timeout=60,
                         shape=ComposeShape((name,), ()), previous_shape=None, digest="d")


def _converge(monkeypatch: pytest.MonkeyPatch, runner: BlockingHere, projects: list[ProjectChange]) -> Any:
    monkeypatch.setattr(connect, "runner_for", lambda h, name="": runner)
    return converge(Here(), EnvPaths("/srv/zx", "t"), projects, previous_release=None, switched=False,
                    redact=lambda s: s, say=lambda s: None)


def test_one_stage_s_projects_overlap_and_the_next_stage_waits_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = BlockingHere()
    apps = ["chatwoot", "metabase", "n8n", "plane"]
    started = time.monotonic()
    out = _converge(monkeypatch, runner, [_up("postgres", 0), _up("redis", 0), *[_up(a, 3) for a in apps]])
    took = time.monotonic() - started
    assert out.ok and [p.project for p in out.projects] == [f"zixly-t-{n}" for n in ("postgres", "redis", *apps)]
    w = runner.windows
    assert max(w[a][0] for a in apps) < min(w[a][1] for a in apps), f"the apps did not run at the same time: {w}"
    assert min(w[a][0] for a in apps) >= max(w["postgres"][1], w["redis"][1]), "an app started before the stores"
    assert took < 4 * WAIT_S, f"{took:.1f}s: one project after the other"


def test_a_failed_project_lets_its_stage_finish_and_stops_the_later_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = BlockingHere(fail=("mariadb",))
    out = _converge(monkeypatch, runner, [_up("mariadb", 0), _up("postgres", 0), _up("n8n", 3)])
    assert not out.ok and [p.project for p in out.failed] == ["zixly-t-mariadb"]
    assert set(runner.windows) == {"mariadb", "postgres"}, "a later stage started after a failure"
    assert out.note == "nothing to roll back to (first release)"
