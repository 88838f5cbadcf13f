"""loader/reader roles on a real PostgreSQL: logins, privileges, SCRAM verifiers, no-op reruns."""

from __future__ import annotations

import pytest

from tests.helpers import REPO
from tests.warehouse.pgserver import PgServer
from tests.warehouse.snapshot import snapshot
from zixly_stack.secrets.value import Secret
from zixly_stack.warehouse.migrations import discover, migrate
from zixly_stack.warehouse.psql import HostPsql, SqlError, rows
from zixly_stack.warehouse.roles import ensure_roles, scram_verifier, verifier_matches

PASSWORDS = {"loader": Secret("loader-pw-Abc123!'quote"), "reader": Secret("reader-pw-Xyz789$dollar")}


def _ready(db: HostPsql) -> None:
    migrate(db, discover(REPO / "services" / "warehouse" / "migrations"))


def test_verifier_matches_what_postgres_computes(warehouse_db: HostPsql) -> None:
    warehouse_db.run("CREATE ROLE loader LOGIN PASSWORD 'plain-text-pw';")
    stored = rows(warehouse_db.run("SELECT rolpassword FROM pg_authid WHERE rolname = 'loader';"))[0][0]
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert verifier_matches(stored, Secret("plain-text-pw"))
    assert not verifier_matches(stored, Secret("plain-text-pw2"))
    assert not verifier_matches("md5abc", Secret("plain-text-pw"))
    mine = scram_verifier(Secret("x"))
    assert verifier_matches(mine, Secret("x")) and mine != scram_verifier(Secret("x"))  # random salt


def test_roles_log_in_with_their_secrets_and_have_the_right_privileges(
    pg_server: PgServer, warehouse_db: HostPsql
) -> None:
    _ready(warehouse_db)
    result = ensure_roles(warehouse_db, PASSWORDS)
    assert set(result.created) == {"loader", "reader"} and set(result.password_set) == {"loader", "reader"}
    loader = pg_server.runner(warehouse_db.database, "loader", PASSWORDS["loader"])
    reader = pg_server.runner(warehouse_db.database, "reader", PASSWORDS["reader"])
    loader.run("INSERT INTO clients (name, tier) VALUES ('Acme', 'essentials');")  # search_path = warehouse
    assert rows(reader.run("SELECT name FROM clients;")) == [["Acme"]]
    with pytest.raises(SqlError, match=r"read-only transaction|permission denied"):
        reader.run("INSERT INTO clients (name, tier) VALUES ('Nope', 'essentials');")
    with pytest.raises(SqlError, match="permission denied"):
        loader.run("CREATE TABLE warehouse.sneaky (id int);")
    with pytest.raises(SqlError, match="permission denied"):
        reader.run("SELECT * FROM zixly.schema_migrations;")
    with pytest.raises(SqlError, match="password authentication failed"):
        pg_server.runner(warehouse_db.database, "reader", Secret("wrong")).run("SELECT 1;")


def test_second_run_changes_nothing_and_a_new_password_is_applied(
    pg_server: PgServer, warehouse_db: HostPsql
) -> None:
    _ready(warehouse_db)
    ensure_roles(warehouse_db, PASSWORDS)
    before = snapshot(pg_server, warehouse_db)
    again = ensure_roles(warehouse_db, PASSWORDS)
    assert not again.changed
    assert snapshot(pg_server, warehouse_db) == before
    rotated = {**PASSWORDS, "reader": Secret("a-new-reader-password")}
    third = ensure_roles(warehouse_db, rotated)
    assert third.password_set == ("reader",) and not third.created
    pg_server.runner(warehouse_db.database, "reader", rotated["reader"]).run("SELECT 1;")


def test_tables_added_later_are_granted_by_default_privileges(
    pg_server: PgServer, warehouse_db: HostPsql
) -> None:
    _ready(warehouse_db)
    ensure_roles(warehouse_db, PASSWORDS)
    warehouse_db.run("CREATE TABLE warehouse.later (id int); INSERT INTO warehouse.later VALUES (1);")
    reader = pg_server.runner(warehouse_db.database, "reader", PASSWORDS["reader"])
    assert rows(reader.run("SELECT id FROM later;")) == [["1"]]
