"""Backup freshness: the age of each service's latest successful snapshot.

The snapshot source is pluggable (:class:`BackupSource`); today's source is a JSON status
file written by the backup job: ``{"services": {"n8n": {"last_success": "2026-11-26T03:15:00Z"}}}``.
The restic snapshot listing can implement the same protocol later.

Judgement: no snapshot recorded -> warning; older than ``warn_hours`` -> warning; older than
``critical_hours`` -> critical; the source unreadable -> unknown.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..checks import BackupCheck
from ..model import Result, Status


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
            data = json.loads(self.path.read_text(encoding="utf-8"))
            out: dict[str, dt.datetime] = {}
            for name, entry in (data.get("services") or {}).items():
                stamp = entry.get("last_success") if isinstance(entry, dict) else None
                if stamp:
                    when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
                    out[str(name)] = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
            return out
        except (OSError, ValueError, AttributeError) as exc:
            raise BackupSourceError(f"{self.path}: {exc}") from None


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
    limit = f" (limit {check.warn_hours:g} h)" if status is not Status.OK else ""
    return Result(check.check_id, check.app, "backup", check.app, status,
                  f"latest snapshot {hours:.1f} h old{limit}", None, details)


def probe_backups(source: BackupSource, checks: tuple[BackupCheck, ...], now: dt.datetime) -> list[Result]:
    """Judge every service against one read of the source."""
    try:
        latest = source.latest()
    except BackupSourceError as exc:
        return [Result(c.check_id, c.app, "backup", c.app, Status.UNKNOWN, f"cannot read backup status: {exc}")
                for c in checks]
    return [judge(c, latest.get(c.app), now) for c in checks]
