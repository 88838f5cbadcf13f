"""``zixly health --notify`` end to end through the Apprise library: a real HTTP receiver and a real
SMTP server (aiosmtpd) on 127.0.0.1, configured with the older ``webhook``/``email_to`` settings
(mapped onto Apprise's ``json://`` and ``mailto://``), so those inventories keep working.

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


def _events(hook: _HookServer) -> list[str]:
    return [b["message"].rsplit("event: ", 1)[1].split()[0] for b in hook.received]


def test_notifies_only_on_state_change(notified_stack: tuple[Stack, _HookServer, _Mailbox]) -> None:
    """The older webhook/email_to settings, as channels: Apprise's JSON to the webhook URL, mail
    through the environment's SMTP relay."""
    stack, hook, mailbox = notified_stack
    first = run(stack, hour=6)  # before the digest hour (8 UTC)
    assert first.delivery is not None and first.delivery.sent == [] and first.delivery.failed == []
    assert hook.received == [] and mailbox.messages == []

    answer = stack.edge.routes.pop(("metabase.localhost", "/api/health"))
    down = run(stack, hour=6)
    assert down.delivery is not None and down.delivery.failed == []
    assert sorted(down.delivery.sent) == [("email", "health.changed"), ("webhook", "health.changed")]
    assert len(hook.received) == 1 and len(mailbox.messages) == 1
    payload = hook.received[0]
    assert payload["title"].startswith("[zixly hc] health status changed:") and "critical" in payload["title"]
    assert "ok -> [critical] metabase http" in payload["message"] and payload["type"] == "failure"
    mail = mailbox.messages[0]
    assert mail.rcpt_tos == ["ops@example.com"] and mail.mail_from == "health@example.com"
    assert b"metabase" in (mail.content or b"")

    again = run(stack, hour=7)  # same state: nothing
    assert again.delivery is not None and again.delivery.sent == []
    assert len(hook.received) == 1 and len(mailbox.messages) == 1

    stack.edge.routes[("metabase.localhost", "/api/health")] = answer
    recovered = run(stack, hour=7)
    assert recovered.delivery is not None and sorted(recovered.delivery.sent) == [("email", "health.changed"),
                                                                                   ("webhook", "health.changed")]
    assert "critical -> [ok]" in hook.received[-1]["message"] and hook.received[-1]["type"] == "info"


def test_a_stale_backup_is_backup_missing_once(notified_stack: tuple[Stack, _HookServer, _Mailbox]) -> None:
    stack, hook, _ = notified_stack
    run(stack, hour=6)
    # 30 h before the report's own 06:00, not before the clock: at 11:00 "30 h ago" is 25 h old at 06:00
    stack.record_backups(dt.timedelta(hours=30), only="n8n", now=TODAY.replace(hour=6))
    run(stack, hour=6)
    run(stack, hour=7)
    assert _events(hook) == ["backup.missing"], hook.received
    assert "n8n backup n8n: stale: latest snapshot" in hook.received[0]["message"]


def test_daily_digest_once_a_day(notified_stack: tuple[Stack, _HookServer, _Mailbox]) -> None:
    stack, hook, mailbox = notified_stack
    digest = run(stack, hour=9)
    assert digest.delivery is not None and sorted(digest.delivery.sent) == [("email", "digest.daily"),
                                                                             ("webhook", "digest.daily")]
    assert "daily digest" in hook.received[0]["title"]
    later = run(stack, hour=15)
    assert later.delivery is not None and later.delivery.sent == []
    assert len(hook.received) == 1 and len(mailbox.messages) == 1


def test_failed_delivery_is_kept_shown_and_retried_next_run(notified_stack: tuple[Stack, _HookServer, _Mailbox]
                                                             ) -> None:
    stack, hook, _mailbox = notified_stack
    port = hook.server_address[1]
    stack.edge.routes.pop(("n8n.localhost", "/healthz"))
    hook.shutdown()
    hook.server_close()  # the webhook endpoint is gone: delivery fails, the message is kept
    first = run(stack, hour=6)
    assert first.delivery is not None and [c for c, _ in first.delivery.failed] == ["webhook"]
    assert ("email", "health.changed") in first.delivery.sent
    shown = {r.check_id: r for r in first.report.results if r.kind == "notify"}
    assert shown["notify:webhook"].status.value == "warning" and "1 notification(s) not delivered" in \
        shown["notify:webhook"].summary, shown
    assert shown["notify:email"].status.value == "ok"

    back = _HookServer(("127.0.0.1", port), _Hook)  # the endpoint answers again
    back.received = []
    threading.Thread(target=back.serve_forever, daemon=True).start()
    try:
        second = run(stack, hour=6)  # nothing changed: only the kept message goes out
        assert second.delivery is not None and second.delivery.sent == []
        assert _events(back) == ["health.changed"] and "n8n" in back.received[0]["message"]
        assert {r.check_id: r.status.value for r in second.report.results if r.kind == "notify"} == {
            "notify:webhook": "ok", "notify:email": "ok"}
    finally:
        back.shutdown()
        back.server_close()
