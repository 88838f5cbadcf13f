"""The deploy core's decisions from recorded facts, one case a data file (pyinfra's style).

``tests/deploy/data/<kind>/<case>.json`` holds a case's inputs and what must come out; adding
a case is adding a file. The kinds:

* ``gate``: a container as the engine reports it (``docker inspect`` in the deploy's own
  format, recorded from real containers on this machine's engine) -> healthy for the gate or
  not, and the problem the deploy names;
* ``converge``: the projects of a deploy, which host commands fail, the containers the
  engine reports for a failing project (``gate`` cases) -> the commands the health gate runs,
  in order (stages, the attached one-shot jobs, the switch back, the rollback's own converge),
  and its outcome. The host is faked at the process boundary only: its shell answers each
  command (``zixly_stack.runner.connect.run``, through the host's runner: ``sh -c LINE``) as the
  case says;
* ``rollback``: ``choice-*`` -- the release log (one recorded from the end-to-end stack) and the
  release directories -> the release ``zixly rollback`` returns to; ``projects-*`` -- file hashes
  of current and target release, the target's compose files, the containers -> what is
  converged;
* ``images``: how a host gets its images (offline kit load, registry pull, local build) from
  the host's and this machine's image ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from zixly_stack.deploy.converge import converge
from zixly_stack.plan.compute import ProjectSpec, Target, _image_changes
from zixly_stack.plan.facts import ContainerFact, HostFacts, container_from_json
from zixly_stack.plan.model import ComposeShape, ProjectChange
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.plan.rollback import previous_release, rollback_projects
from zixly_stack.runner import connect
from zixly_stack.runner.base import Result, RunnerBase, Sink, Source

DATA = Path(__file__).parent / "data"


def cases(kind: str, prefix: str = "") -> list[Any]:
    files = sorted((DATA / kind).glob(f"{prefix}*.json"))
    assert files, f"no {kind} cases"
    return [pytest.param(json.loads(f.read_text()), id=f.stem) for f in files]


def gate_doc(case: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / "gate" / f"{case}.json").read_text())["inspect"]
    return doc


# -- gate ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", cases("gate"))
def test_gate_decision(case: dict[str, Any]) -> None:
    fact = container_from_json(case["inspect"])
    want = case["expected"]
    assert (fact.ok, fact.problem(), fact.is_job) == (want["ok"], want["problem"], want["is_job"])
    assert fact.name == case["inspect"]["name"].lstrip("/") and fact.status == case["inspect"]["state"]["Status"]
    if "health_log_last" in want:
        assert fact.health_log[-1] == want["health_log_last"]


# -- converge -----------------------------------------------------------------------------------
@dataclass
class _Output:
    stdout: str
    stderr: str


@dataclass
class FakeHost:
    """A host whose shell answers the deploy's commands as a case says, recording what ran."""

    fail: list[str]
    containers: dict[str, list[str]]
    calls: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    name: str = "vps1"  # pyinfra's Host has a name; progress lines use it

    def event(self, command: str) -> str | None:
        if m := re.search(r" -f \S+/current/([^/]+)/compose\.yaml up --no-deps .* --exit-code-from (\S+)", command):
            return f"job {m.group(1)} {m.group(2)}"
        if m := re.search(r" -f \S+/current/([^/]+)/compose\.yaml up --detach --wait", command):
            return f"up {m.group(1)}"
        if m := re.search(r" -p (\S+) down", command):
            return f"down {m.group(1)}"
        if m := re.match(r"ln -sfn releases/(\S+) ", command):
            return f"switch {m.group(1)}"
        if m := re.search(r"label=com\.docker\.compose\.project=(\S+) \| xargs -r docker inspect", command):
            return f"inspect {m.group(1)}"
        if m := re.match(r"docker logs --tail \d+ (\S+)", command):
            return f"logs {m.group(1)}"
        assert "/.applied" in command or "applied" in command, f"unexpected host command: {command}"
        return None  # the marker of what a project was brought up from

    def run_shell_command(self, command: Any, **_: Any) -> tuple[bool, _Output]:
        text = str(command)
        event = self.event(text)
        if event is None:
            return True, _Output("", "")
        self.calls.append(event)
        self.seen[event] = self.seen.get(event, 0) + 1
        if event in self.fail or f"{event}#{self.seen[event]}" in self.fail:
            err = "mv: cannot move: No space left on device" if event.startswith("switch") else "dependency failed"
            return False, _Output("", err)
        if event.startswith("inspect "):
            docs = [gate_doc(c) for c in self.containers.get(event.split()[1], [])]
            return True, _Output("".join(json.dumps(d) + "\n" for d in docs), "")
        if event.startswith("logs "):
            return True, _Output("last lines of " + event.split()[1] + "\n", "")
        return True, _Output("", "")


