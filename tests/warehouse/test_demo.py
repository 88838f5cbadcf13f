"""The demo-data generator (pure, deterministic) and its COPY loader on a real PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from tests.helpers import REPO
from zixly_stack.warehouse.demo import generate
from zixly_stack.warehouse.load import DemoDataError, digest_of, load_dataset
from zixly_stack.warehouse.migrations import discover, migrate
from zixly_stack.warehouse.psql import HostPsql, rows


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    assert digest_of(generate(7)) == digest_of(generate(7))
    assert digest_of(generate(7)) != digest_of(generate(8))
    assert digest_of(generate(7, date(2024, 6, 30))) != digest_of(generate(7))


def test_volumes_are_those_of_a_five_consultant_firm() -> None:
    ds = generate()
    n = {t.name: len(t.rows) for t in ds.tables}
    assert n["consultants"] == 5 and n["clients"] == 40 and n["projects"] == 80
    assert 8000 <= n["time_entries"] <= 10500
    assert 300 <= n["invoices"] <= 500 and n["payments"] <= n["invoices"]
    assert n["support_tickets"] >= 300 and n["nps_responses"] >= 50
    assert n["campaigns"] == 12 and n["leads"] == 300 and n["custom_metrics"] >= 60
    entry_dates = [r[4] for r in ds.table("time_entries").rows]
    assert min(entry_dates) >= date(2025, 1, 1) and max(entry_dates) <= date(2025, 12, 31)  # type: ignore[operator]


def test_load_once_then_no_change_and_refusals(warehouse_db: HostPsql) -> None:
    migrate(warehouse_db, discover(REPO / "services" / "warehouse" / "migrations"))
    ds = generate()
    first = load_dataset(warehouse_db, ds)
    assert first.changed
    counts = dict(rows(warehouse_db.run(
        " UNION ALL ".join(f"SELECT '{t.name}', count(*) FROM warehouse.{t.name}" for t in ds.tables) + ";")))
    assert {k: int(v) for k, v in counts.items()} == {t.name: len(t.rows) for t in ds.tables}
    before = warehouse_db.run("SELECT count(*), sum(hours) FROM warehouse.time_entries; "
                              "SELECT * FROM zixly.demo_loads;")
    assert not load_dataset(warehouse_db, ds).changed
    assert warehouse_db.run("SELECT count(*), sum(hours) FROM warehouse.time_entries; "
                            "SELECT * FROM zixly.demo_loads;") == before
    with pytest.raises(DemoDataError, match="seed 2025 is loaded already"):
        load_dataset(warehouse_db, generate(99))
    # Sequences continue after the explicit ids: n8n's inserts do not collide.
    new_id = rows(warehouse_db.run(
        "INSERT INTO warehouse.clients (name, tier) VALUES ('After demo', 'essentials') RETURNING id;"))
    assert int(new_id[0][0]) == 41


def test_refuses_a_warehouse_with_real_data(warehouse_db: HostPsql) -> None:
    migrate(warehouse_db, discover(REPO / "services" / "warehouse" / "migrations"))
    warehouse_db.run("INSERT INTO warehouse.clients (name, tier) VALUES ('Real client', 'enterprise');")
    with pytest.raises(DemoDataError, match=r"already holds business data \(clients\)"):
        load_dataset(warehouse_db, generate())
    assert rows(warehouse_db.run("SELECT count(*) FROM warehouse.clients;")) == [["1"]]
