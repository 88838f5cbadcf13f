"""The swarm executor's own decisions (``zixly_stack/deploy/swarm.py``) and the swarm CLI's plan
text (``zixly_stack/cli/swarm_cmd.py``), without a swarm: replica counts as ``docker service ls``
prints them, when a service counts as converged, what ``wait_converged`` does with a manager
whose shell answers like a swarm mid-update (faked at the shell -- ``sh -c LINE`` through the host's
runner -- as in test_core_data.py), the
release archive. The real two-node swarm is in test_swarm_e2e.py.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from zixly_stack.cli.swarm_cmd import plan_lines
from zixly_stack.deploy import swarm as sw
from zixly_stack.plan.swarm import ServiceChange, SetupStep
from zixly_stack.render.tree import RenderedFile
from zixly_stack.runner import connect
from zixly_stack.runner.base import Result, RunnerBase, Sink, Source


@pytest.mark.parametrize(("text", "parsed"), [("2/3", (2, 3, None)), ("0/1 (1/1 completed)", (0, 1, 1)),
                                              ("3/3", (3, 3, None)), ("", (0, 0, None)), ("0/0", (0, 0, None))])
def test_replicas_as_docker_prints_them(text: str, parsed: tuple[int, int, int | None]) -> None:
    assert sw.parse_replicas(text) == parsed


@pytest.mark.parametrize(("state", "done", "ok"), [
    (None, ("", "completed"), False),
    ({"update_state": "updating", "running": 2, "desired": 2, "completed": None}, ("", "completed"), False),
    ({"update_state": "completed", "running": 1, "desired": 2, "completed": None}, ("", "completed"), False),
    ({"update_state": "", "running": 2, "desired": 2, "completed": None}, ("", "completed"), True),
    ({"update_state": "", "running": 0, "desired": 1, "completed": 1}, ("", "completed"), True),
    ({"update_state": "rollback_completed", "running": 2, "desired": 2, "completed": None}, ("", "completed"), False),
    ({"update_state": "rollback_completed", "running": 2, "desired": 2, "completed": None},
     ("", "completed", "rollback_completed"), True),
])
def test_converged(state: dict[str, Any] | None, done: tuple[str, ...], ok: bool) -> None:
    assert sw.converged(state, done) is ok


@dataclass
class Manager:
    """A manager's shell answering ``service ls`` + ``service inspect`` from a script of rounds."""

    rounds: list[dict[str, tuple[str, str]]]  # per poll: name -> (Replicas, UpdateStatus.State)
    data: dict[str, Any] = field(default_factory=dict)
    polls: int = 0

    def run_shell_command(self, command: Any, **_: Any) -> tuple[bool, Any]:
        text = str(command)
        assert text.startswith("docker service ls --filter label=org.zixly.env=sw --format") and "@@inspect" in text
        state = self.rounds[min(self.polls, len(self.rounds) - 1)]
        self.polls += 1
        ls = "".join(json.dumps({"ID": "x", "Mode": "replicated", "Name": n, "Replicas": r}) + "\n"
                     for n, (r, _) in state.items())
        inspect = "".join(f"{n}\t{u}\n" for n, (_, u) in state.items())
        return True, type("Out", (), {"stdout": ls + "@@inspect\n" + inspect, "stderr": ""})()


class ShellRunner(RunnerBase):
    """The runner of a :class:`Manager`: ``sh -c LINE`` is answered by its shell."""

    name = "m1"

    def __init__(self, host: Manager) -> None:
        self.fake = host

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:
        assert list(argv[:2]) == ["sh", "-c"], f"not a shell line: {argv}"
        ok, out = self.fake.run_shell_command(argv[2])
        if sink is not None and out.stdout:
            sink(out.stdout.encode())
        return Result(tuple(argv), 0 if ok else 1, b"", out.stderr.encode())


@pytest.fixture(autouse=True)
def _shell_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connect, "runner_for", lambda h, name="": ShellRunner(h))


