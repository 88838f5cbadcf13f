"""The deploy tools reach the test hosts: pyinfra (Python API), pytest-testinfra, and images
moved the air-gapped way (``docker save | ssh HOST docker load``)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from tests.harness.local_engine import LocalEngine
from tests.harness.vps import VpsHost, pyinfra_inventory
from tests.harness.vps_build import vps_storage_driver
from tests.vps import tinyimage

pytestmark = pytest.mark.engine


def _connected_state(hosts: list[VpsHost]) -> Any:
    """A pyinfra ``State`` connected to *hosts* (TCP_NODELAY set: paramiko leaves Nagle on,
    see DESIGN.md section 5)."""
    from pyinfra.api.config import Config
    from pyinfra.api.connect import connect_all
    from pyinfra.api.state import State

    config = Config(CONNECT_TIMEOUT=10)  # type: ignore[no-untyped-call]
    state = State(pyinfra_inventory(hosts), config)
    connect_all(state)
    for host in state.inventory:
        cast(Any, host.connector).client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return state


def test_pyinfra_reaches_both_hosts_in_parallel(vps: list[VpsHost], tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    from pyinfra.api.connect import disconnect_all
    from pyinfra.api.operation import add_op
    from pyinfra.api.operations import run_ops
    from pyinfra.operations import files, server

    local = tmp_path / "probe.txt"
    local.write_text("put by pyinfra\n")
    started = time.monotonic()
    state = _connected_state(vps)
    request.node.user_properties.append(("pyinfra_connect_s", time.monotonic() - started))
    try:
        assert len(state.activated_hosts) == 2
        put = add_op(state, files.put, src=str(local), dest="/opt/zixly-probe.txt", mode="600")
        shell = add_op(state, server.shell, commands=["hostname > /opt/zixly-hostname"])
        run_ops(state)
        for host in state.inventory:
            assert put[host].did_succeed() and put[host].did_change()
            assert shell[host].did_succeed()
    finally:
        disconnect_all(state)

    state = _connected_state(vps)  # one run_ops per State: a second deploy, nothing to change
    try:
        noop = add_op(state, files.file, path="/opt/zixly-probe.txt", present=True, mode="600")
        started = time.monotonic()
        run_ops(state)
        request.node.user_properties.append(("pyinfra_noop_op_s", time.monotonic() - started))
        assert all(noop[h].did_succeed() and not noop[h].did_change() for h in state.inventory)
    finally:
        disconnect_all(state)

    for host in vps:
        out = host.ssh(["sh", "-c", "cat /opt/zixly-probe.txt /opt/zixly-hostname;"
                        " stat -c %a /opt/zixly-probe.txt"], check=True).stdout.split("\n")
        assert out[:3] == ["put by pyinfra", host.name, "600"]
        host.ssh(["rm", "-f", "/opt/zixly-probe.txt", "/opt/zixly-hostname"], check=True)


def test_tools_reach_a_host_created_after_they_connected(
        vps: list[VpsHost], fresh_vps: Callable[[int], list[VpsHost]]) -> None:
    from pyinfra.api.connect import disconnect_all

    disconnect_all(_connected_state(vps))  # pyinfra now caches the shared hosts' known_hosts
    assert vps[0].testinfra_host().run("true").rc == 0
    late = fresh_vps(1)[0]
    state = _connected_state([late])
    try:
        assert len(state.activated_hosts) == 1
    finally:
        disconnect_all(state)
    assert late.testinfra_host().check_output("hostname") == late.name


def test_testinfra_checks_files_and_the_engine(vps: list[VpsHost]) -> None:
    for vps_host in vps:
        host = vps_host.testinfra_host()
        hostname = host.file("/etc/hostname")
        assert hostname.is_file and hostname.content_string.strip() == vps_host.name
        assert host.file("/root/.ssh/authorized_keys").mode == 0o600
        info = host.check_output("docker info --format %s", "{{.Name}} {{.Driver}}")
        assert info.split() == [vps_host.name, vps_storage_driver(vps_host.dir.parent)]
        assert host.run("docker compose version").rc == 0


def test_load_image_moves_an_image_between_host_engines(vps: list[VpsHost],
                                                       tmp_path: Path) -> None:
    a, b = vps
    tag = "zixly-test/probe-file:1"
    content = f"built on {a.name}\n"
    tinyimage.build(a.docker, tag, tinyimage.file_context(tmp_path / "ctx", content))
    try:
        assert b.docker("image", "inspect", tag).returncode != 0, "b must not have it yet"
        out = b.load_image(tag, source=a.docker_host)
        assert f"Loaded image: {tag}" in out
        assert tinyimage.read_file_from_image(b.docker, tag, "/zixly-probe.txt",
                                              tmp_path) == content
    finally:
        a.docker("image", "rm", "-f", tag)
        b.docker("image", "rm", "-f", tag)


def test_load_image_from_this_machines_engine(engine: LocalEngine, vps: list[VpsHost],
                                              test_prefix: str, tmp_path: Path) -> None:
    tag = f"{test_prefix}-probe-file:1"
    content = "built on this machine\n"
    tinyimage.build(engine.docker, tag, tinyimage.file_context(tmp_path / "ctx", content))
    host = vps[0]
    try:
        assert f"Loaded image: {tag}" in host.load_image(tag, source=engine.docker_host)
        assert tinyimage.read_file_from_image(host.docker, tag, "/zixly-probe.txt",
                                              tmp_path) == content
    finally:
        engine.docker("image", "rm", "-f", tag)
        host.docker("image", "rm", "-f", tag)
