"""``zixly health --notify``: events from a report, only when something changed, plus a daily digest.

Contract:

* :func:`decide` (pure) compares a report with the last notified statuses: every check whose
  status differs from the last one notified (a check never seen counts as ``ok``; skipped
  checks are ignored) becomes part of one message per event (:func:`event_of`: backup ->
  ``backup.missing``, tls -> ``cert.expiring``, host -> ``host.disk``/``host.memory``, any other
  -> ``health.changed``; a recovery is ``health.changed`` as info), plus one ``digest.daily``
  once ``digest_hour`` (UTC) has passed and no digest went out that day.
* :func:`deliver` sends them through the environment's channels (:mod:`zixly_stack.notify`)
  and records the new state at once: repeats are suppressed until a status changes again,
  and what a channel did not take stays in the outbox, retried by the next run.
* The state is one JSON file per environment under the state directory, replaced atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..config.healthchecks import NotifySettings
from ..notify.events import get, rank
from ..notify.service import Notifier
from .model import Report, Result, Status


@dataclass(frozen=True)
class Message:
    """One notification to send: an event occurrence."""

    event: str
    severity: str
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


def _line(r: Result) -> str:
    return f"[{r.status.value}] {r.app} {r.kind} {r.target}: {r.summary}"


def event_of(r: Result) -> tuple[str, str]:
    """(event id, severity) of a check that changed to *r*'s status (see the module contract)."""
    if r.status is Status.OK:
        return "health.changed", "info"
    seen = "critical" if r.status is Status.CRITICAL else "warning"
    if r.kind == "backup":
        event = "backup.missing"
    elif r.kind == "tls":
        event = "cert.expiring"
    elif r.kind == "host":
        over = [str(x) for x in r.details.get("over") or []]
        event = "host.disk" if any(x.startswith("disk") for x in over) or not over else "host.memory"
    else:
        event = "health.changed"
    return event, max(get(event).severity, seen, key=rank)


def decide(report: Report, state: NotifyState, settings: NotifySettings, now: dt.datetime) -> list[Message]:
    """The messages this report warrants (see the module contract)."""
    current = current_statuses(report)
    by_id = {r.check_id: r for r in report.results}
    changed = sorted(cid for cid in set(current) | set(state.statuses)
                     if current.get(cid, "ok") != state.statuses.get(cid, "ok"))
    env = report.environment
    groups: dict[str, tuple[str, list[str]]] = {}
    for cid in changed:
        r = by_id.get(cid)
        if r is None:
            event, severity, line = "health.changed", "info", f"[ok] {cid}: no longer checked"
        else:
            (event, severity), line = event_of(r), _line(r)
        level, lines = groups.get(event, ("info", []))
        groups[event] = (max(level, severity, key=rank), [*lines, f"{state.statuses.get(cid, 'ok')} -> {line}"])
    messages = [Message(event, level, f"{len(lines)} check(s) changed, {env} is {report.status.value}",
                        "\n".join(lines)) for event, (level, lines) in sorted(groups.items())]
    today = now.astimezone(dt.UTC).date().isoformat()
    if settings.digest and now.astimezone(dt.UTC).hour >= settings.digest_hour and state.last_digest != today:
        counts = ", ".join(f"{k} {v}" for k, v in report.counts().items() if v)
        problems = [_line(r) for r in report.results if r.status not in (Status.OK, Status.SKIPPED)]
        messages.append(Message("digest.daily", "info", f"{env} is {report.status.value}",
                                "\n".join([f"{len(report.results)} checks: {counts}", *problems])))
    return messages


@dataclass(frozen=True)
class Delivery:
    """What :func:`deliver` did: (channel, event) sent, (channel, event: why) failed."""

    sent: list[tuple[str, str]]
    failed: list[tuple[str, str]]


def deliver(report: Report, state_path: Path, notifier: Notifier, settings: NotifySettings,
            now: dt.datetime) -> Delivery:
    """Decide, send through *notifier*, record the new state (see the module contract)."""
    state = NotifyState.load(state_path)
    messages = decide(report, state, settings, now)
    sent: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for m in messages:
        for o in notifier.emit(m.event, m.subject, m.text, m.severity):
            if o.ok:
                sent.append((o.channel, m.event))
            else:
                failed.append((o.channel, f"{m.event}: {o.detail}"))
    state.statuses = current_statuses(report)
    if any(m.event == "digest.daily" for m in messages):
        state.last_digest = now.astimezone(dt.UTC).date().isoformat()
    state.save(state_path)
    return Delivery(sent, failed)
