"""Every Metabase card's SQL, executed for real: the warehouse schema + demo data on a real
PostgreSQL, as the read-only ``reader`` role Metabase uses. Each card must return rows with
at least one non-zero value (an empty or all-zero card is a broken dashboard)."""

from __future__ import annotations

import pytest

from tests.helpers import REPO
from tests.warehouse.pgserver import PgServer
from zixly_stack.hooks.metabase_seeds import load_dashboards
from zixly_stack.secrets.value import Secret
from zixly_stack.warehouse.demo import generate
from zixly_stack.warehouse.load import load_dataset
from zixly_stack.warehouse.migrations import discover, migrate
from zixly_stack.warehouse.psql import HostPsql, rows
from zixly_stack.warehouse.roles import ensure_roles

DASHBOARDS = load_dashboards(REPO / "services" / "metabase" / "seeds" / "dashboards")
CARDS = [(d.name, c) for d in DASHBOARDS for c in d.cards]


def test_three_dashboards_with_cards() -> None:
    assert [d.name for d in DASHBOARDS] == ["Financial", "Service delivery", "Support"]
    assert all(len(d.cards) >= 5 for d in DASHBOARDS)


@pytest.fixture(scope="module")
def reader(pg_server: PgServer) -> HostPsql:
    admin = pg_server.runner("postgres")
    admin.run("DROP DATABASE IF EXISTS warehouse_cards WITH (FORCE); CREATE DATABASE warehouse_cards;")
    db = pg_server.runner("warehouse_cards")
    migrate(db, discover(REPO / "services" / "warehouse" / "migrations"))
    pw = Secret("reader-for-cards")
    ensure_roles(db, {"loader": Secret("loader-for-cards"), "reader": pw})
    load_dataset(db, generate())
    return pg_server.runner("warehouse_cards", "reader", pw)


@pytest.mark.parametrize(("dashboard", "card"), CARDS, ids=[f"{d}: {c.name}" for d, c in CARDS])
def test_card_sql_returns_rows_on_demo_data(reader: HostPsql, dashboard: str, card: object) -> None:
    sql = card.sql  # type: ignore[attr-defined]
    result = rows(reader.run(f"{sql};\n"))
    assert result, f"{dashboard} / {card.name}: no rows"  # type: ignore[attr-defined]
    numbers = [v for r in result for v in r if v.replace(".", "", 1).replace("-", "", 1).isdigit()]
    assert any(float(v) != 0 for v in numbers), f"{dashboard} / {card.name}: only zeros"  # type: ignore[attr-defined]
