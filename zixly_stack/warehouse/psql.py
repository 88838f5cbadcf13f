"""Run SQL scripts through ``psql``: argv lists only, SQL (and any secret in it) on stdin.

Contract:

* :class:`SqlRunner` is the one thing warehouse code needs: ``run(sql, timeout)`` feeds
  *sql* to ``psql -X -q -A -t -v ON_ERROR_STOP=1 -f -`` and returns its stdout (unaligned,
  tuples only, ``|``-separated); any error raises :class:`SqlError` with psql's message,
  never the script (it may carry password verifiers or data).
* :func:`psql_argv` is the pure argv builder shared by every runner.
* :func:`literal` quotes a Python value as a SQL literal (standard-conforming strings).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..secrets.value import Secret


class SqlError(RuntimeError):
    """psql failed; the message is psql's stderr (never the SQL that was sent)."""


class SqlRunner(Protocol):
    """Runs one SQL script in one psql session and returns its tuples-only output."""

    def run(self, sql: str, *, timeout: float = 120.0) -> str:
        """Run *sql*; raise :class:`SqlError` on any error (ON_ERROR_STOP)."""
        ...


def psql_argv(
    *, user: str, database: str, host: str | None = None, port: int | None = None, psql: str = "psql"
) -> list[str]:
    """``psql`` reading a script from stdin, stopping at the first error, machine-readable output."""
    argv = [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", database]
    if host is not None:
        argv += ["-h", host]
    if port is not None:
        argv += ["-p", str(port)]
    return [*argv, "-f", "-"]


def literal(value: object) -> str:
    """A SQL literal for ``None``, bool, int, float or str (single quotes doubled)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if "\x00" in text:
        raise ValueError("NUL bytes cannot be sent to PostgreSQL")
    return "'" + text.replace("'", "''") + "'"


def rows(output: str) -> list[list[str]]:
    """Split psql's unaligned tuples-only output into rows of ``|``-separated fields."""
    return [line.split("|") for line in output.splitlines() if line != ""]


@dataclass(frozen=True)
class HostPsql:
    """``psql`` on this machine against a server on *host*:*port* (password via ``PGPASSWORD``)."""

    host: str
    port: int
    user: str
    database: str
    password: Secret | None = None
    psql: str = "psql"

    def argv(self) -> list[str]:
        """The argv this runner executes."""
        return psql_argv(user=self.user, database=self.database, host=self.host, port=self.port, psql=self.psql)

    def run(self, sql: str, *, timeout: float = 120.0) -> str:
        """Run *sql* (see :class:`SqlRunner`)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "10"
        if self.password is not None:
            env["PGPASSWORD"] = self.password.reveal()
        return run_psql(self.argv(), sql, timeout=timeout, env=env)


def run_psql(argv: Sequence[str], sql: str, *, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run *argv* with *sql* on stdin; stdout on success, :class:`SqlError` otherwise."""
    try:
        proc = subprocess.run(
            list(argv), input=sql.encode(), capture_output=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise SqlError(f"psql did not finish within {timeout:.0f}s") from None
    except OSError as exc:
        raise SqlError(f"cannot run {argv[0]}: {exc.strerror}") from None
    if proc.returncode != 0:
        raise SqlError(proc.stderr.decode(errors="replace").strip() or f"psql exited {proc.returncode}")
    return proc.stdout.decode(errors="replace")
