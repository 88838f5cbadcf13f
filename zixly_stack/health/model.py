"""Health report data: statuses, check specs, results and the report itself.

Pure data, no I/O. A :class:`Report` turns into the stable JSON document described by
``docs/health-report.schema.json`` (``SCHEMA_VERSION``); change that schema's version
when a field changes meaning or disappears (adding optional fields keeps the version).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


class Status(enum.Enum):
    """A check's verdict. Order matters: a group's status is its worst member's."""

    SKIPPED = "skipped"
    OK = "ok"
    UNKNOWN = "unknown"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Severity: skipped < ok < unknown < warning < critical."""
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        """The CLI exit code for a report whose overall status is this one (0, 1 or 2)."""
        if self is Status.CRITICAL:
            return 2
        if self in (Status.WARNING, Status.UNKNOWN):
            return 1
        return 0


_RANK = {Status.SKIPPED: 0, Status.OK: 1, Status.UNKNOWN: 2, Status.WARNING: 3, Status.CRITICAL: 4}



def worst(statuses: list[Status]) -> Status:
    """The most severe status; ``OK`` for an empty list or only skipped checks."""
    real = [s for s in statuses if s is not Status.SKIPPED]
    return max(real, key=lambda s: s.rank) if real else Status.OK


@dataclass(frozen=True)
class Result:
    """The outcome of one check.

    ``check_id`` is stable across runs (history and notifications key on it);
    ``latency_ms`` is set for network probes; ``details`` holds small JSON-safe facts.
    """

    check_id: str
    app: str
    kind: str
    target: str
    status: Status
    summary: str
    latency_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """This result as a JSON-safe dict (schema: ``#/$defs/check``)."""
        return {
            "id": self.check_id,
            "app": self.app,
            "kind": self.kind,
            "target": self.target,
            "status": self.status.value,
            "summary": self.summary,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "details": self.details,
        }


@dataclass(frozen=True)
class AppHistory:
    """Stored history of one app: recent latencies (oldest first) and the share of ok runs."""

    latencies_ms: tuple[float, ...] = ()
    statuses: tuple[str, ...] = ()
    uptime_pct: float | None = None


@dataclass(frozen=True)
class Drift:
    """The report's drift section: how the hosts differ from their deployed release (``zixly drift``).

    ``findings`` are :meth:`zixly_stack.plan.drift.Finding.to_json` objects (no secret ever: a
    secret file only "differs"); ``errors`` names hosts that could not be read; ``note`` says
    why drift was not checked at all (``checked`` False). Drift does not change the report's
    status: it is not a health problem, and ``zixly drift`` exits 2 on it.
    """

    checked: bool
    findings: tuple[dict[str, str], ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """Schema ``#/$defs/drift``."""
        return {"checked": self.checked, "count": len(self.findings), "findings": list(self.findings),
                "errors": dict(self.errors), "note": self.note}


@dataclass(frozen=True)
class Report:
    """One run of every check for an environment."""

    environment: str
    generated_at: str
    duration_s: float
    results: tuple[Result, ...]
    history: dict[str, AppHistory] = field(default_factory=dict)
    drift: Drift | None = None

    @property
    def status(self) -> Status:
        """The overall status: the worst of every check."""
        return worst([r.status for r in self.results])

    def apps(self) -> dict[str, list[Result]]:
        """Results grouped by app, apps in first-seen order."""
        groups: dict[str, list[Result]] = {}
        for r in self.results:
            groups.setdefault(r.app, []).append(r)
        return groups

    def app_status(self, app: str) -> Status:
        """The worst status among one app's checks."""
        return worst([r.status for r in self.results if r.app == app])

    def counts(self) -> dict[str, int]:
        """How many checks ended in each status (every status present, zero or more)."""
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        """The stable report document (``docs/health-report.schema.json``)."""
        apps = []
        for name, results in self.apps().items():
            hist = self.history.get(name)
            apps.append(
                {
                    "name": name,
                    "status": self.app_status(name).value,
                    "checks": [r.check_id for r in results],
                    "history": None
                    if hist is None
                    else {
                        "latencies_ms": list(hist.latencies_ms),
                        "statuses": list(hist.statuses),
                        "uptime_pct": hist.uptime_pct,
                    },
                }
            )
        return {
            "schema_version": SCHEMA_VERSION,
            "environment": self.environment,
            "generated_at": self.generated_at,
            "duration_s": round(self.duration_s, 3),
            "status": self.status.value,
            "exit_code": self.status.exit_code,
            "counts": self.counts(),
            "apps": apps,
            "checks": [r.to_json() for r in self.results],
            **({"drift": self.drift.to_json()} if self.drift is not None else {}),
        }
