"""The host-side health schedule (``zixly health-schedule``): golden files, determinism, real
``systemd-analyze verify`` of the units, and the agent's notification logic.

The agent is executed for real against the deployed local stack in ``test_health_e2e.py`` and
``tests/notify/test_notify_e2e.py``; its notification rules (events, repeats, digest, outbox) are
pinned in ``tests/notify/test_agent.py`` through the real ``apprise`` CLI. :class:`Receiver` is a
loopback HTTP receiver the end-to-end tests point a channel at.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.goldens import check_golden
from tests.harness.local_engine import unavailable
from zixly_stack.config.healthchecks import load_settings
from zixly_stack.health.schedule import render_schedule, units
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
    notify = cfg["notify"]
    # production's older webhook/email_to settings, as channels: names and filters, never their URLs
    assert [(c["name"], c["events"], c["min_severity"]) for c in notify["channels"]] == [
        ("webhook", ["*"], "info"), ("email", ["*"], "info")]
    assert notify["config"] == "/opt/zixly/production/current/notify/apprise.txt"
    assert notify["outboxes"] == ["/opt/zixly/production/backup/outbox"]
    assert notify["events"]["backup.missing"] == {"severity": "critical", "title": "backup missing"}
    assert "drift.found" not in notify["events"], "events nothing produces yet are not the agent's"
    apps = {c["app"] for c in cfg["http"]}
    assert {"n8n", "metabase", "nextcloud", "plane", "chatwoot", "invoiceninja", "mautic", "portainer"} <= apps
    assert all(c["address"] == "127.0.0.1" and c["port"] == 443 for c in cfg["http"]), "the host's own edge"
    assert {c["vhost"] for c in cfg["tls"]["checks"]} >= {"n8n.zixly.example.com"}, cfg["tls"]
    assert cfg["tls"]["warn_days"] == 21 and cfg["tls"]["critical_days"] == 3
    assert {"app": "n8n", "container": "n8n"} in cfg["containers"]
    text = files[f"{host}/health/checks.json"][0].lower()
    assert "password" not in text and "secret" not in text and "hooks.example.com" not in text
    assert "smtp.example.com" not in text and "://" not in text


def test_units_verify_with_systemd_analyze(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze (Debian package systemd)")
    texts = units("production", "/opt/zixly/production/health", backup_outbox="/opt/zixly/production/backup/outbox")
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
    """A real HTTP receiver on loopback that records every JSON body (Apprise's ``json://`` posts
    ``{"title", "message", "type"}``; :attr:`json_url` is the channel URL pointing at it)."""

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
        self.json_url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()