def test_wait_converged_polls_until_every_replica_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sw, "POLL_S", 0)
    said: list[str] = []
    host = Manager([{"a": ("1/2", "updating"), "b": ("0/1 (0/1 completed)", "")},
                    {"a": ("2/2", "updating"), "b": ("0/1 (1/1 completed)", "")},
                    {"a": ("2/2", "completed"), "b": ("0/1 (1/1 completed)", "")}])
    ok, last = sw.wait_converged(host, "sw", ["a", "b"], 30, lambda who, line: said.append(line), "m1")
    assert ok and host.polls == 3 and last["a"]["running"] == 2
    assert said == ["waiting: a 1/2, b 0/1", "waiting: a 2/2"], "each new waiting line once"


def test_wait_converged_stops_at_a_failed_update_and_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sw, "POLL_S", 0)
    failing = Manager([{"a": ("1/2", "updating")}, {"a": ("1/2", "rollback_started")}, {"a": ("2/2", "completed")}])
    ok, last = sw.wait_converged(failing, "sw", ["a"], 30, lambda *_: None, "m1")
    assert not ok and last["a"]["update_state"] == "rollback_started" and failing.polls == 2
    undo = Manager([{"a": ("2/2", "rollback_completed")}])
    assert sw.wait_converged(undo, "sw", ["a"], 30, lambda *_: None, "m1", rollback=True)[0]
    stuck = Manager([{"a": ("1/2", "updating")}])
    ok, _ = sw.wait_converged(stuck, "sw", ["a", "gone"], 0, lambda *_: None, "m1")
    assert not ok and stuck.polls == 1


def test_release_archive_holds_only_the_managers_files_secrets_0600() -> None:
    files = (RenderedFile("m1/hello/stack.yaml", "services: {}\n"),
             RenderedFile("m1/hello/secrets/key", "s3cret", 0o444, True),
             RenderedFile("m1/backup/backup.sh", "#!/bin/bash\n", 0o755),
             RenderedFile("w1/other/stack.yaml", "x"))
    with tarfile.open(fileobj=io.BytesIO(sw.release_tar(files, "m1")), mode="r:gz") as tar:
        members = {m.name: (m.mode, m.mtime, m.uname) for m in tar.getmembers()}
    assert members == {"backup/backup.sh": (0o755, 0, ""), "hello/secrets/key": (0o600, 0, ""),
                       "hello/stack.yaml": (0o644, 0, "")}
    assert sw.release_tar(files, "m1") == sw.release_tar(files, "m1"), "byte-identical for the same files"
    assert (sw._client_major("28.0.4"), sw._client_major("dev")) == (28, 0)


def _plan(**kw: Any) -> sw.SwarmPlan:
    return sw.SwarmPlan(env="sw", manager="m1", **kw)


def test_plan_text_and_json() -> None:
    plan = _plan(setup=[SetupStep("w1", "join", "join the swarm as a worker")],
                 networks=[("zixly-sw-proxy", False), ("zixly-sw-redis", True)],
                 changes=[ServiceChange("zixly-sw-hello", "hello", "update", "replicas 2 -> 3"),
                          ServiceChange("zixly-sw-redis", "server", "unchanged"),
                          ServiceChange("zixly-sw-old", "web", "remove")], current="r1")
    assert plan.changed and plan.to_json()["services"][0] == {"stack": "zixly-sw-hello", "service": "hello",
                                                              "action": "update", "detail": "replicas 2 -> 3"}
    assert plan_lines(plan) == [
        "swarm sw (stacks deployed from m1; current release: r1)",
        "  setup w1: join the swarm as a worker",
        "  + network zixly-sw-proxy (overlay)",
        "  + network zixly-sw-redis (overlay, internal)",
        "  ~ service zixly-sw-hello_hello: update (replicas 2 -> 3)",
        "  - service zixly-sw-old_web: remove",
        "  0 to create, 1 to update, 1 to remove, 1 unchanged",
    ]
    quiet = _plan(changes=[ServiceChange("zixly-sw-redis", "server", "unchanged")])
    assert not quiet.changed and plan_lines(quiet)[-1].endswith("1 unchanged — nothing to do")
    assert plan_lines(quiet)[0].endswith("current release: none)")
    run = sw.SwarmRun("sw", status="rolled back", plan=quiet)
    assert not run.ok and run.to_json()["plan"]["changed"] is False and sw.SwarmRun("sw").ok
