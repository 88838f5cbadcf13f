"""Stored results: one SQLite file under the state directory, one row per check per run.

Contract: :meth:`History.record` appends a report (creating the file); :meth:`History.apps` returns, per app, the
last ``limit`` runs' mean HTTP latency (oldest first), their statuses and the share of runs
in which the app was not critical (uptime). Safe to open concurrently (SQLite WAL, busy timeout).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .model import AppHistory, Report

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  env TEXT NOT NULL,
  at TEXT NOT NULL,
  status TEXT NOT NULL,
  duration_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  check_id TEXT NOT NULL,
  app TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  latency_ms REAL
);
CREATE INDEX IF NOT EXISTS results_run ON results(run_id);
CREATE TABLE IF NOT EXISTS app_runs (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  app TEXT NOT NULL,
  status TEXT NOT NULL,
  latency_ms REAL
);
CREATE INDEX IF NOT EXISTS app_runs_app ON app_runs(app, run_id);
"""


class History:
    """The history database of one state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=10)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)
            with con:
                yield con
        finally:
            con.close()

    def record(self, report: Report) -> int:
        """Store a report; return its run id."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO runs(env, at, status, duration_s) VALUES (?, ?, ?, ?)",
                (report.environment, report.generated_at, report.status.value, report.duration_s),
            )
            run_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO results(run_id, check_id, app, kind, status, latency_ms) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, r.check_id, r.app, r.kind, r.status.value, r.latency_ms) for r in report.results],
            )
            rows = []
            for app, results in report.apps().items():
                lat = [r.latency_ms for r in results if r.kind == "http" and r.latency_ms is not None]
                rows.append((run_id, app, report.app_status(app).value, sum(lat) / len(lat) if lat else None))
            db.executemany("INSERT INTO app_runs(run_id, app, status, latency_ms) VALUES (?, ?, ?, ?)", rows)
            return run_id

    def apps(self, env: str, limit: int = 48) -> dict[str, AppHistory]:
        """Per app: the last ``limit`` runs of ``env`` (see the module contract)."""
        out: dict[str, AppHistory] = {}
        if not self.path.exists():
            return out
        with self._db() as db:
            rows = db.execute(
                "SELECT a.app, a.status, a.latency_ms FROM app_runs a JOIN runs r ON r.id = a.run_id "
                "WHERE r.env = ? AND a.run_id IN (SELECT id FROM runs WHERE env = ? ORDER BY id DESC LIMIT ?) "
                "ORDER BY a.run_id",
                (env, env, limit),
            ).fetchall()
        grouped: dict[str, list[tuple[str, float | None]]] = {}
        for app, status, lat in rows:
            grouped.setdefault(str(app), []).append((str(status), None if lat is None else float(lat)))
        for app, entries in grouped.items():
            statuses = tuple(s for s, _ in entries)
            up = sum(1 for s in statuses if s != "critical")
            out[app] = AppHistory(
                latencies_ms=tuple(round(lat, 1) for _, lat in entries if lat is not None),
                statuses=statuses,
                uptime_pct=round(100.0 * up / len(statuses), 1) if statuses else None,
            )
        return out
