"""Restore and drill failures reach the environment's notifier (``zixly_stack/backup/alert.py``):
a real webhook receiver on loopback (an HTTP server speaking the Slack-compatible contract:
JSON ``{"text": ...}``, 2xx is success). The text is redacted; a notifier that cannot be
reached is reported and never hides the failure."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.backup.test_restore_units import make_env
from zixly_stack.backup.alert import alert_failure


@pytest.fixture(autouse=True)
def own_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbox defaults to ~/.local/state/zixly/health/notify-<env>: with the real HOME, a
    message another test of the same environment name left undelivered is retried here too."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/zixly", bodies
    finally:
        server.shutdown()
        server.server_close()


def test_a_failure_is_posted_redacted(tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, bodies = receiver
    env = make_env(tmp_path, extra=f"notifications: {{webhook: {url}}}\n")
    password = env.secrets["backup.restic_password"].reveal()
    said: list[str] = []
    reached = alert_failure(env, "restore", f"restic: wrong password {password}", said.append)
    assert reached == ["webhook"] and said[-1] == "notify: failure sent to webhook", said
    [body] = bodies
    assert "restore FAILED" in body["text"] and "restic: wrong password" in body["text"], body
    assert "restore.failed" in body["text"], "the event is named"
    assert password not in json.dumps(body), "the text is redacted before it leaves"


def test_an_unreachable_notifier_is_reported_not_raised(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = make_env(tmp_path, extra=f"notifications: {{webhook: 'http://127.0.0.1:{port}/x'}}\n")
    said: list[str] = []
    assert alert_failure(env, "restore drill", "drill failed", said.append) == []
    assert len(said) == 1 and "webhook" in said[0] and "fail" in said[0] and f":{port}" not in said[0], said
    quiet = make_env(tmp_path / "q")
    assert alert_failure(quiet, "restore", "x", said.append) == [] and len(said) == 1, "no channel: nothing said"
