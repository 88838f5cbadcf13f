"""Run SQL scripts through ``psql``: argv lists only, SQL (and any secret in it) on stdin.

Contract:

* :class:`SqlRunner` is the one thing warehouse code needs: ``run(sql, timeout)`` feeds
  *sql* to ``psql -X -q -A -t -v ON_ERROR_STOP=1 -f -`` and returns its stdout (unaligned,
  tuples only, ``|``-separated); any error raises :class:`SqlError` with psql's message,
  never the script (it may carry password verifiers or data).
* :func:`~zixly_stack.commands.db.psql_argv` is the pure argv builder shared by every runner.
* :func:`literal` quotes a Python value as a SQL literal (standard-conforming strings).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..commands.db import psql_argv
from ..runner import LocalRunner
from ..secrets.value import Secret


class SqlError(RuntimeError):
    """psql failed; the message is psql's stderr (never the SQL that was sent)."""


class SqlRunner(Protocol):
    """Runs one SQL script in one psql session and returns its tuples-only output."""

    def run(self, sql: str, *, timeout: float = 120.0) -> str:
        """Run *sql*; raise :class:`SqlError` on any error (ON_ERROR_STOP)."""
        ...


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
    """Run *argv* on this machine with *sql* on stdin; stdout on success, :class:`SqlError` otherwise."""
    res = LocalRunner(env).run(argv, stdin=sql.encode(), timeout=timeout)
    if res.code == 124:
        raise SqlError(f"psql did not finish within {timeout:.0f}s")
    if not res.ok:
        raise SqlError(res.err.strip() or f"psql exited {res.code}")
    return res.out
