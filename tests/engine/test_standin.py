"""The labelled stand-in: vendor health path, failure on request, marker files, worker processes.

The stand-in is NOT the application (Metabase here); it follows Metabase's documented
health contract (GET /api/health -> 200 {"status":"ok"}) so routing, health and backups
can be exercised without the vendor's image.
"""

from __future__ import annotations

import json

import pytest

from tests.engine.conftest import LABEL, Containers, docker, http_get

pytestmark = pytest.mark.engine

CONFIG = {
    "app": "metabase",
    "http": [
        {
            "port": 3000,
            "path": "/api/health",
            "status": 200,
            "body": '{"status":"ok"}',
            "content_type": "application/json",
        }
    ],
    "processes": ["celery"],
    "write": ["/metabase-data"],
}
HEALTH = (
    "--health-cmd",
    "curl -fsS http://127.0.0.1:3000/api/health",
    "--health-interval",
    "1s",
    "--health-retries",
    "2",
    "--health-timeout",
    "5s",
)


def _start(containers: Containers, image: str, volume: str, *extra: str) -> str:
    return containers.run(
        "metabase",
        image,
        "java",
        "-jar",
        "metabase.jar",
        options=(
            "-e",
            f"ZIXLY_STANDIN_CONFIG={json.dumps(CONFIG)}",
            "-v",
            f"{volume}:/metabase-data",
            "-p",
            "127.0.0.1::3000",
            *HEALTH,
            *extra,
        ),
    )


def test_image_is_labelled_standin(kit_images: dict[str, str]) -> None:
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", kit_images["standin"]).stdout)
    assert labels["org.zixly.standin"] == "true"
    assert labels["org.zixly.offline"] == "true"
    docker(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        kit_images["standin"],
        "-c",
        "command -v curl && command -v wget && command -v pgrep && command -v python3",
    )


def test_health_path_failure_and_data(containers: Containers, kit_images: dict[str, str]) -> None:
    volume = f"{containers.prefix}-mbdata"
    docker("volume", "create", "--label", LABEL, volume)
    name = _start(containers, kit_images["standin"], volume)
    containers.wait_health(name, timeout=60)
    port = containers.host_port(name, 3000)
    base = f"http://127.0.0.1:{port}"

    assert http_get(f"{base}/api/health") == (200, '{"status":"ok"}')
    status, page = http_get(f"{base}/")
    assert status == 200 and "STAND-IN: this is not the real metabase" in page
    assert http_get(f"{base}/api/session")[0] == 404
    assert "STAND-IN: this is not the real metabase" in docker("logs", name).stdout
    assert "java -jar metabase.jar" in containers.exec(name, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert containers.exec(name, "pgrep", "-f", "celery").returncode == 0

    listing = containers.exec(
        name, "sh", "-c", "cd /metabase-data && sha256sum .zixly-standin-metabase zixly-standin-metabase.bin"
    ).stdout
    assert len(listing.splitlines()) == 2

    assert http_get(f"{base}/__standin/fail", method="POST")[0] == 200
    assert http_get(f"{base}/api/health")[0] == 503
    containers.wait_health(name, want="unhealthy", timeout=60)
    assert http_get(f"{base}/__standin/heal", method="POST")[0] == 200
    assert http_get(f"{base}/api/health")[0] == 200
    containers.wait_health(name, timeout=60)

    docker("restart", "-t", "5", name, timeout=120)
    containers.wait_health(name, timeout=60)
    again = containers.exec(
        name, "sh", "-c", "cd /metabase-data && sha256sum .zixly-standin-metabase zixly-standin-metabase.bin"
    ).stdout
    assert again == listing  # first-start files are never overwritten


def test_fail_switch_by_env_and_file(containers: Containers, kit_images: dict[str, str]) -> None:
    volume = f"{containers.prefix}-mbdata2"
    docker("volume", "create", "--label", LABEL, volume)
    name = _start(containers, kit_images["standin"], volume, "-e", "ZIXLY_STANDIN_FAIL=1")
    containers.wait_health(name, want="unhealthy", timeout=60)
    port = containers.host_port(name, 3000)
    assert http_get(f"http://127.0.0.1:{port}/api/health")[0] == 503
    assert http_get(f"http://127.0.0.1:{port}/__standin/heal", method="POST")[0] == 200
    containers.wait_health(name, timeout=60)
    containers.exec(name, "touch", "/tmp/standin-fail")
    state = json.loads(http_get(f"http://127.0.0.1:{port}/__standin/state")[1])
    assert state == {"app": "metabase", "failing": False, "standin": True}  # heal overrides