class ShellRunner(RunnerBase):
    """The runner of a :class:`FakeHost`: ``sh -c LINE`` is answered by the host's shell."""

    def __init__(self, host: FakeHost) -> None:
        self.name, self.fake = host.name, host

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:
        assert list(argv[:2]) == ["sh", "-c"], f"not a shell line: {argv}"
        ok, out = self.fake.run_shell_command(argv[2])
        if sink is not None and out.stdout:
            sink(out.stdout.encode())
        return Result(tuple(argv), 0 if ok else 1, b"", out.stderr.encode())


def _change(p: dict[str, Any]) -> ProjectChange:
    previous = p.get("previous_waited")
    return ProjectChange(
        project=p["project"], directory=p["directory"], action=p.get("action", "up"), stage=p["stage"],
        wait_timeout=60, shape=ComposeShape(tuple(p["waited"]), tuple(p["jobs"])),
        previous_shape=None if previous is None else ComposeShape(tuple(previous), tuple(p.get("previous_jobs", []))),
        digest="d", previous_digest="pd")


@pytest.mark.parametrize("case", cases("converge"))
def test_health_gate(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    host = FakeHost(case["fail"], case.get("containers", {}))
    monkeypatch.setattr(connect, "runner_for", lambda h, name="": ShellRunner(h))
    out = converge(host, EnvPaths("/srv/zx", "t"), [_change(p) for p in case["projects"]],
                   previous_release=case["previous_release"], switched=case["switched"],
                   redact=lambda s: s, say=lambda s: None)
    want = case["expected"]
    assert host.calls == want["calls"]
    assert (out.ok, out.rolled_back, out.rollback_ok, out.note) == (want["ok"], want["rolled_back"],
                                                                    want["rollback_ok"], want["note"])
    failed = [[p.project, f.name, f.problem, f.health] for p in out.failed for f in p.failed]
    assert failed == want["failed"]
    assert all(f.logs == f"last lines of {f.name}\n" for p in out.failed for f in p.failed)


# -- rollback -----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", cases("rollback", "choice-"))
def test_rollback_choice(case: dict[str, Any]) -> None:
    assert previous_release(case["current"], case["releases"], case["log"]) == case["expected"]


def _fact(project: str, service: str, gate_case: str) -> ContainerFact:
    doc = gate_doc(gate_case)
    doc = {**doc, "name": f"/{project}-{service}-1",
           "labels": {**doc["labels"], "com.docker.compose.project": project, "com.docker.compose.service": service}}
    return container_from_json(doc)


@pytest.mark.parametrize("case", cases("rollback", "projects-"))
def test_rollback_projects(case: dict[str, Any]) -> None:
    facts = HostFacts(containers=tuple(_fact(*c) for c in case["containers"]))
    specs = {"db": ProjectSpec("db", stage=0), "app": ProjectSpec("app", stage=3)}
    got = rollback_projects(case["current_hashes"], case["target_hashes"], case["target_texts"], facts, specs, "t")
    assert [{"project": p.project, "action": p.action, "reasons": list(p.reasons),
             "services": [s.service for s in p.services]} for p in got] == case["expected"]
    for p in got:
        if p.action == "up":
            assert p.stage == specs[p.directory].stage and p.digest, "brought up in its stage, recorded by digest"


# -- images -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", cases("images"))
def test_image_delivery(case: dict[str, Any]) -> None:
    target = Target("h1", "t", "/srv/zx", case["target"]["image_source"], local=case["target"]["local"])
    got = _image_changes(target, case["refs"], HostFacts(images=case["host_images"]), case["local_images"])
    assert [[c.ref, c.action, c.reason] for c in got] == case["expected"]
