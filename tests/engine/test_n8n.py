"""The real n8n from npm in the offline kit: healthy with the catalog's healthcheck, CLI usable.

Under the vfs storage driver every container copies the ~2.7 GB image: starting one takes
30-90 s, so this module starts a single n8n container and runs every check against it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.engine.conftest import LABEL, RUN_PREFIX, Containers, docker, http_get, wait_http

pytestmark = pytest.mark.engine

CATALOG_HEALTHCHECK = (
    "node -e \"require('http').get('http://127.0.0.1:5678/healthz/readiness',"
    "r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))\""
)
WORKFLOW = {
    "id": "zixlyTestFlow001",
    "name": "zixly kit test",
    "active": False,
    "nodes": [
        {
            "id": "1f4b3c2a-0000-4000-8000-000000000001",
            "name": "Manual",
            "type": "n8n-nodes-base.manualTrigger",
            "typeVersion": 1,
            "position": [0, 0],
            "parameters": {},
        }
    ],
    "connections": {},
    "settings": {},
}


RUNNERS_TOKEN = "zixly-test-runners-token"
CODE_WORKFLOW = {
    "id": "zixlyRunnerFlow1",
    "name": "zixly runner test",
    "active": True,
    "nodes": [
        {
            "id": "1f4b3c2a-0000-4000-8000-000000000011",
            "name": "Webhook",
            "type": "n8n-nodes-base.webhook",
            "typeVersion": 2,
            "position": [0, 0],
            "webhookId": "5b0d6c1e-0000-4000-8000-000000000012",
            "parameters": {"httpMethod": "GET", "path": "zixly-kit", "responseMode": "lastNode"},
        },
        {
            "id": "1f4b3c2a-0000-4000-8000-000000000013",
            "name": "Code",
            "type": "n8n-nodes-base.code",
            "typeVersion": 2,
            "position": [200, 0],
            "parameters": {"jsCode": "return [{json: {sum: 20 + 22}}];"},
        },
    ],
    "connections": {"Webhook": {"main": [[{"node": "Code", "type": "main", "index": 0}]]}},
    "settings": {},
}


@pytest.fixture(scope="module")
def n8n(kit_images: dict[str, str]) -> Iterator[tuple[Containers, str]]:
    """One n8n main (task runners in external mode) plus the n8n-runners sidecar."""
    helper = Containers(prefix=f"{RUN_PREFIX}-n8n")
    try:
        net = f"{helper.prefix}-net"
        docker("network", "create", "--label", LABEL, net)
        name = helper.run(
            "n8n",
            kit_images["n8n"],
            options=(
                "--network",
                net,
                "--network-alias",
                "n8n",
                "-p",
                "127.0.0.1::5678",
                "-e",
                "N8N_ENCRYPTION_KEY=zixly-test-key-0123456789",
                "-e",
                "N8N_RUNNERS_MODE=external",
                "-e",
                f"N8N_RUNNERS_AUTH_TOKEN={RUNNERS_TOKEN}",
                "-e",
                "N8N_RUNNERS_BROKER_LISTEN_ADDRESS=0.0.0.0",
                "--health-cmd",
                CATALOG_HEALTHCHECK,
                "--health-interval",
                "2s",
                "--health-retries",
                "5",
                "--health-start-period",
                "300s",
            ),
        )
        helper.run(
            "runners",
            kit_images["n8n-runners"],
            options=(
                "--network",
                net,
                "-e",
                "N8N_RUNNERS_TASK_BROKER_URI=http://n8n:5679",
                "-e",
                f"N8N_RUNNERS_AUTH_TOKEN={RUNNERS_TOKEN}",
                "--health-cmd",
                "node -e \"require('http').get('http://127.0.0.1:5680/healthz',"
                "r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))\"",
                "--health-interval",
                "2s",
                "--health-start-period",
                "300s",
            ),
        )
        helper.wait_health(name, timeout=420)
        yield helper, name
    finally:
        helper.cleanup()


def test_n8n_is_healthy_and_answers(n8n: tuple[Containers, str]) -> None:
    helper, name = n8n
    port = helper.host_port(name, 5678)
    status, body = http_get(f"http://127.0.0.1:{port}/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_n8n_runs_as_node_with_quiet_defaults(n8n: tuple[Containers, str]) -> None:
    helper, name = n8n
    assert helper.exec(name, "id", "-u").stdout.strip() == "1000"
    assert helper.exec(name, "sh", "-c", "echo $HOME").stdout.strip() == "/home/node"
    env = helper.exec(name, "env").stdout.splitlines()
    for setting in (
        "N8N_DIAGNOSTICS_ENABLED=false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED=false",
        "SCARF_ANALYTICS=false",
        "N8N_DISABLED_MODULES=mcp-registry",
    ):
        assert setting in env
    assert helper.exec(name, "node", "--version").stdout.startswith("v24.")
    assert helper.exec(name, "test", "-f", "/home/node/.n8n/database.sqlite").returncode == 0


def test_n8n_cli_via_exec(n8n: tuple[Containers, str]) -> None:
    helper, name = n8n
    assert helper.exec(name, "n8n", "--version").stdout.strip().endswith("2.41.1")
    subprocess.run(
        [*docker_exec_stdin(name), "sh", "-c", "cat > /tmp/wf.json"],
        input=json.dumps([WORKFLOW]),
        text=True,
        check=True,
        capture_output=True,
    )
    imported = helper.exec(name, "n8n", "import:workflow", "--input=/tmp/wf.json", timeout=240)
    assert "Successfully imported 1 workflow" in imported.stdout + imported.stderr
    listed = helper.exec(name, "n8n", "list:workflow", timeout=240).stdout
    assert "zixlyTestFlow001|zixly kit test" in listed


def docker_exec_stdin(name: str) -> list[str]:
    """argv of ``docker exec -i NAME`` with the engine module's client."""
    from zixly_stack.engine import docker_argv

    return [*docker_argv(), "exec", "-i", name]


def test_n8n_image_default_command_is_n8n(kit_images: dict[str, str]) -> None:
    inspect = json.loads(docker("image", "inspect", kit_images["n8n"]).stdout)[0]["Config"]
    assert inspect["Entrypoint"] == ["tini", "--", "/docker-entrypoint.sh"]
    assert inspect["User"] == "node"
    assert "5678/tcp" in inspect["ExposedPorts"]


def test_code_node_runs_in_the_runners_sidecar(n8n: tuple[Containers, str]) -> None:
    """A webhook -> Code workflow answers: the Code node ran in the n8n-runners container."""
    helper, name = n8n
    runners = helper.name("runners")
    helper.wait_health(runners, timeout=300)
    subprocess.run(
        [*docker_exec_stdin(name), "sh", "-c", "cat > /tmp/code.json"],
        input=json.dumps([CODE_WORKFLOW]),
        text=True,
        check=True,
        capture_output=True,
    )
    helper.exec(name, "n8n", "import:workflow", "--input=/tmp/code.json", timeout=240)
    helper.exec(name, "n8n", "publish:workflow", "--id=zixlyRunnerFlow1", timeout=240)
    docker("restart", "-t", "20", name, timeout=300)
    helper.wait_health(name, timeout=300)
    port = helper.host_port(name, 5678)
    wait_http(f"http://127.0.0.1:{port}/webhook/zixly-kit", timeout=60)
    status, body = http_get(f"http://127.0.0.1:{port}/webhook/zixly-kit", timeout=60)
    assert status == 200, body
    assert json.loads(body) == {"sum": 42}
    assert "started JS task runner" in docker("logs", runners).stdout
