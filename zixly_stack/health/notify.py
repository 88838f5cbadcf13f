"""Notifications: a Slack-compatible webhook and email over SMTP, only when something changed.

Contract:

* :func:`decide` (pure) compares a report with the last notified statuses: a message goes out
  when any check's status differs from the last one notified (a check never seen counts as
  ``ok``; skipped checks are ignored), plus one daily digest once ``digest_hour`` (UTC) has
  passed and no digest was sent that day.
* :func:`deliver` sends each message on every channel; the state file is updated only when
  every channel accepted every message, so a failed delivery is retried on the next run.
* The state is one JSON file per environment under the state directory, replaced atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import smtplib
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import httpx

from ..models.environment import Smtp
from .model import Report, Status
from .settings import NotifySettings


@dataclass(frozen=True)
class Message:
    """One notification: ``change`` or ``digest``."""

    kind: str
    subject: str
    text: str


@dataclass
class NotifyState:
    """What was last notified for one environment."""

    statuses: dict[str, str] = field(default_factory=dict)
    last_digest: str | None = None

    @classmethod
    def load(cls, path: Path) -> NotifyState:
        """Read the state (an unreadable or missing file is an empty state)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(dict(data.get("statuses") or {}), data.get("last_digest"))
        except (OSError, ValueError, AttributeError):
            return cls()

    def save(self, path: Path) -> None:
        """Write atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"statuses": self.statuses, "last_digest": self.last_digest}, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)


def current_statuses(report: Report) -> dict[str, str]:
    """check id -> status of the report's non-skipped checks."""
    return {r.check_id: r.status.value for r in report.results if r.status is not Status.SKIPPED}


def _lines(report: Report, ids: list[str] | None = None) -> list[str]:
    out = []
    for r in report.results:
        if r.status is Status.SKIPPED or (ids is not None and r.check_id not in ids):
            continue
        out.append(f"[{r.status.value}] {r.app} {r.kind} {r.target}: {r.summary}")
    return out


def decide(report: Report, state: NotifyState, settings: NotifySettings, now: dt.datetime) -> list[Message]:
    """The messages this report warrants (see the module contract)."""
    messages: list[Message] = []
    current = current_statuses(report)
    changed = sorted(
        cid for cid in set(current) | set(state.statuses)
        if current.get(cid, "ok") != state.statuses.get(cid, "ok")
    )
    env = report.environment
    if changed:
        gone = [cid for cid in changed if cid not in current]
        lines = _lines(report, changed) + [f"[ok] {cid}: no longer checked" for cid in gone]
        messages.append(
            Message("change", f"[zixly {env}] {report.status.value.upper()}: {len(changed)} check(s) changed",
                    "\n".join(lines))
        )
    today = now.astimezone(dt.UTC).date().isoformat()
    if settings.digest and now.astimezone(dt.UTC).hour >= settings.digest_hour and state.last_digest != today:
        counts = ", ".join(f"{k} {v}" for k, v in report.counts().items() if v)
        problems = [ln for ln in _lines(report) if not ln.startswith("[ok]")]
        messages.append(
            Message("digest", f"[zixly {env}] daily digest: {report.status.value.upper()}",
                    "\n".join([f"{len(report.results)} checks: {counts}", *problems]))
        )
    return messages


class Channel(Protocol):
    """Somewhere messages go."""

    @property
    def name(self) -> str:
        """A short label for messages about this channel."""
        ...

    def send(self, message: Message) -> None:
        """Deliver or raise."""
        ...


@dataclass(frozen=True)
class Webhook:
    """A Slack-compatible incoming webhook: POST ``{"text": ...}`` as JSON; 2xx is success."""

    url: str
    name: str = "webhook"
    timeout_s: float = 10.0

    def payload(self, message: Message) -> dict[str, object]:
        """The JSON body (Slack, Mattermost, Rocket.Chat and Discord's /slack endpoint accept it)."""
        return {
            "text": f"*{message.subject}*\n{message.text}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.subject[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "```" + message.text[:2900] + "```"}},
            ],
        }

    def send(self, message: Message) -> None:
        """POST the payload; raise on transport errors or a non-2xx answer."""
        resp = httpx.post(self.url, json=self.payload(message), timeout=self.timeout_s, trust_env=False)
        resp.raise_for_status()


@dataclass(frozen=True)
class Email:
    """Plain-text email through the environment's SMTP relay (STARTTLS when configured)."""

    smtp: Smtp
    to: tuple[str, ...]
    name: str = "email"
    timeout_s: float = 20.0

    def send(self, message: Message) -> None:
        """Send one email to every recipient; raise on failure."""
        msg = EmailMessage()
        msg["From"] = self.smtp.from_address
        msg["To"] = ", ".join(self.to)
        msg["Subject"] = message.subject
        msg.set_content(message.text + "\n")
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.timeout_s) as conn:
            if self.smtp.starttls:
                conn.starttls()
            conn.send_message(msg)


@dataclass(frozen=True)
class Delivery:
    """What :func:`deliver` did."""

    sent: list[tuple[str, str]]
    failed: list[tuple[str, str]]


def deliver(report: Report, state_path: Path, channels: list[Channel], settings: NotifySettings,
            now: dt.datetime | None = None) -> Delivery:
    """Decide, send on every channel, and record the new state if everything went out."""
    moment = now or dt.datetime.now(dt.UTC)
    state = NotifyState.load(state_path)
    messages = decide(report, state, settings, moment)
    sent: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for m in messages:
        for ch in channels:
            try:
                ch.send(m)
                sent.append((ch.name, m.kind))
            except (OSError, httpx.HTTPError, smtplib.SMTPException) as exc:
                failed.append((ch.name, f"{m.kind}: {type(exc).__name__}: {exc}"))
    if not failed and channels:
        state.statuses = current_statuses(report)
        if any(m.kind == "digest" for m in messages):
            state.last_digest = moment.astimezone(dt.UTC).date().isoformat()
        state.save(state_path)
    return Delivery(sent, failed)
