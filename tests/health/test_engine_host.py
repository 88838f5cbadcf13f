"""Container, image-drift and host-resource checks.

The engine parser is tested on output recorded from a real engine (``data/docker-inspect-mini.jsonl``:
``docker inspect --format INSPECT_TEMPLATE`` over a stack deployed by ``zixly`` on this machine,
2026-11-26); judging is pure. The live tests ask this machine's real engine (``engine``
fixture: fails under CI, skips elsewhere) and read this machine's real ``df``/``/proc/meminfo``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.harness.leaks import label_args
from tests.harness.local_engine import LocalEngine
from zixly_stack.health.checks import EngineCheck, ExpectedContainer, HostCheck
from zixly_stack.health.model import Status
from zixly_stack.health.probes.engine import DockerCli, EngineError, evaluate, parse_inspect, probe_engine
from zixly_stack.health.probes.hostcmd import LocalRunner
from zixly_stack.health.probes.hoststats import judge, parse_df, parse_meminfo, probe_host
from zixly_stack.models.environment import Host

RECORDED = (Path(__file__).with_name("data") / "docker-inspect-mini.jsonl").read_text()
LOCAL = Host(address="@local")
EXPECTED = (
    ExpectedContainer("traefik", "traefik", "zixly-offline/traefik:3.7.15"),
    ExpectedContainer("postgres", "server", "zixly-offline/postgres:15"),
    ExpectedContainer("metabase", "metabase", "zixly-offline/standin:1.0"),
    ExpectedContainer("warehouse", "db", "zixly-offline/postgres:15"),
)


def check(*expected: ExpectedContainer, max_restarts: int = 3) -> EngineCheck:
    return EngineCheck("local", LOCAL, "mini", expected or EXPECTED, max_restarts, True)


def by_id(results: list) -> dict[str, tuple[Status, str]]:  # type: ignore[type-arg]
    return {r.check_id: (r.status, r.summary) for r in results}


def test_recorded_engine_output_parses() -> None:
    states = parse_inspect(RECORDED)
    names = {s.name: s for s in states}
    assert len(states) == 7
    assert names["zixly-mini-postgres-provision-1"].status == "exited"
    assert names["zixly-mini-postgres-provision-1"].health is None
    assert names["zixly-mini-metabase-metabase-1"].standin
    assert (names["zixly-mini-traefik-traefik-1"].service, names["zixly-mini-traefik-traefik-1"].container) == (
        "traefik", "traefik")


def test_running_healthy_containers_are_ok_and_images_match() -> None:
    results = evaluate(check(), parse_inspect(RECORDED))
    assert {r.status for r in results} == {Status.OK}
    assert {r.kind for r in results} == {"container", "image"}
    assert len(results) == 2 * len(EXPECTED)


def test_stopped_unhealthy_missing_restarting_oom() -> None:
    states = parse_inspect(RECORDED)
    pg = next(s for s in states if s.container == "server")
    mb = next(s for s in states if s.service == "metabase")
    tr = next(s for s in states if s.service == "traefik")
    wh = next(s for s in states if s.service == "warehouse")
    changed = [
        dataclasses.replace(pg, running=False, status="exited", exit_code=137, oom_killed=True),
        dataclasses.replace(mb, health="unhealthy"),
        dataclasses.replace(tr, restarts=9),
        dataclasses.replace(wh, health="starting"),
    ]
    extra = ExpectedContainer("n8n", "n8n", "zixly-offline/n8n:2.41.1")
    got = by_id(evaluate(check(*EXPECTED, extra), changed))
    assert got["container:postgres:server"][0] is Status.CRITICAL
    assert "OOM-killed" in got["container:postgres:server"][1]
    assert got["container:metabase:metabase"][0] is Status.CRITICAL
    assert got["container:traefik:traefik"] == (Status.WARNING, "zixly-mini-traefik-traefik-1 restarted 9 times "
                                                "(more than 3)")
    assert got["container:warehouse:db"][0] is Status.WARNING
    assert got["container:n8n:n8n"] == (Status.CRITICAL, "no such container")


def test_image_drift_warns() -> None:
    drifted = (ExpectedContainer("traefik", "traefik", "zixly-offline/traefik:3.7.16"),)
    got = by_id(evaluate(check(*drifted), parse_inspect(RECORDED)))
    assert got["container:traefik:traefik"][0] is Status.OK
    assert got["image:traefik:traefik"] == (Status.WARNING, "runs zixly-offline/traefik:3.7.15, rendered "
                                            "zixly-offline/traefik:3.7.16")


def test_unreachable_engine_is_unknown_not_ok() -> None:
    cli = DockerCli(LocalRunner(), ("/nonexistent/docker",))
    results = asyncio.run(probe_engine(cli, check()))
    assert {r.status for r in results} == {Status.UNKNOWN}
    with pytest.raises(EngineError):
        asyncio.run(cli.containers("mini"))


def test_real_engine_answers_the_inspect_template(engine: LocalEngine, test_prefix: str) -> None:
    """Against this machine's engine: an unused env label lists nothing; a container of ours parses, and
    one removed between the listing and the inspect (other tests' containers come and go) is left out,
    not an engine error."""
    argv = tuple(engine.argv)
    env = dict(engine.env)
    cli = DockerCli(_EnvRunner(env), argv)
    assert asyncio.run(cli.containers("health-test-no-such-env")) == []
    name, image = f"{test_prefix}-inspect", f"{test_prefix}-empty:1"
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()  # an image with no files: created, never started
    subprocess.run([*engine.argv, "import", "-", image], input=empty.getvalue(), env=dict(engine.env),
                   capture_output=True, check=True, timeout=120)
    made = ""
    try:
        made = engine.docker("create", "--name", name, *label_args(), "--label", "org.zixly.service=probe",
                             image, "true", check=True).stdout.strip()
        gone = "0" * 64
        states = asyncio.run(cli.inspect([made, gone]))
        assert [(s.name, s.service, s.status, s.running) for s in states] == [(name, "probe", "created", False)]
    finally:
        if made:
            engine.docker("rm", "-f", made)
        engine.docker("image", "rm", image)


def test_an_engine_error_other_than_a_removed_container_is_still_an_error() -> None:
    cli = DockerCli(_FixedRunner(1, "", "Error response from daemon: permission denied\nError: No such object: x"))
    with pytest.raises(EngineError, match="permission denied"):
        asyncio.run(cli.inspect(["x", "y"]))


@dataclasses.dataclass(frozen=True)
class _FixedRunner:
    code: int
    out: str
    err: str

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        return self.code, self.out, self.err


@dataclasses.dataclass(frozen=True)
class _EnvRunner:
    """LocalRunner with the engine's client environment (DOCKER_HOST)."""

    env: dict[str, str]

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(*argv, env=self.env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        return proc.returncode or 0, out.decode(), err.decode()


HOST_CHECK = HostCheck("host:local", "local", LOCAL, ("/",), 85, 95, 90, 98)


def test_host_stats_from_this_machine() -> None:
    result = asyncio.run(probe_host(LocalRunner(), HOST_CHECK))
    assert result.status is not Status.UNKNOWN, result.summary
    assert 0 < result.details["disk_used_pct"]["/"] <= 100
    assert 0 < result.details["memory_used_pct"] <= 100


def test_host_thresholds() -> None:
    df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 100 90 10 90% /\n"
    mem = "MemTotal:       1000 kB\nMemFree:         10 kB\nMemAvailable:    50 kB\n"
    assert parse_df(df) == {"/": 90.0}
    assert parse_meminfo(mem) == 95.0
    assert judge(HOST_CHECK, parse_df(df), 50.0).status is Status.WARNING
    assert judge(HOST_CHECK, {"/": 96.0}, 50.0).status is Status.CRITICAL
    assert judge(HOST_CHECK, {"/": 10.0}, 99.0).status is Status.CRITICAL
    assert judge(HOST_CHECK, {"/": 10.0}, 20.0).status is Status.OK
