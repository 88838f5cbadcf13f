"""Containers on a test host: private to that host; published ports reach only its network."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.harness.vps import VpsHost

pytestmark = pytest.mark.engine

PORT = 18473  # published port; unusual so nothing else on this machine is likely to use it
LOOPBACK_PORT = 18474


def http_get(address: str, port: int, timeout: float = 2.0) -> str | None:
    """The body of ``GET /`` at *address*:*port*, or None when nothing accepts the connection."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return None
    return data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")


def wait_body(host: VpsHost, port: int, timeout: float = 10.0) -> str | None:
    """Poll ``GET /`` on 127.0.0.1:*port* inside *host*'s network until it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = host.in_netns(lambda: http_get("127.0.0.1", port))
        if body is not None:
            return body
        time.sleep(0.1)
    return None


@pytest.fixture
def web(vps: list[VpsHost], tiny_image: str) -> Iterator[str]:
    """A tinyhttpd container on host 1 publishing PORT (all addresses) and LOOPBACK_PORT
    (127.0.0.1 only); yields the body it serves."""
    a = vps[0]
    body = f"served-by-{a.name}"
    a.docker("run", "-d", "--name", "zixly-web", "-p", f"{PORT}:8080",
             "-p", f"127.0.0.1:{LOOPBACK_PORT}:8080", tiny_image, "8080", body, check=True)
    try:
        yield body
    finally:
        a.docker("rm", "-f", "zixly-web")


def test_a_container_is_visible_only_on_its_own_host(vps: list[VpsHost], web: str) -> None:
    a, b = vps
    assert "zixly-web" in a.docker("ps", "--format", "{{.Names}}", check=True).stdout.split()
    assert "zixly-web" in a.ssh(["docker", "ps", "--format", "{{.Names}}"], check=True).stdout
    on_b = b.ssh(["docker", "ps", "-a", "--format", "{{.Names}}"], check=True).stdout.split()
    assert "zixly-web" not in on_b


def test_a_published_port_is_reachable_only_inside_its_host(vps: list[VpsHost], web: str) -> None:
    a, b = vps
    assert wait_body(a, PORT) == web, "inside host 1, 127.0.0.1:PORT serves the container"
    assert http_get("127.0.0.1", PORT) != web, "this machine's loopback must not see it"
    assert b.in_netns(lambda: http_get("127.0.0.1", PORT)) is None, "host 2 has no such port"
    assert http_get(a.address, PORT) == web, "the host's LAN address serves it, like a VPS IP"


def test_a_loopback_publish_stays_on_the_host(vps: list[VpsHost], web: str) -> None:
    a = vps[0]
    assert wait_body(a, LOOPBACK_PORT) == web
    assert http_get(a.address, LOOPBACK_PORT) is None, "a 127.0.0.1 publish must not reach the LAN"


def test_docker_compose_runs_a_project_over_ssh(vps: list[VpsHost], tiny_image: str) -> None:
    a = vps[0]
    compose = (f"services:\n  web:\n    image: {tiny_image}\n    command: ['8080', 'compose']\n"
               f"    ports: ['127.0.0.1:18475:8080']\n")
    a.ssh(["sh", "-c", "mkdir -p /opt/zixly-compose && cat > /opt/zixly-compose/compose.yaml"],
          input=compose, check=True)
    project = ["docker", "compose", "-p", "zixlyprobe", "-f", "/opt/zixly-compose/compose.yaml"]
    try:
        up = a.ssh([*project, "up", "-d", "--wait"], timeout=120)
        assert up.returncode == 0, up.stderr
        assert wait_body(a, 18475) == "compose"
    finally:
        a.ssh([*project, "down", "-v"], timeout=120)
        a.ssh(["rm", "-rf", "/opt/zixly-compose"])
    left = a.docker("ps", "-aq", "--filter", "label=com.docker.compose.project=zixlyprobe")
    assert left.stdout.strip() == ""
