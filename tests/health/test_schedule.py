"""The host-side health schedule (``zixly health-schedule``): golden files, determinism, real
``systemd-analyze verify`` of the units, and the agent's notification logic.

The agent is executed for real against the deployed local stack in ``test_health_e2e.py``;
here it runs against a real HTTPS edge stand-in (:class:`tests.health.edge.Edge`) on
loopback with a real webhook receiver, so the change/digest rules are pinned without
touching the shared stack.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.goldens import check_golden
from tests.harness.local_engine import unavailable
from zixly_stack.health.schedule import render_schedule, units
from zixly_stack.health.settings import load_settings
from zixly_stack.project import load

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden" / "schedule" / "production"


def _render(env: str = "production") -> dict[str, tuple[str, int]]:
    loaded = load(REPO, env)
    files = render_schedule(loaded, load_settings(REPO / "healthchecks", env))
    return {f.path: (f.text, f.mode) for f in files}


def test_golden_production(update_golden: bool) -> None:
    files = _render()
    assert files == _render(), "rendering twice must give identical files"
    check_golden(GOLDEN, files, update_golden)
    modes = {Path(k).name: v[1] for k, v in files.items()}
    assert modes["zixly-health-agent.py"] == 0o755 and modes["checks.json"] == 0o644


def test_config_has_every_route_container_and_channel_but_no_secret() -> None:
    files = _render()
    (host,) = {p.split("/", 1)[0] for p in files}
    cfg = json.loads(files[f"{host}/health/checks.json"][0])
    assert cfg["notify"]["webhook"] == "https://hooks.example.com/services/zixly-alerts"
    assert cfg["notify"]["email"]["to"] == ["ops@zixly.example.com"]
    assert cfg["notify"]["email"]["host"] == "smtp.example.com"
    apps = {c["app"] for c in cfg["http"]}
    assert {"n8n", "metabase", "nextcloud", "plane", "chatwoot", "invoiceninja", "mautic", "portainer"} <= apps
    assert all(c["address"] == "127.0.0.1" and c["port"] == 443 for c in cfg["http"]), "the host's own edge"
    assert {"app": "n8n", "container": "n8n"} in cfg["containers"]
    text = files[f"{host}/health/checks.json"][0].lower()
    assert "password" not in text and "secret" not in text


def test_units_verify_with_systemd_analyze(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze (Debian package systemd)")
    texts = units("production", "/opt/zixly/production/health")
    for name in ("zixly-health-production.service", "zixly-health-production.timer"):
        (tmp_path / name).write_text(texts[name])
    res = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in ("zixly-health-production.service",
                          "zixly-health-production.timer"))], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "zixly-health" not in res.stderr, res.stderr
    cron = texts["zixly-health-production.cron"].splitlines()
    job = [line for line in cron if line and not line.startswith("#") and "=" not in line]
    assert job == ["*/5 * * * * root flock -n /run/zixly-health-production.lock /usr/bin/python3 "
                   "/opt/zixly/production/health/zixly-health-agent.py --config "
                   "/opt/zixly/production/health/checks.json >/dev/null 2>&1"]


class Receiver:
    """A real HTTP webhook receiver on loopback that records every JSON body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def run_agent(config: dict[str, Any], tmp: Path, now: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the rendered agent file as the host would (its own python3 process)."""
    agent = REPO / "zixly_stack" / "health" / "agent.py"
    (tmp / "checks.json").write_text(json.dumps(config))
    res = subprocess.run([sys.executable, "-I", str(agent), "--config", str(tmp / "checks.json"), "--state-dir",
                          str(tmp / "state"), "--now", now], capture_output=True, text=True, timeout=120, env=env,
                         check=False)
    return res.returncode, res.stdout + res.stderr


def test_agent_notifies_on_change_and_once_a_day(tmp_path: Path, receiver: Receiver) -> None:
    from tests.health.edge import Answer, Edge

    with Edge() as edge:
        edge.routes[("app.example.test", "/health")] = Answer(200, "ok-body")
        check = {"id": "http:app:app.example.test/health", "app": "app", "address": "127.0.0.1", "port": edge.port,
                 "vhost": "app.example.test", "path": "/health", "status": 200, "body": "ok-body", "warn_ms": 5000,
                 "timeout_s": 5}
        cfg: dict[str, Any] = {
            "environment": "t", "host_name": "h", "state_dir": str(tmp_path / "unused"), "http": [check],
            "containers": [], "backup": None,
            "host": {"disk_paths": ["/"], "disk_warn_pct": 100, "disk_critical_pct": 100, "memory_warn_pct": 100,
                     "memory_critical_pct": 100},
            "notify": {"webhook": receiver.url, "email": None, "digest": True, "digest_hour": 8},
        }
        code, out = run_agent(cfg, tmp_path, "2026-11-26T03:00:00+00:00")
        assert code == 0 and receiver.bodies == [], out  # all ok, never seen = ok: nothing to say
        edge.routes[("app.example.test", "/health")] = Answer(503, "down")
        code, out = run_agent(cfg, tmp_path, "2026-11-26T03:05:00+00:00")
        assert code == 2, out
        assert len(receiver.bodies) == 1 and "ok -> critical" in receiver.bodies[0]["text"], receiver.bodies
        code, _ = run_agent(cfg, tmp_path, "2026-11-26T03:10:00+00:00")
        assert code == 2 and len(receiver.bodies) == 1, "no change: no second message"
        edge.routes[("app.example.test", "/health")] = Answer(200, "ok-body")
        code, _ = run_agent(cfg, tmp_path, "2026-11-26T03:15:00+00:00")
        assert code == 0 and len(receiver.bodies) == 2 and "critical -> ok" in receiver.bodies[1]["text"]
        run_agent(cfg, tmp_path, "2026-11-26T09:00:00+00:00")
        run_agent(cfg, tmp_path, "2026-11-26T09:05:00+00:00")
        digests = [b for b in receiver.bodies if "daily digest" in b["text"]]
        assert len(digests) == 1 and "3 ok, 0 warning, 0 critical" in digests[0]["text"], receiver.bodies
        last = json.loads((tmp_path / "state" / "last.json").read_text())
        assert last["status"] == "ok" and last["checks"][0]["id"] == check["id"]
