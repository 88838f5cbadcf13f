"""Versioned, checksummed schema migrations for the warehouse.

Contract:

* Migrations are files ``NNNN_name.sql`` (``services/warehouse/migrations/``), applied in
  version order, each in its own transaction together with its row in
  ``zixly.schema_migrations (version, name, checksum, applied_at)``; the checksum is the
  SHA-256 of the file's bytes.
* :func:`migrate` refuses (:class:`MigrationError`, nothing applied) when an applied
  migration's file changed, disappeared or was renamed, or when two files share a version.
* A second :func:`migrate` on an up-to-date database applies nothing and changes nothing
  (``CREATE ... IF NOT EXISTS`` on the bookkeeping only).
* Concurrent runs serialise on a transaction-level advisory lock; a migration that
  another run applied meanwhile fails on the primary key and is rolled back whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .psql import SqlRunner, literal, rows

FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
ADVISORY_LOCK = 7_365_001  # arbitrary constant: "zixly warehouse migrations"

BOOTSTRAP_SQL = """\
CREATE SCHEMA IF NOT EXISTS zixly;
CREATE TABLE IF NOT EXISTS zixly.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
SELECT version, name, checksum FROM zixly.schema_migrations ORDER BY version;
"""


class MigrationError(RuntimeError):
    """The migration files and the database disagree; nothing was applied."""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        """``0001_core``."""
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class MigrateResult:
    """What :func:`migrate` found and did."""

    applied: tuple[Migration, ...]
    already: tuple[Migration, ...]

    @property
    def changed(self) -> bool:
        """True when at least one migration was applied."""
        return bool(self.applied)


def discover(directory: Path) -> list[Migration]:
    """Every ``NNNN_name.sql`` in *directory*, by version; other files are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        m = FILE_RE.match(path.name)
        if not m:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql (lowercase, digits, _)")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path}: version {version:04d} is also {found[version].label}.sql")
        data = path.read_bytes()
        found[version] = Migration(version, m.group(2), data.decode("utf-8"), hashlib.sha256(data).hexdigest())
    return [found[v] for v in sorted(found)]


def pending(migrations: Sequence[Migration], applied: dict[int, tuple[str, str]]) -> list[Migration]:
    """Migrations not applied yet; :class:`MigrationError` if an applied one changed or vanished."""
    by_version = {m.version: m for m in migrations}
    problems: list[str] = []
    for version, (name, checksum) in sorted(applied.items()):
        mig = by_version.get(version)
        if mig is None:
            problems.append(f"{version:04d}_{name} is applied but its file is missing")
        elif mig.name != name:
            problems.append(f"{version:04d}_{name} is applied but the file is now {mig.label}.sql")
        elif mig.checksum != checksum:
            problems.append(
                f"{mig.label}.sql changed after it was applied (checksum {checksum[:12]} in the database, "
                f"{mig.checksum[:12]} on disk); revert the edit and add a new migration instead"
            )
    if problems:
        raise MigrationError("; ".join(problems))
    return [m for m in migrations if m.version not in applied]


def applied_versions(runner: SqlRunner) -> dict[int, tuple[str, str]]:
    """``{version: (name, checksum)}`` from the database (creating the bookkeeping if absent)."""
    return {int(v): (n, c) for v, n, c in rows(runner.run(BOOTSTRAP_SQL))}


def transaction_sql(mig: Migration) -> str:
    """The script applying one migration atomically with its bookkeeping row."""
    return (
        "BEGIN;\n"
        f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK});\n"
        f"{mig.sql.rstrip()}\n;\n"
        "INSERT INTO zixly.schema_migrations (version, name, checksum) VALUES "
        f"({mig.version}, {literal(mig.name)}, {literal(mig.checksum)});\n"
        "COMMIT;\n"
    )


def migrate(runner: SqlRunner, migrations: Sequence[Migration], *, timeout: float = 300.0) -> MigrateResult:
    """Apply every pending migration in order (see the module contract)."""
    applied = applied_versions(runner)
    todo = pending(migrations, applied)
    done: list[Migration] = []
    for mig in todo:
        runner.run(transaction_sql(mig), timeout=timeout)
        done.append(mig)
    return MigrateResult(tuple(done), tuple(m for m in migrations if m.version in applied))
