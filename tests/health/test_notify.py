"""Notifications end to end: a real HTTP receiver and a real SMTP server (aiosmtpd) on 127.0.0.1.

The webhook receiver is a plain HTTP server collecting the JSON bodies; the SMTP server is
aiosmtpd's ``Controller`` collecting envelopes. The stack is the loopback edge of conftest.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.health.conftest import ENV, Stack, serve_contracts, write_repo
from tests.health.edge import Edge
from zixly_stack.health.service import Outcome, report_for


class _Hook(BaseHTTPRequestHandler):
    server: _HookServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class _HookServer(ThreadingHTTPServer):
    daemon_threads = True
    received: list[dict[str, Any]]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def notified_stack(tmp_path: Path) -> Iterator[tuple[Stack, _HookServer, _Mailbox]]:
    hook = _HookServer(("127.0.0.1", 0), _Hook)
    hook.received = []
    hook_thread = threading.Thread(target=hook.serve_forever, daemon=True)
    hook_thread.start()
    mailbox = _Mailbox()
    smtpd = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtpd.start()
    try:
        with Edge() as edge:
            notifications = (
                f"notifications: {{webhook: 'http://127.0.0.1:{hook.server_address[1]}/hook', "
                f"email_to: [ops@example.com]}}\n"
                f"smtp: {{host: 127.0.0.1, port: {smtpd.port}, from: health@example.com, starttls: false}}\n"
            )
            write_repo(tmp_path / "repo", edge.port, notifications)
            stack = Stack(tmp_path / "repo", edge, tmp_path / "state", tmp_path / "backup-status.json")
            serve_contracts(edge, stack.suite())
            stack.record_backups(dt.timedelta(hours=1))
            yield stack, hook, mailbox
    finally:
        smtpd.stop()
        hook.shutdown()
        hook.server_close()


def free_port() -> int:
    """A free loopback port (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TODAY = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)


def run(stack: Stack, hour: int) -> Outcome:
    return report_for(stack.root, ENV, stack.options(notify=True, history=False), now=TODAY.replace(hour=hour))


def test_notifies_only_on_state_change(notified_stack: tuple[Stack, _HookServer, _Mailbox]) -> None:
    stack, hook, mailbox = notified_stack
    first = run(stack, hour=6)  # before the digest hour (8 UTC)
    assert first.delivery is not None and first.delivery.sent == [] and first.delivery.failed == []
    assert hook.received == [] and mailbox.messages == []

    answer = stack.edge.routes.pop(("metabase.localhost", "/api/health"))
    down = run(stack, hour=6)
    assert down.delivery is not None and down.delivery.failed == []
    assert sorted(down.delivery.sent) == [("email", "change"), ("webhook", "change")]
    assert len(hook.received) == 1 and len(mailbox.messages) == 1
    payload = hook.received[0]
    assert "CRITICAL" in payload["text"] and "metabase" in payload["text"]
    assert payload["blocks"][0]["type"] == "header"
    mail = mailbox.messages[0]
    assert mail.rcpt_tos == ["ops@example.com"] and mail.mail_from == "health@example.com"
    assert b"metabase" in (mail.content or b"")

    again = run(stack, hour=7)  # same state: nothing
    assert again.delivery is not None and again.delivery.sent == []
    assert len(hook.received) == 1 and len(mailbox.messages) == 1

    stack.edge.routes[("metabase.localhost", "/api/health")] = answer
    recovered = run(stack, hour=7)
    assert recovered.delivery is not None and sorted(recovered.delivery.sent) == [("email", "change"),
                                                                                   ("webhook", "change")]
    assert "[ok]" in hook.received[-1]["text"]


def test_daily_digest_once_a_day(notified_stack: tuple[Stack, _HookServer, _Mailbox]) -> None:
    stack, hook, mailbox = notified_stack
    digest = run(stack, hour=9)
    assert digest.delivery is not None and sorted(digest.delivery.sent) == [("email", "digest"),
                                                                             ("webhook", "digest")]
    assert "daily digest" in hook.received[0]["text"]
    later = run(stack, hour=15)
    assert later.delivery is not None and later.delivery.sent == []
    assert len(hook.received) == 1 and len(mailbox.messages) == 1


def test_failed_delivery_is_retried_next_run(notified_stack: tuple[Stack, _HookServer, _Mailbox]) -> None:
    stack, hook, _mailbox = notified_stack
    stack.edge.routes.pop(("n8n.localhost", "/healthz"))
    hook.shutdown()
    hook.server_close()  # the webhook endpoint is gone: delivery fails, state is kept
    first = run(stack, hour=6)
    assert first.delivery is not None and [c for c, _ in first.delivery.failed] == ["webhook"]
    second = run(stack, hour=6)
    assert second.delivery is not None and ("email", "change") in second.delivery.sent
