"""PostgreSQL (+pgvector), MariaDB and Redis from the offline kit honour the official images' contracts.

Real containers on the real engine, with the healthchecks the catalog uses.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.engine.conftest import LABEL, Containers, docker

pytestmark = pytest.mark.engine


def health(cmd: str, interval: str = "1s") -> tuple[str, ...]:
    """``docker run`` options for a CMD-SHELL healthcheck polled every *interval*."""
    return ("--health-cmd", cmd, "--health-interval", interval, "--health-retries", "5", "--health-timeout", "10s")


def _shared_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


# Both PostgreSQL majors of the kit keep the one contract: Debian's 15 and the catalog's 16.
POSTGRES_MAJORS = pytest.mark.parametrize(("recipe", "major"), [("postgres", 15), ("postgres-16", 16)])


@POSTGRES_MAJORS
def test_postgres_contract_initdb_and_pgvector(
    containers: Containers, kit_images: dict[str, str], tmp_path: Path, recipe: str, major: int
) -> None:
    initdb = _shared_dir(tmp_path / "initdb")
    (initdb / "01-schema.sql").write_text("CREATE TABLE kpi (name text PRIMARY KEY, value int);\n")
    (initdb / "02-rows.sql.gz").write_bytes(gzip.compress(b"INSERT INTO kpi VALUES ('leads', 7);\n"))
    (initdb / "03-role.sh").write_text(
        '#!/bin/bash\nset -e\npsql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" '
        "-c \"CREATE ROLE metabase_ro LOGIN PASSWORD 'ro'\"\n"
    )
    for f in initdb.iterdir():
        f.chmod(0o755 if f.suffix == ".sh" else 0o644)
    secrets = _shared_dir(tmp_path / "secrets")
    (secrets / "pg_password").write_text("s3cret-pw\n")
    (secrets / "pg_password").chmod(0o644)
    net = f"{containers.prefix}-net"
    docker("network", "create", "--label", LABEL, net)
    pg = containers.run(
        "pg",
        kit_images[recipe],
        options=(
            "--network",
            net,
            "--network-alias",
            "warehouse-db",
            "-e",
            "POSTGRES_USER=zixly",
            "-e",
            "POSTGRES_PASSWORD_FILE=/run/secrets/pg_password",
            "-e",
            "POSTGRES_DB=warehouse",
            "-v",
            f"{initdb}:/docker-entrypoint-initdb.d:ro",
            "-v",
            f"{secrets}:/run/secrets:ro",
            # over TCP, as the catalog does: during initdb the entrypoint's temporary server listens
            # only on the socket, so a socket check is "ready" before the init scripts have run
            *health("pg_isready -U $POSTGRES_USER -h 127.0.0.1"),
        ),
    )
    containers.wait_health(pg)

    def psql(sql: str) -> str:
        return containers.exec(pg, "psql", "-U", "zixly", "-d", "warehouse", "-At", "-c", sql).stdout.strip()

    assert psql("SELECT current_setting('server_version_num')::int / 10000") == str(major)
    assert psql("SELECT version()").startswith(f"PostgreSQL {major}.")
    assert psql("SELECT value FROM kpi WHERE name = 'leads'") == "7"
    assert psql("SELECT count(*) FROM pg_roles WHERE rolname = 'metabase_ro'") == "1"
    psql("CREATE EXTENSION IF NOT EXISTS vector")
    assert psql("SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector") == "1"
    assert psql("SHOW password_encryption") == "scram-sha-256"
    assert psql("SHOW listen_addresses") == "*"
    assert containers.exec(pg, "stat", "-c", "%u", "/var/lib/postgresql/data").stdout.strip() == "999"
    for tool in ("pg_dump", "pg_dumpall", "pg_restore", "pg_isready", "psql"):
        assert f" {major}." in containers.exec(pg, tool, "--version").stdout
    dump = containers.exec(pg, "pg_dump", "-U", "zixly", "-d", "warehouse", "-t", "kpi").stdout
    assert "CREATE TABLE public.kpi" in dump and f"Dumped from database version {major}." in dump

    client = (
        "--rm",
        "--network",
        net,
        "--label",
        LABEL,
        "--entrypoint",
        "psql",
        kit_images[recipe],
    )
    ok = docker(
        "run", *client, "postgresql://zixly:s3cret-pw@warehouse-db:5432/warehouse", "-Atc", "SELECT current_user"
    )
    assert ok.stdout.strip() == "zixly"
    bad = docker("run", *client, "postgresql://zixly:wrong@warehouse-db:5432/warehouse", "-c", "SELECT 1", check=False)
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr


@POSTGRES_MAJORS
def test_postgres_refuses_to_init_without_password(
    containers: Containers, kit_images: dict[str, str], recipe: str, major: int
) -> None:
    name = containers.run("pg-nopw", kit_images[recipe])
    docker("wait", name, timeout=120)
    logs = docker("logs", name).stderr
    assert "superuser password is not specified" in logs


def test_postgres_16_refuses_a_15_data_directory_and_leaves_it_alone(
    containers: Containers, kit_images: dict[str, str]
) -> None:
    """A volume made by the 15 image, started with the 16 one (a deployment whose pin moved a major
    without a dump/restore): the entrypoint exits naming the image for that data; nothing is written."""
    volume = f"{containers.prefix}-pgdata"
    docker("volume", "create", "--label", LABEL, volume)
    old = containers.run("pg15", kit_images["postgres"],
                         options=("-e", "POSTGRES_PASSWORD=pw", "-v", f"{volume}:/var/lib/postgresql/data",
                                  *health("pg_isready -U postgres -h 127.0.0.1")))
    containers.wait_health(old)
    containers.exec(old, "psql", "-U", "postgres", "-c", "CREATE TABLE kept (v int); INSERT INTO kept VALUES (15)")
    docker("stop", old, timeout=120)
    new = containers.run("pg16", kit_images["postgres-16"],
                         options=("-e", "POSTGRES_PASSWORD=pw", "-v", f"{volume}:/var/lib/postgresql/data"))
    assert docker("wait", new, timeout=120).stdout.strip() == "1"
    logs = docker("logs", new).stderr
    assert "holds a PostgreSQL 15 data directory; this image runs PostgreSQL 16" in logs
    assert "zixly-offline/postgres:15" in logs
    docker("start", old)
    containers.wait_health(old)
    rows = containers.exec(old, "psql", "-U", "postgres", "-Atc", "SELECT v FROM kept").stdout.strip()
    assert rows == "15", "the 15 server still opens its data"


def test_mariadb_contract_and_healthcheck(containers: Containers, kit_images: dict[str, str], tmp_path: Path) -> None:
    initdb = _shared_dir(tmp_path / "initdb")
    (initdb / "10-seed.sql").write_text(
        "CREATE TABLE invoices (id int PRIMARY KEY); INSERT INTO invoices VALUES (1), (2);\n"
    )
    (initdb / "10-seed.sql").chmod(0o644)
    secrets = _shared_dir(tmp_path / "secrets")
    (secrets / "root_pw").write_text("r00t-pw")
    (secrets / "root_pw").chmod(0o644)
    db = containers.run(
        "mariadb",
        kit_images["mariadb"],
        options=(
            "-e",
            "MARIADB_ROOT_PASSWORD_FILE=/run/secrets/root_pw",
            "-e",
            "MARIADB_DATABASE=ninja",
            "-e",
            "MARIADB_USER=ninja",
            "-e",
            "MARIADB_PASSWORD=n1nja-pw",
            "-v",
            f"{initdb}:/docker-entrypoint-initdb.d:ro",
            "-v",
            f"{secrets}:/run/secrets:ro",
            *health("healthcheck.sh --connect --innodb_initialized"),
        ),
    )
    containers.wait_health(db)
    rows = containers.exec(
        db, "mariadb", "-h", "127.0.0.1", "-uninja", "-pn1nja-pw", "ninja", "-N", "-e", "SELECT count(*) FROM invoices"
    ).stdout.strip()
    assert rows == "2"
    root = containers.exec(
        db,
        "mariadb",
        "-h",
        "127.0.0.1",
        "-uroot",
        "-pr00t-pw",
        "-N",
        "-e",
        "SELECT count(*) FROM mysql.user WHERE user='root' AND host='%'",
    ).stdout.strip()
    assert root == "1"
    denied = containers.exec(db, "mariadb", "-h", "127.0.0.1", "-uninja", "-pwrong", "-e", "SELECT 1", check=False)
    assert denied.returncode != 0
    assert "is alive" in containers.exec(db, "mysqladmin", "-uroot", "-pr00t-pw", "ping").stdout
    dump = containers.exec(db, "mariadb-dump", "-uroot", "-pr00t-pw", "ninja").stdout
    assert "INSERT INTO `invoices`" in dump
    assert containers.exec(db, "stat", "-c", "%u", "/var/lib/mysql").stdout.strip() == "999"


def test_mariadb_mysql_aliases(containers: Containers, kit_images: dict[str, str]) -> None:
    db = containers.run(
        "mysql-alias",
        kit_images["mariadb"],
        options=(
            "-e",
            "MYSQL_ROOT_PASSWORD=alias-root",
            "-e",
            "MYSQL_DATABASE=app",
            "-e",
            "MYSQL_USER=app",
            "-e",
            "MYSQL_PASSWORD=app-pw",
            *health("healthcheck.sh --connect --innodb_initialized"),
        ),
    )
    containers.wait_health(db)
    out = containers.exec(
        db, "mariadb", "-h", "127.0.0.1", "-uapp", "-papp-pw", "app", "-N", "-e", "SELECT DATABASE()"
    ).stdout.strip()
    assert out == "app"


def test_redis_args_and_healthcheck(containers: Containers, kit_images: dict[str, str]) -> None:
    net = f"{containers.prefix}-net"
    docker("network", "create", "--label", LABEL, net)
    redis = containers.run(
        "redis",
        kit_images["redis"],
        "redis-server",
        "--requirepass",
        "r3dis",
        "--appendonly",
        "yes",
        options=(
            "--network",
            net,
            "--network-alias",
            "cache",
            *health("redis-cli -a r3dis --no-auth-warning ping | grep -q PONG"),
        ),
    )
    containers.wait_health(redis)

    def cli(*args: str) -> str:
        return containers.exec(redis, "redis-cli", "-a", "r3dis", "--no-auth-warning", *args).stdout

    assert cli("CONFIG", "GET", "appendonly").split() == ["appendonly", "yes"]
    assert cli("CONFIG", "GET", "dir").split() == ["dir", "/data"]
    assert containers.exec(redis, "stat", "-c", "%U", "/data").stdout.strip() == "redis"
    remote = docker(
        "run",
        "--rm",
        "--network",
        net,
        "--label",
        LABEL,
        kit_images["redis"],
        "redis-cli",
        "-h",
        "cache",
        "-a",
        "r3dis",
        "--no-auth-warning",
        "SET",
        "k",
        "v",
    )
    assert remote.stdout.strip() == "OK"
    assert cli("GET", "k").strip() == "v"


def test_redis_options_only_command(containers: Containers, kit_images: dict[str, str]) -> None:
    redis = containers.run(
        "redis-opts",
        kit_images["redis"],
        "--save",
        "",
        "--maxmemory",
        "64mb",
        options=health("redis-cli ping | grep -q PONG"),
    )
    containers.wait_health(redis)
    out = containers.exec(redis, "redis-cli", "CONFIG", "GET", "maxmemory").stdout.split()
    assert out == ["maxmemory", str(64 * 1024 * 1024)]


@pytest.mark.parametrize(
    ("image", "path", "owner"),
    [
        ("postgres", "/var/lib/postgresql/data", "postgres"),
        ("mariadb", "/var/lib/mysql", "mysql"),
        ("redis", "/data", "redis"),
    ],
)
def test_data_dirs_belong_to_the_service_user(kit_images: dict[str, str], image: str, path: str, owner: str) -> None:
    """As in the official images, so a new volume works with a non-root ``user:`` too."""
    res = docker("run", "--rm", "--entrypoint", "stat", kit_images[image], "-c", "%U", path)
    assert res.stdout.strip() == owner
