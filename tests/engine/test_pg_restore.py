"""zixly's PostgreSQL restore (``zixly_stack.commands.db.pg_restore_clean``, what ``zixly restore`` and an
upgrade's checkpoint rollback run) on the kit's real PostgreSQL 16: the database becomes exactly the
archive's, even when a newer app version added tables with foreign keys to the archived ones (the
case of a failed upgrade after its migrations ran: ``pg_restore --clean`` refused to drop the
referenced keys); and a truncated archive changes nothing."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest

from tests.engine.conftest import RUN_PREFIX, Containers, docker
from zixly_stack.commands.db import PG_ADMIN, pg_restore_clean
from zixly_stack.engine import docker_argv, docker_env

pytestmark = [pytest.mark.engine]

SETUP = """
CREATE ROLE app LOGIN PASSWORD 'app-pw';
CREATE DATABASE app OWNER app;
"""
BEFORE = """
CREATE TABLE workflow (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO workflow SELECT g, 'wf ' || g FROM generate_series(1, 500) g;
CREATE SCHEMA reports;
CREATE TABLE reports.kpi (name text PRIMARY KEY, value int);
INSERT INTO reports.kpi VALUES ('leads', 7);
"""
# what a newer version's migrations do: a table referencing the old one, changed rows, a new schema
MIGRATED = """
CREATE TABLE agent_dependency (id int PRIMARY KEY, wf int NOT NULL REFERENCES workflow (id));
INSERT INTO agent_dependency VALUES (1, 1);
UPDATE workflow SET name = 'migrated ' || id;
DELETE FROM reports.kpi;
CREATE SCHEMA added;
CREATE TABLE added.t (x int);
"""
STATE = ("SELECT string_agg(n.nspname || '.' || c.relname, ',' ORDER BY 1, 2) FROM pg_class c JOIN pg_namespace n "
         "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema');"
         "SELECT md5(string_agg(id || name, ',' ORDER BY id)) FROM workflow;"
         "SELECT count(*) FROM reports.kpi;")


def psql(pg: str, sql: str, db: str = "app", user: str = PG_ADMIN) -> str:
    return docker("exec", "-i", pg, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db,
                  input=sql).stdout.strip()


def restore(pg: str, archive: bytes) -> subprocess.CompletedProcess[bytes]:
    """Our restore argv, the archive on stdin, as ``zixly restore`` pipes it (``docker exec -i``)."""
    return subprocess.run([*docker_argv(), "exec", "-i", pg, *pg_restore_clean("app")], input=archive,
                          capture_output=True, env=docker_env(), timeout=300, check=False)


@pytest.fixture
def pg(kit_images: dict[str, str]) -> Iterator[str]:
    cs = Containers(prefix=f"{RUN_PREFIX}-{secrets.token_hex(2)}")
    name = cs.run("pg", kit_images["postgres-16"], options=(
        "-e", "POSTGRES_USER=postgres", "-e", "POSTGRES_PASSWORD=admin-pw", "-e", "POSTGRES_DB=postgres",
        "--health-cmd", "pg_isready -U postgres -h 127.0.0.1", "--health-interval", "1s"))
    try:
        cs.wait_health(name)
        psql(name, SETUP, db="postgres")
        yield name
    finally:
        cs.cleanup()


def test_restore_replaces_what_a_newer_version_added_and_returns_the_archived_state(pg: str) -> None:
    psql(pg, BEFORE, user="app")
    archived = psql(pg, STATE)
    archive = subprocess.run([*docker_argv(), "exec", pg, "pg_dump", "-U", PG_ADMIN, "-Fc", "app"],
                             capture_output=True, env=docker_env(), check=True, timeout=120).stdout
    psql(pg, MIGRATED, user="app")
    assert psql(pg, STATE) != archived
    res = restore(pg, archive)
    assert res.returncode == 0, res.stderr.decode()
    assert psql(pg, STATE) == archived
    # the app's role still owns what it made and may create in public, as before
    assert psql(pg, "SELECT tableowner FROM pg_tables WHERE tablename = 'workflow';") == "app"
    psql(pg, "CREATE TABLE after_restore (x int); DROP TABLE after_restore;", user="app")

    psql(pg, MIGRATED, user="app")
    changed = psql(pg, STATE)
    cut = restore(pg, archive[: len(archive) * 2 // 3])
    assert cut.returncode != 0, "a truncated archive is an error"
    assert psql(pg, STATE) == changed, "a failed restore changes nothing"
