"""Container state from the Docker engine, through the ``docker`` CLI's JSON output.

Two engine calls per host: ``docker ps -a -q --filter label=org.zixly.env=ENV`` and one
``docker inspect --format TEMPLATE`` over those ids. The template selects only state, labels
and image fields, so nothing secret (container env) leaves the host. Parsing and judging are
pure (:func:`parse_inspect`, :func:`evaluate`) and tested on recorded real output.

Judgement per expected container (``org.zixly.service`` + ``org.zixly.container`` labels):
missing, not running or unhealthy -> critical; health ``starting`` -> warning; more restarts
than allowed or an OOM kill -> warning. Image drift (running ``Config.Image`` differs from
the rendered reference) -> warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from ...commands import docker as dk
from ..checks import EngineCheck, ExpectedContainer
from ..model import Result, Status
from .hostcmd import HostRunner, HostUnreachable

INSPECT_TEMPLATE = (
    '{"name":{{json .Name}},"labels":{{json .Config.Labels}},"image":{{json .Config.Image}},'
    '"image_id":{{json .Image}},"status":{{json .State.Status}},"running":{{json .State.Running}},'
    '"oom_killed":{{json .State.OOMKilled}},"exit_code":{{json .State.ExitCode}},'
    '"health":{{if .State.Health}}{{json .State.Health.Status}}{{else}}null{{end}},'
    '"restarts":{{json .RestartCount}}}'
)


class EngineError(Exception):
    """The engine could not be asked (unreachable, or the CLI failed)."""


@dataclass(frozen=True)
class ContainerState:
    """What the engine says about one container."""

    name: str
    service: str
    container: str
    status: str
    running: bool
    health: str | None
    restarts: int
    oom_killed: bool
    exit_code: int
    image: str
    standin: bool


class Engine(Protocol):
    """Lists an environment's containers on one host."""

    async def containers(self, env: str) -> list[ContainerState]:
        """Every container labelled ``org.zixly.env=env``; raise EngineError if the engine cannot be asked."""
        ...


_GONE = "No such object"  # docker inspect's line for an id that no longer exists (exit 1, the others printed)


def parse_inspect(text: str) -> list[ContainerState]:
    """Parse ``docker inspect --format INSPECT_TEMPLATE`` output (one JSON object per line)."""
    out: list[ContainerState] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        labels = d.get("labels") or {}
        out.append(
            ContainerState(
                name=str(d["name"]).lstrip("/"),
                service=labels.get("org.zixly.service", ""),
                container=labels.get("org.zixly.container", ""),
                status=str(d["status"]),
                running=bool(d["running"]),
                health=d.get("health"),
                restarts=int(d.get("restarts") or 0),
                oom_killed=bool(d.get("oom_killed")),
                exit_code=int(d.get("exit_code") or 0),
                image=str(d.get("image") or ""),
                standin="org.zixly.standin" in labels,
            )
        )
    return out


@dataclass(frozen=True)
class DockerCli:
    """The ``docker`` CLI on a host, run through a :class:`HostRunner`."""

    runner: HostRunner
    docker: tuple[str, ...] = (dk.DOCKER,)

    async def containers(self, env: str) -> list[ContainerState]:
        """See :class:`Engine`."""
        try:
            code, out, err = await self.runner.run([*self.docker, *dk.container_ids(env)[1:]])
        except HostUnreachable as exc:
            raise EngineError(str(exc)) from None
        if code != 0:
            raise EngineError(err.strip() or f"docker ps exited {code}")
        return await self.inspect(out.split())

    async def inspect(self, ids: list[str]) -> list[ContainerState]:
        """The state of containers *ids*; one removed since it was listed (a one-off job, a container a
        deploy replaced) is left out, not an error -- the engine answered."""
        if not ids:
            return []
        try:
            code, out, err = await self.runner.run([*self.docker, *dk.inspect_format(INSPECT_TEMPLATE, *ids)[1:]])
        except HostUnreachable as exc:
            raise EngineError(str(exc)) from None
        problems = [line for line in err.splitlines() if line.strip()]
        if code != 0 and (not problems or not all(_GONE in line for line in problems)):
            raise EngineError(err.strip() or f"docker inspect exited {code}")
        return parse_inspect(out)


def _judge(exp: ExpectedContainer, c: ContainerState, max_restarts: int) -> tuple[Status, str]:
    if not c.running:
        extra = " (OOM-killed)" if c.oom_killed else ""
        return Status.CRITICAL, f"{c.name} is {c.status}, exit code {c.exit_code}{extra}"
    if c.health == "unhealthy":
        return Status.CRITICAL, f"{c.name} is running but unhealthy"
    if c.health == "starting":
        return Status.WARNING, f"{c.name} is still starting"
    if c.oom_killed:
        return Status.WARNING, f"{c.name} was OOM-killed"
    if c.restarts > max_restarts:
        return Status.WARNING, f"{c.name} restarted {c.restarts} times (more than {max_restarts})"
    health = f", {c.health}" if c.health else ""
    return Status.OK, f"{c.name} running{health}"


def evaluate(check: EngineCheck, states: list[ContainerState]) -> list[Result]:
    """Results for every expected container (pure)."""
    results: list[Result] = []
    for exp in check.expected:
        cid = f"container:{exp.app}:{exp.container}"
        target = f"{check.host}/{exp.app}/{exp.container}"
        mine = sorted(
            (s for s in states if s.service == exp.app and s.container == exp.container), key=lambda s: s.name
        )
        if not mine:
            results.append(Result(cid, exp.app, "container", target, Status.CRITICAL, "no such container"))
            continue
        verdicts = [_judge(exp, c, check.max_restarts) for c in mine]
        status = max((v[0] for v in verdicts), key=lambda s: s.rank)
        summary = "; ".join(v[1] for v in verdicts if v[0] is status)
        running = sum(1 for c in mine if c.running)
        if running < exp.replicas and status.rank < Status.CRITICAL.rank:
            status, summary = Status.CRITICAL, f"{running} of {exp.replicas} replicas running"
        details = {
            "containers": [
                {"name": c.name, "status": c.status, "health": c.health, "restarts": c.restarts,
                 "oom_killed": c.oom_killed, "standin": c.standin}
                for c in mine
            ]
        }
        results.append(Result(cid, exp.app, "container", target, status, summary, None, details))
        if check.check_images:
            images = sorted({c.image for c in mine})
            drift = [i for i in images if i != exp.image]
            if drift:
                results.append(Result(f"image:{exp.app}:{exp.container}", exp.app, "image", target, Status.WARNING,
                                      f"runs {', '.join(drift)}, rendered {exp.image}", None,
                                      {"running": images, "expected": exp.image}))
            else:
                results.append(Result(f"image:{exp.app}:{exp.container}", exp.app, "image", target, Status.OK,
                                      f"runs {exp.image}", None, {"running": images, "expected": exp.image}))
    return results


async def probe_engine(engine: Engine, check: EngineCheck) -> list[Result]:
    """Ask the engine once and judge every expected container; engine failure -> unknown for each."""
    try:
        states = await engine.containers(check.env)
    except EngineError as exc:
        return [
            Result(f"container:{e.app}:{e.container}", e.app, "container", f"{check.host}/{e.app}/{e.container}",
                   Status.UNKNOWN, f"engine on {check.host} not reachable: {exc}")
            for e in check.expected
        ]
    return evaluate(check, states)
