"""The health-gated converge with an upgrade's hooks (a recording guard on the fake host of
tests/deploy/test_core_data.py): the hooks run around the upgraded project only, the data is put
back BEFORE the previous images start, and a project whose data could not be put back is not
started on it (the rollback then reports failure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.deploy.test_core_data import FakeHost, ShellRunner, _change
from zixly_stack.deploy.converge import converge
from zixly_stack.plan.model import ProjectChange
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.runner import connect

DB = {"project": "zixly-t-db", "directory": "db", "stage": 0, "waited": ["server"], "jobs": [],
      "previous_waited": ["server"]}
APP = {"project": "zixly-t-app", "directory": "app", "stage": 3, "waited": ["web"], "jobs": [],
       "previous_waited": ["web"]}


@dataclass
class Recording:
    """A guard for ``zixly-t-app`` that records its calls into the host's call list."""

    host: FakeHost
    refuse_undo: str = ""
    whys: list[str] = field(default_factory=list)

    def _mine(self, p: ProjectChange) -> bool:
        return p.project == "zixly-t-app"

    def before_up(self, p: ProjectChange) -> str:
        if self._mine(p):
            self.host.calls.append("guard: before up (hop starts)")
        return ""

    def after_up(self, p: ProjectChange) -> str:
        if self._mine(p):
            self.host.calls.append("guard: after up (command migrations)")
        return ""

    def before_undo(self, p: ProjectChange, why: str) -> str:
        if not self._mine(p):
            return ""
        self.whys.append(why)
        self.host.calls.append("guard: stop + restore from checkpoint")
        return self.refuse_undo

    def after_undo(self, p: ProjectChange, ok: bool) -> str:
        if self._mine(p):
            self.host.calls.append(f"guard: after undo (healthy: {ok})")
        return ""


def _run(host: FakeHost, guard: Recording, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(connect, "runner_for", lambda h, name="": ShellRunner(h))
    return converge(host, EnvPaths("/srv/zx", "t"), [_change(DB), _change(APP)], previous_release="r1",
                    switched=True, redact=lambda s: s, say=lambda s: None, guard=guard)


def test_the_hooks_wrap_only_the_upgraded_project(monkeypatch: pytest.MonkeyPatch) -> None:
    host = FakeHost([], {})
    out = _run(host, Recording(host), monkeypatch)
    assert host.calls == ["up db", "guard: before up (hop starts)", "up app", "guard: after up (command migrations)"]
    assert out.ok  # type: ignore[attr-defined]


def test_a_failed_gate_restores_the_data_before_the_previous_images_start(monkeypatch: pytest.MonkeyPatch) -> None:
    host = FakeHost(["up app#1"], {"zixly-t-app": ["unhealthy-with-log"]})
    guard = Recording(host)
    out = _run(host, guard, monkeypatch)
    assert host.calls == [
        "up db", "guard: before up (hop starts)", "up app", "inspect zixly-t-app", "logs i23rec-unhealthy",
        "switch r1", "up db", "guard: stop + restore from checkpoint", "up app", "guard: after undo (healthy: True)",
    ]
    assert (out.ok, out.rolled_back, out.rollback_ok) == (False, True, True)  # type: ignore[attr-defined]
    assert guard.whys == ["i23rec-unhealthy: unhealthy"]  # what failed reaches the guard (the exit message)


def test_an_unproven_restore_keeps_the_previous_images_from_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    host = FakeHost(["up app#1"], {"zixly-t-app": ["unhealthy-with-log"]})
    out = _run(host, Recording(host, refuse_undo="restore failed: dump incomplete"), monkeypatch)
    assert host.calls[-2:] == ["up db", "guard: stop + restore from checkpoint"], host.calls  # no "up app" after it
    assert host.calls.count("up app") == 1
    assert (out.rolled_back, out.rollback_ok) == (True, False)  # type: ignore[attr-defined]
    assert "dump incomplete" in out.rollback[-1].output  # type: ignore[attr-defined]
