"""Warehouse migrations against a real PostgreSQL: apply, no-op rerun, refusals, atomicity."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.warehouse.pgserver import PgServer
from tests.warehouse.snapshot import snapshot
from zixly_stack.warehouse.migrations import MigrationError, discover, migrate
from zixly_stack.warehouse.psql import HostPsql, SqlError, rows

MIGRATIONS = REPO / "services" / "warehouse" / "migrations"
TABLES = {
    "service_tiers", "clients", "consultants", "projects", "time_entries", "invoices", "payments",
    "support_tickets", "nps_responses", "campaigns", "leads", "custom_metrics",
}


def _copy(tmp_path: Path) -> Path:
    dest = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, dest)
    return dest


def test_repo_migrations_are_well_formed() -> None:
    migs = discover(MIGRATIONS)
    assert [m.version for m in migs] == list(range(1, len(migs) + 1))
    assert migs[0].label == "0001_core"


def test_apply_on_empty_database_then_second_run_changes_nothing(pg_server: PgServer, warehouse_db: HostPsql) -> None:
    migs = discover(MIGRATIONS)
    first = migrate(warehouse_db, migs)
    assert [m.label for m in first.applied] == [m.label for m in migs] and first.changed
    tables = {r[0] for r in rows(warehouse_db.run(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'warehouse';"))}
    assert tables == TABLES
    before = snapshot(pg_server, warehouse_db)
    second = migrate(warehouse_db, migs)
    assert not second.changed and [m.label for m in second.already] == [m.label for m in migs]
    assert snapshot(pg_server, warehouse_db) == before


def test_new_migration_applies_alone(tmp_path: Path, warehouse_db: HostPsql) -> None:
    d = _copy(tmp_path)
    migrate(warehouse_db, discover(d))
    (d / "0002_add_region.sql").write_text("ALTER TABLE warehouse.clients ADD COLUMN region text;\n")
    result = migrate(warehouse_db, discover(d))
    assert [m.label for m in result.applied] == ["0002_add_region"]
    assert rows(warehouse_db.run("SELECT version FROM zixly.schema_migrations ORDER BY 1;")) == [["1"], ["2"]]


def test_refuses_when_an_applied_file_changed(tmp_path: Path, warehouse_db: HostPsql) -> None:
    d = _copy(tmp_path)
    migrate(warehouse_db, discover(d))
    core = d / "0001_core.sql"
    core.write_text(core.read_text() + "\n-- an innocent edit\n")
    (d / "0002_more.sql").write_text("CREATE TABLE warehouse.more (id int);\n")
    with pytest.raises(MigrationError, match=r"0001_core.sql changed after it was applied"):
        migrate(warehouse_db, discover(d))
    # Nothing else was applied either.
    assert rows(warehouse_db.run("SELECT count(*) FROM zixly.schema_migrations;")) == [["1"]]
    assert rows(warehouse_db.run("SELECT to_regclass('warehouse.more') IS NULL;")) == [["t"]]


def test_refuses_missing_and_renamed_files(tmp_path: Path, warehouse_db: HostPsql) -> None:
    d = _copy(tmp_path)
    (d / "0002_more.sql").write_text("CREATE TABLE warehouse.more (id int);\n")
    migrate(warehouse_db, discover(d))
    (d / "0002_more.sql").rename(d / "0002_renamed.sql")
    with pytest.raises(MigrationError, match=r"the file is now 0002_renamed\.sql"):
        migrate(warehouse_db, discover(d))
    (d / "0002_renamed.sql").unlink()
    with pytest.raises(MigrationError, match="0002_more is applied but its file is missing"):
        migrate(warehouse_db, discover(d))


def test_bad_file_names_and_duplicate_versions(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "2_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        discover(d)
    (d / "2_oops.sql").unlink()
    (d / "0001_again.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="version 0001 is also"):
        discover(d)


def test_failing_migration_leaves_nothing_behind(tmp_path: Path, warehouse_db: HostPsql) -> None:
    d = _copy(tmp_path)
    (d / "0002_broken.sql").write_text(
        "CREATE TABLE warehouse.half (id int);\nALTER TABLE warehouse.nope ADD COLUMN x int;\n"
    )
    with pytest.raises(SqlError, match="nope"):
        migrate(warehouse_db, discover(d))
    assert rows(warehouse_db.run("SELECT version FROM zixly.schema_migrations;")) == [["1"]]
    assert rows(warehouse_db.run("SELECT to_regclass('warehouse.half') IS NULL;")) == [["t"]]
    # Fixing the file lets the next run apply it.
    (d / "0002_broken.sql").write_text("CREATE TABLE warehouse.half (id int);\n")
    assert [m.label for m in migrate(warehouse_db, discover(d)).applied] == ["0002_broken"]
