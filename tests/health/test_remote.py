"""Host-side probes over real SSH, against a VPS-like test host (own sshd and dockerd).

Uses the shared ``vps_hosts`` fixture (fails under CI, skips elsewhere when test hosts
cannot be made). The probes run through the deploy's SSH connection (pyinfra's paramiko
transport, no gevent patching in the asyncio report) and the one runner. Nothing is deployed
there: the engine probe must list no containers for an unknown environment, and disk/memory
must be read from the host through SSH.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.harness.vps import VpsHost
from zixly_stack.health.checks import EngineCheck, ExpectedContainer, HostCheck
from zixly_stack.health.model import Status
from zixly_stack.health.probes.engine import DockerCli, probe_engine
from zixly_stack.health.probes.hostcmd import RunnerHost, Unconnected
from zixly_stack.health.probes.hoststats import probe_host
from zixly_stack.models.environment import Host
from zixly_stack.runner.connect import open_session, runner_for


def test_host_stats_and_engine_over_ssh(vps_hosts: Callable[[int], list[VpsHost]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (vps,) = vps_hosts(1)
    monkeypatch.setenv("ZIXLY_SSH_KNOWN_HOSTS", str(vps.known_hosts_path))
    target = Host(address=vps.address, user=vps.ssh_user, port=vps.ssh_port, ssh_key=str(vps.key_path))
    session = open_session({"vps": target}, patch=False)
    assert not session.errors, session.errors
    try:
        _probe(RunnerHost(runner_for(session.hosts["vps"], "vps")), target)
    finally:
        session.close()


def _probe(ssh: RunnerHost, target: Host) -> None:
    stats = asyncio.run(probe_host(ssh, HostCheck("host:vps", "vps", target, ("/",), 85, 95, 90, 98)))
    assert stats.status is not Status.UNKNOWN, stats.summary
    assert 0 <= stats.details["memory_used_pct"] <= 100

    check = EngineCheck("vps", target, "health-none", (ExpectedContainer("n8n", "n8n", "x:1"),), 3, True)
    results = asyncio.run(probe_engine(DockerCli(ssh), check))
    assert [(r.check_id, r.status, r.summary) for r in results] == [
        ("container:n8n:n8n", Status.CRITICAL, "no such container")
    ]


def test_unreachable_host_is_unknown() -> None:
    host = Host(address="127.0.0.1", port=1)
    session = open_session({"x": host}, patch=False)
    assert "x" in session.errors and not session.hosts
    dead = Unconnected(host, session.errors["x"])
    stats = asyncio.run(probe_host(dead, HostCheck("host:x", "x", host, ("/",), 85, 95, 90, 98)))
    assert stats.status is Status.UNKNOWN and "127.0.0.1" in stats.summary
