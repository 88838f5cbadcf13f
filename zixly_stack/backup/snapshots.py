"""Snapshots as restic lists them (``restic snapshots --json``), parsed and grouped by run.

:func:`parse` is pure (tested against recorded restic output). A backup *run* is every
snapshot carrying the same ``run:<stamp>`` tag; ``latest`` means the newest snapshot of
each item, so a run that saved only some services still restores the rest from earlier runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    """One restic snapshot of an item."""

    id: str
    short_id: str
    time: dt.datetime
    paths: tuple[str, ...]
    tags: Mapping[str, str]
    host: str = ""  # restic's hostname: ``zixly-<env>-<host>`` (backup.repo.host_tag)

    @property
    def manifest(self) -> str | None:
        """The checksum manifest saved beside a volume/files snapshot (``.../manifests/<item>.sha256``).

        restic sorts a snapshot's paths, so the manifest is found by name, never by position
        (``/opt/zixly/...`` sorts before ``/var/lib/docker/...``, ``/var/tmp`` after it).
        """
        suffix = f"/manifests/{self.item}.sha256"
        return next((p for p in self.paths if p.endswith(suffix)), None) if self.item else None

    @property
    def source(self) -> str:
        """The backed-up path: the snapshot's first path that is not its manifest."""
        manifest = self.manifest
        return next((p for p in self.paths if p != manifest), "")

    @property
    def service(self) -> str:
        """The ``service:`` tag."""
        return self.tags.get("service", "")

    @property
    def kind(self) -> str:
        """The ``kind:`` tag (db, volume, files)."""
        return self.tags.get("kind", "")

    @property
    def item(self) -> str:
        """The ``item:`` tag."""
        return self.tags.get("item", "")

    @property
    def run(self) -> str:
        """The ``run:`` tag."""
        return self.tags.get("run", "")


def _time(text: str) -> dt.datetime:
    # restic prints nanoseconds and a numeric offset: 2026-11-26T16:40:01.123456789+00:00
    head, _, rest = text.partition(".")
    frac, offset = "", "+00:00"
    for sep in ("+", "-", "Z"):
        if sep in rest:
            frac, _, off = rest.partition(sep)
            offset = "+00:00" if sep == "Z" else sep + off
            break
    else:
        frac = rest
    if not rest and len(head) > 19:
        head, offset = head[:19], head[19:] or "+00:00"
    micro = (frac + "000000")[:6] if frac else "000000"
    return dt.datetime.fromisoformat(f"{head}.{micro}{offset}").astimezone(dt.UTC)


def parse(text: str) -> list[Snapshot]:
    """Snapshots from ``restic snapshots --json`` output, oldest first."""
    data: Any = json.loads(text or "[]")
    out = []
    for s in data or []:
        tags = {}
        for t in s.get("tags") or []:
            k, _, v = str(t).partition(":")
            tags[k] = v
        out.append(Snapshot(str(s["id"]), str(s.get("short_id") or s["id"][:8]), _time(str(s["time"])),
                            tuple(s.get("paths") or ()), tags, str(s.get("hostname") or "")))
    return sorted(out, key=lambda s: (s.time, s.id))


def latest_per_item(snaps: Iterable[Snapshot], *, at_or_before: str | None = None) -> dict[str, Snapshot]:
    """Item name -> its newest snapshot (only runs up to *at_or_before*, a run stamp, when given)."""
    out: dict[str, Snapshot] = {}
    for s in snaps:
        if not s.item or (at_or_before and s.run > at_or_before):
            continue
        if s.item not in out or (s.time, s.id) > (out[s.item].time, out[s.item].id):
            out[s.item] = s
    return out


def select(snaps: list[Snapshot], ref: str) -> dict[str, Snapshot]:
    """The snapshots a restore uses: ``latest`` (newest per item), a run stamp, or a snapshot id.

    A snapshot id selects its whole run (the newest per item up to that run), so restoring
    "the backup of Tuesday night" brings every service back to that night.
    """
    if ref == "latest":
        return latest_per_item(snaps)
    runs = {s.run for s in snaps}
    if ref in runs:
        return latest_per_item(snaps, at_or_before=ref)
    hits = [s for s in snaps if s.id.startswith(ref) or s.short_id == ref]
    if not hits:
        return {}
    return latest_per_item(snaps, at_or_before=hits[0].run)


def latest_by_service(snaps: Iterable[Snapshot]) -> dict[str, dt.datetime]:
    """Service -> time of its newest snapshot (the health report's backup freshness)."""
    out: dict[str, dt.datetime] = {}
    for s in snaps:
        if s.service and (s.service not in out or s.time > out[s.service]):
            out[s.service] = s.time
    return out


def age_text(delta: dt.timedelta) -> str:
    """A duration as ``2h05m``, ``3m12s`` or ``45s`` (RPO and recovery times)."""
    total = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
