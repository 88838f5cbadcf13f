"""Undelivered notifications, kept until a later run delivers them: one file per (channel, message).

The same format is written by the backup script (bash), the on-host agent (stdlib Python) and
this package, so every sender retries with one reader::

    zixly-notify 1
    channel: ops
    event: backup.failed
    severity: critical
    created: 2026-11-26T03:19:02Z
    attempts: 1
    error: apprise exited 1
    title: [zixly production] backup failed

    <the body, to the end of the file>

Header values are one line each (newlines in them are flattened); the body is the message
as it was to be sent. Files are ``<created>-<random>.msg`` (0600) in a 0700 directory. No
URL is ever written here: a channel is named, its URL stays in the secrets store.
Where: ``<state_dir>/notify-<env>/outbox`` on the control machine (health settings'
``state_dir``), the agent's state directory ``outbox/`` and the backup script's
``$STATE/outbox/`` on hosts.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

MAGIC = "zixly-notify 1"
HEADERS = ("channel", "event", "severity", "created", "attempts", "error", "title")


@dataclass(frozen=True)
class Entry:
    """One undelivered message for one channel."""

    channel: str
    event: str
    severity: str
    created: str
    attempts: int
    error: str
    title: str
    body: str
    path: Path | None = None

    def text(self) -> str:
        """The file's text (see the module contract)."""
        values = {"channel": self.channel, "event": self.event, "severity": self.severity, "created": self.created,
                  "attempts": str(self.attempts), "error": self.error, "title": self.title}
        head = [MAGIC, *(f"{k}: {' '.join(values[k].split())}" for k in HEADERS)]
        return "\n".join(head) + "\n\n" + self.body


def parse(text: str, path: Path | None = None) -> Entry | None:
    """An entry from a file's text, or None when it is not one (a foreign or truncated file)."""
    head, sep, body = text.partition("\n\n")
    lines = head.splitlines()
    if not sep or not lines or lines[0].strip() != MAGIC:
        return None
    values: dict[str, str] = {}
    for line in lines[1:]:
        key, _, value = line.partition(": ")
        values[key.strip()] = value.strip()
    if not values.get("channel"):
        return None
    try:
        attempts = int(values.get("attempts") or 1)
    except ValueError:
        attempts = 1
    return Entry(values["channel"], values.get("event", ""), values.get("severity", "critical"),
                 values.get("created", ""), attempts, values.get("error", ""), values.get("title", ""), body, path)


@dataclass(frozen=True)
class Outbox:
    """A spool directory of :class:`Entry` files."""

    directory: Path

    def entries(self) -> list[Entry]:
        """Every readable entry, oldest first (files that are not entries are left alone)."""
        if not self.directory.is_dir():
            return []
        out = []
        for p in sorted(self.directory.glob("*.msg")):
            try:
                entry = parse(p.read_text(encoding="utf-8", errors="replace"), p)
            except OSError:
                continue
            if entry is not None:
                out.append(entry)
        return out

    def add(self, entry: Entry, now: dt.datetime) -> Entry:
        """Spool *entry* (a new file); returns it with its path."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        name = f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}.msg"
        path = self.directory / name
        self._write(path, entry.text())
        return replace(entry, path=path)

    def failed_again(self, entry: Entry, error: str) -> None:
        """Record another failed attempt of a spooled entry."""
        if entry.path is not None:
            self._write(entry.path, replace(entry, attempts=entry.attempts + 1, error=error).text())

    def delivered(self, entry: Entry) -> None:
        """Remove a spooled entry that went out."""
        if entry.path is not None:
            entry.path.unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def pending_by_channel(entries: list[Entry]) -> dict[str, list[Entry]]:
    """Entries grouped by channel, oldest first."""
    out: dict[str, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.channel, []).append(e)
    return out
