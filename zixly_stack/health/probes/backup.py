"""Backup freshness: the age of each service's latest successful snapshot.

The snapshot source is pluggable (:class:`BackupSource`): by default the backup status file
the backup script writes on each host (:class:`HostStatusFiles`, contract in
:mod:`zixly_stack.render.backup.status`), read here or over SSH; a status file on this machine
(:class:`JsonStatusFile`, ``--backup-status``); or the restic repository itself
(``zixly health --restic``, :mod:`zixly_stack.health.backup_source`).

Judgement: no snapshot recorded -> warning; older than ``warn_hours`` -> warning ("stale");
older than ``critical_hours`` -> critical; the source unreadable -> unknown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ...render.backup.status import parse_status
from ..checks import BackupCheck
from ..model import Result, Status
from .hostcmd import HostRunner, HostUnreachable, read_file


class BackupSourceError(Exception):
    """The snapshot source could not be read."""


class BackupSource(Protocol):
    """Where the latest snapshot times come from."""

    def latest(self) -> dict[str, dt.datetime]:
        """Service name -> time of its latest successful snapshot (aware, UTC)."""
        ...


@dataclass(frozen=True)
class JsonStatusFile:
    """A JSON status file (see module docstring). A missing file means no snapshots at all."""

    path: Path

    def latest(self) -> dict[str, dt.datetime]:
        """See :class:`BackupSource`."""
        if not self.path.exists():
            return {}
        try:
            return parse_status(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, AttributeError) as exc:
            raise BackupSourceError(f"{self.path}: {exc}") from None


@dataclass(frozen=True)
class HostStatusFiles:
    """The backup script's status file on each host (``cat`` here or over SSH), merged.

    A host without the file has no backups recorded yet; a host that cannot be reached, or
    whose file is not a status document, makes the source unreadable (every check unknown,
    never fresh).
    """

    files: tuple[tuple[str, HostRunner, str], ...]  # (host name, its runner, path of the file there)
    timeout_s: float = 30.0

    async def _read(self) -> list[tuple[str, str, str | None]]:
        async def one(name: str, runner: HostRunner, path: str) -> tuple[str, str, str | None]:
            try:
                return name, path, await read_file(runner, path, self.timeout_s)
            except (HostUnreachable, OSError) as exc:
                raise BackupSourceError(f"{name}: {exc}") from None

        return list(await asyncio.gather(*(one(*f) for f in self.files)))

    def latest(self) -> dict[str, dt.datetime]:
        """See :class:`BackupSource` (the newest entry wins when two hosts name a service)."""
        out: dict[str, dt.datetime] = {}
        for name, path, text in asyncio.run(self._read()):
            if text is None:
                continue
            try:
                found = parse_status(text)
            except (ValueError, AttributeError) as exc:
                raise BackupSourceError(f"{name}:{path}: {exc}") from None
            for service, when in found.items():
                if service not in out or when > out[service]:
                    out[service] = when
        return out


def judge(check: BackupCheck, latest: dt.datetime | None, now: dt.datetime) -> Result:
    """One service's freshness (pure)."""
    if latest is None:
        return Result(check.check_id, check.app, "backup", check.app, Status.WARNING, "no snapshot recorded")
    hours = (now - latest).total_seconds() / 3600
    details = {"latest": latest.astimezone(dt.UTC).isoformat(), "age_hours": round(hours, 1)}
    if hours > check.critical_hours:
        status = Status.CRITICAL
    elif hours > check.warn_hours:
        status = Status.WARNING
    else:
        status = Status.OK
    if status is Status.OK:
        summary = f"latest snapshot {hours:.1f} h old"
    else:
        summary = f"stale: latest snapshot {hours:.1f} h old (limit {check.warn_hours:g} h)"
    return Result(check.check_id, check.app, "backup", check.app, status, summary, None, details)


def probe_backups(source: BackupSource, checks: tuple[BackupCheck, ...], now: dt.datetime) -> list[Result]:
    """Judge every service against one read of the source."""
    try:
        latest = source.latest()
    except BackupSourceError as exc:
        return [Result(c.check_id, c.app, "backup", c.app, Status.UNKNOWN, f"cannot read backup status: {exc}")
                for c in checks]
    return [judge(c, latest.get(c.app), now) for c in checks]
