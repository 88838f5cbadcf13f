"""A real, throwaway PostgreSQL server for the warehouse and hook tests (no mocks).

Debian's PostgreSQL binaries (``/usr/lib/postgresql/<major>/bin``) run as the ``postgres``
system user in a temp directory on a free loopback port; Unix socket in the same temp dir.
Under CI a missing server package is installed with apt (``postgresql-15``); elsewhere the
tests skip. The superuser ``postgres`` has a password (TCP uses scram-sha-256), so role
passwords set by the code under test are checked by real logins.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.leaks import run_tempdir
from tests.harness.local_engine import unavailable
from zixly_stack.secrets.value import Secret
from zixly_stack.warehouse.psql import HostPsql

RUN_AS = "postgres"


def _bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return found[0].parent if found else None


def _ensure_binaries() -> Path:
    bindir = _bindir()
    if bindir is None and os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql-15"], check=True, capture_output=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        bindir = _bindir()
    if bindir is None:
        unavailable("PostgreSQL server binaries are not installed (apt-get install postgresql-15)")
    return bindir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", RUN_AS, "--", *argv], text=True, capture_output=True, check=False,
                          **kw)  # type: ignore[call-overload]


@dataclass(frozen=True)
class PgServer:
    """A running server: loopback port, superuser password."""

    port: int
    password: Secret
    bindir: Path

    def runner(self, database: str, user: str = "postgres", password: Secret | None = None) -> HostPsql:
        """psql against *database* over TCP as *user*."""
        return HostPsql("127.0.0.1", self.port, user, database, password or self.password)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole session."""
    bindir = _ensure_binaries()
    base = run_tempdir("pg")
    shutil.chown(base, RUN_AS)
    password = Secret(secrets.token_urlsafe(18))
    pwfile = base / "pw"
    pwfile.write_text(password.reveal() + "\n")
    shutil.chown(pwfile, RUN_AS)
    data = base / "data"
    init = _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                         "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"])
    assert init.returncode == 0, init.stderr
    pwfile.unlink()
    port = _free_port()
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} -c fsync=off"
    start = _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-o", opts, "-w",
                          "-t", "60", "start"])
    assert start.returncode == 0, start.stderr + (base / "log").read_text(errors="replace")
    try:
        server = PgServer(port, password, bindir)
        deadline = time.monotonic() + 30
        while True:
            try:
                server.runner("postgres").run("SELECT 1;")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def warehouse_db(pg_server: PgServer) -> Iterator[HostPsql]:
    """A fresh, empty ``warehouse_<random>`` database (superuser runner); roles dropped afterwards."""
    name = f"warehouse_{secrets.token_hex(4)}"
    admin = pg_server.runner("postgres")
    admin.run(f"CREATE DATABASE {name};")
    try:
        yield pg_server.runner(name)
    finally:
        admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")
        admin.run("DROP ROLE IF EXISTS loader; DROP ROLE IF EXISTS reader;")
