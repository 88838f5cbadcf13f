"""Load a demo :class:`~zixly_stack.warehouse.demo.Dataset` with ``COPY``, exactly once.

Contract:

* The payload is one psql script: ``BEGIN``, one ``COPY ... FROM STDIN`` per table (text
  format), identity sequences moved past the explicit ids, a ``zixly.demo_loads`` row
  (seed, generator, SHA-256 of the payload), ``COMMIT``. All or nothing.
* Re-loading the same seed whose recorded digest matches changes nothing (``changed`` is
  False). A different digest for the same seed, another seed already loaded, or business
  rows already present (real data) raise :class:`DemoDataError` before anything is sent:
  demo data never mixes with real data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .demo import GENERATOR, Dataset, Value
from .psql import SqlRunner, literal, rows

SCHEMA = "warehouse"


class DemoDataError(RuntimeError):
    """The warehouse is not in a state demo data may be loaded into."""


@dataclass(frozen=True)
class LoadResult:
    """Outcome of :func:`load_dataset`."""

    changed: bool
    rows: int
    digest: str


def _text(value: Value) -> str:
    """One field in COPY text format (``\\N`` for NULL; backslash, tab, newline escaped)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | Decimal | int):
        return str(value)
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_payload(ds: Dataset) -> str:
    """The COPY blocks of every table (deterministic; hashed into the digest)."""
    out: list[str] = []
    for t in ds.tables:
        out.append(f"COPY {SCHEMA}.{t.name} ({', '.join(t.columns)}) FROM STDIN;")
        out.extend("\t".join(_text(v) for v in row) for row in t.rows)
        out.append("\\.")
    return "\n".join(out) + "\n"


def digest_of(ds: Dataset) -> str:
    """SHA-256 of the COPY payload."""
    return hashlib.sha256(copy_payload(ds).encode()).hexdigest()


def _sequence_sql(ds: Dataset) -> str:
    return "".join(
        f"SELECT setval(pg_get_serial_sequence('{SCHEMA}.{t.name}', 'id'), "
        f"(SELECT coalesce(max(id), 0) + 1 FROM {SCHEMA}.{t.name}), false);\n"
        for t in ds.tables
        if "id" in t.columns
    )


def _check(runner: SqlRunner, ds: Dataset, digest: str) -> bool:
    """True when this exact dataset is loaded already; raise when loading is unsafe."""
    loads = rows(runner.run("SELECT seed, digest FROM zixly.demo_loads ORDER BY seed;\n"))
    for seed, recorded in loads:
        if int(seed) == ds.seed and recorded == digest:
            return True
        if int(seed) == ds.seed:
            raise DemoDataError(
                f"demo seed {ds.seed} was loaded from different data (digest {recorded[:12]}, now {digest[:12]}): "
                "the generator changed; recreate the demo warehouse to load the new data"
            )
        raise DemoDataError(f"demo seed {seed} is loaded already; one demo dataset per warehouse")
    counts = " UNION ALL ".join(f"SELECT '{t.name}', count(*) FROM {SCHEMA}.{t.name}" for t in ds.tables)
    busy = [name for name, n in rows(runner.run(counts + ";\n")) if int(n) > 0]
    if busy:
        raise DemoDataError(f"the warehouse already holds business data ({', '.join(busy)}); demo data is only "
                            "loaded into an empty warehouse")
    return False


def load_dataset(runner: SqlRunner, ds: Dataset, *, timeout: float = 300.0) -> LoadResult:
    """Load *ds* once (module contract)."""
    digest = digest_of(ds)
    if _check(runner, ds, digest):
        return LoadResult(False, ds.row_count, digest)
    script = (
        "BEGIN;\n"
        + copy_payload(ds)
        + _sequence_sql(ds)
        + "INSERT INTO zixly.demo_loads (seed, generator, digest, rows) VALUES "
        f"({ds.seed}, {literal(GENERATOR)}, {literal(digest)}, {ds.row_count});\n"
        "COMMIT;\n"
    )
    runner.run(script, timeout=timeout)
    return LoadResult(True, ds.row_count, digest)
