"""The ``pg_stable`` filter of the backup script against a real pg_dump (Debian's PostgreSQL, no
engine): two custom-format dumps of an unchanged database differ only in their creation time, so
restic would store the first chunk of every dump again each night. After the filter they are
byte-identical, still restorable, and a changed row still changes the dump. Input that is not a
pg_dump archive passes through untouched."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

from tests.warehouse.pgserver import PgServer, pg_server
from zixly_stack.render.backup.script import PG_STABLE_PERL

__all__ = ["pg_server"]


def _dump(server: PgServer, db: str) -> bytes:
    env = {**os.environ, "PGPASSWORD": server.password.reveal()}
    return subprocess.run([str(server.bindir / "pg_dump"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
                           "-Fc", "-Z0", db], env=env, capture_output=True, check=True).stdout


def _stable(data: bytes) -> bytes:
    return subprocess.run(["perl", "-e", PG_STABLE_PERL], input=data, capture_output=True, check=True).stdout


def test_unchanged_database_dumps_identically_and_restores(pg_server: PgServer, tmp_path: Path) -> None:
    db = f"stable_{secrets.token_hex(4)}"
    admin = pg_server.runner("postgres")
    admin.run(f"CREATE DATABASE {db};")
    try:
        pg_server.runner(db).run("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS h "
                                 "FROM generate_series(1, 20000) g;")
        first = _dump(pg_server, db)
        time.sleep(1.1)  # the header stores seconds: a second later the raw dumps differ
        second = _dump(pg_server, db)
        assert first != second, "raw dumps a second apart should differ in their creation time"
        assert len(first) == len(second)
        differing = [i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
        assert max(differing) < 64, f"raw dumps differ beyond the header: {differing[:5]}"
        s1, s2 = _stable(first), _stable(second)
        assert s1 == s2 and len(s1) == len(first)
        # still a valid archive: pg_restore lists it and restores every row
        archive = tmp_path / "d.dump"
        archive.write_bytes(s1)
        listed = subprocess.run([str(pg_server.bindir / "pg_restore"), "-l", str(archive)], capture_output=True,
                                text=True, check=True).stdout
        assert "Archive created at 2000-01-01 00:00:00" in listed and "TABLE DATA public t" in listed
        copy = f"{db}_copy"
        admin.run(f"CREATE DATABASE {copy};")
        try:
            env = {**os.environ, "PGPASSWORD": pg_server.password.reveal()}
            subprocess.run([str(pg_server.bindir / "pg_restore"), "-h", "127.0.0.1", "-p", str(pg_server.port),
                            "-U", "postgres", "-d", copy, str(archive)], env=env, check=True, capture_output=True)
            assert pg_server.runner(copy).run("SELECT count(*), sum(id) FROM t;").strip() in {"20000|200010000",
                                                                                              "20000\t200010000"}
        finally:
            admin.run(f"DROP DATABASE IF EXISTS {copy} WITH (FORCE);")
        # a changed row changes the (filtered) dump
        pg_server.runner(db).run("UPDATE t SET h = 'changed' WHERE id = 7;")
        assert _stable(_dump(pg_server, db)) != s1
    finally:
        admin.run(f"DROP DATABASE IF EXISTS {db} WITH (FORCE);")


def test_other_input_passes_through_unchanged() -> None:
    for data in (b"", b"PGDMP", b"-- MariaDB dump\n" * 100, os.urandom(300_000), b"PGDMP\x09\x09\x00" + b"\x01" * 200):
        assert _stable(data) == data
