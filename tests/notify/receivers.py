"""Real notification receivers on loopback, one per wire format Apprise speaks to them.

* :class:`HttpSink` -- an HTTP server that answers 200 (or, switched, never answers: it accepts
  and holds the connection, recording when) and decodes what each Apprise scheme posts:
  ``json://`` (Apprise's JSON: title, message, type), ``form://`` (the same as a form),
  ``mmost://`` (Mattermost's incoming webhook: Slack's ``{"text": ...}``, on ``/hooks/<token>``)
  and ``ntfy://`` (ntfy's JSON publish: topic, title, message, posted to ``/``).
* :class:`MailSink` -- aiosmtpd's SMTP server collecting messages (``mailto://``).

Every sink turns what arrived into :class:`Got` (title, body) so tests check the same thing on
every channel. Nothing here knows zixly: these are the services' documented wire formats.
"""

from __future__ import annotations

import email
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Got:
    """One message as a receiver saw it."""

    sink: str
    title: str
    body: str
    raw: str = ""

    @property
    def event(self) -> str:
        """The event id zixly writes in every body's last line (``event: <id> (<severity>)``)."""
        found = re.findall(r"event: ([a-z]+\.[a-z_]+) \(", self.title + "\n" + self.body)
        return found[-1] if found else ""

    def text(self) -> str:
        return f"{self.title}\n{self.body}"


def decode(kind: str, path: str, body: bytes) -> tuple[str, str]:
    """(title, body) from what one Apprise scheme posted."""
    text = body.decode("utf-8", errors="replace")
    if kind == "json":
        doc = json.loads(text)
        return doc.get("title", ""), doc["message"]
    if kind == "form":
        form = parse_qs(text)
        return form.get("title", [""])[0], form["message"][0]
    if kind == "mmost":
        assert path.startswith("/hooks/"), path
        title, _, rest = json.loads(text)["text"].replace("\r\n", "\n").partition("\n")
        return title, rest
    if kind == "ntfy":
        doc = json.loads(text)
        return doc.get("title", ""), doc["message"]
    raise AssertionError(f"unknown sink kind {kind}")


@dataclass
class HttpSink:
    """An HTTP receiver for one Apprise scheme (see the module docstring)."""

    kind: str
    name: str = ""
    got: list[Got] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    hang: bool = False  # accept, read, never answer
    accepted: list[float] = field(default_factory=list)  # time.monotonic() of each request seen while hanging

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if outer.hang:
                    outer.accepted.append(time.monotonic())
                    time.sleep(600)  # the client must give up by itself
                    return
                outer.paths.append(self.path)
                title, body = decode(outer.kind, self.path, data)
                outer.got.append(Got(outer.name or outer.kind, title, body, data.decode(errors="replace")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MailSink:
    """aiosmtpd on loopback; each message's Subject and text/plain part."""

    def __init__(self, name: str = "smtp") -> None:
        self.name = name
        self.got: list[Got] = []
        self.envelopes: list[Envelope] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=_free_port())
        self.controller.start()
        self.port = self.controller.port

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        msg = email.message_from_bytes(raw)
        self.got.append(Got(self.name, str(msg["Subject"] or ""), _plain(msg), raw.decode(errors="replace")))
        return "250 OK"

    def close(self) -> None:
        self.controller.stop()


def _plain(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            return payload.decode(part.get_content_charset() or "utf-8", errors="replace") if isinstance(
                payload, bytes) else str(payload)
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(pred: Any, timeout: float = 30.0) -> bool:
    """Poll *pred* (deliveries are synchronous, but the SMTP server hands messages over in its own loop)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.2)
    return bool(pred())


TOKEN = "mm-token-6f1c9e2ab4d7"  # the Mattermost-style channel's token: a secret, never in a body


@dataclass
class Sinks:
    """One receiver per wire format, plus one that never answers."""

    json: HttpSink
    form: HttpSink
    mmost: HttpSink
    ntfy: HttpSink
    smtp: MailSink
    hang: HttpSink

    def urls(self) -> dict[str, str]:
        """Apprise URL per channel name; the mmost token is a secret reference."""
        return {
            "json": f"json://127.0.0.1:{self.json.port}/zixly",
            "form": f"form://127.0.0.1:{self.form.port}/zixly",
            "mmost": f"mmost://127.0.0.1:{self.mmost.port}/${{secret:notify.mm_token}}",
            "ntfy": f"ntfy://127.0.0.1:{self.ntfy.port}/zixly-alerts",
            "smtp": f"mailto://127.0.0.1:{self.smtp.port}?from=zixly@example.com&to=ops@example.com",
            "hang": f"json://127.0.0.1:{self.hang.port}/hang",
        }

    def answering(self) -> list[HttpSink | MailSink]:
        return [self.json, self.form, self.mmost, self.ntfy, self.smtp]

    def all_got(self) -> list[Got]:
        return [g for s in self.answering() for g in s.got]

    def of(self, event: str) -> dict[str, list[Got]]:
        """Receiver name -> the messages of *event* it got."""
        return {s.name: [g for g in s.got if g.event == event] for s in self.answering()}


@pytest.fixture
def sinks() -> Iterator[Sinks]:
    made = Sinks(HttpSink("json", "json"), HttpSink("form", "form"), HttpSink("mmost", "mmost"),
                 HttpSink("ntfy", "ntfy"), MailSink("smtp"), HttpSink("json", "hang", hang=True))
    yield made
    for s in (*made.answering(), made.hang):
        s.close()
