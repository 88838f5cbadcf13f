"""Traefik (the real binary, FROM scratch) and the read-only Docker socket proxy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine.conftest import Containers, docker, http_get, wait_http
from tests.harness.leaks import TEST_LABEL
from tests.harness.nsproc import RUN_ID

pytestmark = pytest.mark.engine


def test_traefik_ping_healthcheck(containers: Containers, kit_images: dict[str, str], tmp_path: Path) -> None:
    """Exec-form healthcheck as in the catalog (the image has no shell), via docker compose."""
    project = containers.name("traefik")
    compose = tmp_path / "compose.yaml"
    compose.write_text(
        json.dumps(
            {
                "name": project,
                "services": {
                    "traefik": {
                        "image": kit_images["traefik"],
                        "command": ["traefik", "--ping=true", "--entrypoints.web.address=:80", "--api.insecure=true"],
                        "ports": ["127.0.0.1::8080"],
                        "labels": {TEST_LABEL: RUN_ID},
                        "healthcheck": {
                            "test": ["CMD", "traefik", "healthcheck", "--ping"],
                            "interval": "1s",
                            "retries": 10,
                        },
                    }
                },
            }
        )
    )
    base = ("compose", "-f", str(compose), "-p", project)
    try:
        docker(*base, "up", "-d", "--wait", timeout=300)
        port = int(docker(*base, "port", "traefik", "8080").stdout.strip().rsplit(":", 1)[1])
        assert http_get(f"http://127.0.0.1:{port}/ping") == (200, "OK")
        status, body = http_get(f"http://127.0.0.1:{port}/api/version")
        assert status == 200 and '"Version":"3.7.15"' in body.replace(" ", "")
        ctr = docker(*base, "ps", "-q", "traefik").stdout.strip()
        assert docker("exec", ctr, "traefik", "version").stdout.count("3.7.15") == 1
    finally:
        docker(*base, "down", "-v", "--remove-orphans", check=False, timeout=300)


def test_socket_proxy_is_read_only_allowlist(containers: Containers, kit_images: dict[str, str]) -> None:
    sock = ("-v", "/var/run/docker.sock:/var/run/docker.sock:ro", "-p", "127.0.0.1::2375")
    default = containers.run("sockproxy", kit_images["socket-proxy"], options=sock)
    allow = containers.run("sockproxy-ct", kit_images["socket-proxy"], options=(*sock, "-e", "CONTAINERS=1"))
    d = f"http://127.0.0.1:{containers.host_port(default, 2375)}"
    a = f"http://127.0.0.1:{containers.host_port(allow, 2375)}"
    wait_http(f"{d}/_ping")
    wait_http(f"{a}/_ping")
    assert http_get(f"{d}/_ping") == (200, "OK")
    assert http_get(f"{d}/v1.41/version")[0] == 200
    assert http_get(f"{d}/_ping", method="HEAD")[0] == 200
    assert http_get(f"{d}/v1.41/containers/json")[0] == 403
    assert http_get(f"{d}/v1.41/info")[0] == 403
    assert http_get(f"{a}/v1.41/containers/json")[0] == 200
    assert http_get(f"{a}/v1.41/containers/create", method="POST")[0] == 403
    assert http_get(f"{a}/v1.41/containers/{allow}/stop", method="POST")[0] == 403
