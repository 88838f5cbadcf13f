"""The business-data warehouse: schema migrations, roles, and deterministic demo data.

Everything here talks to PostgreSQL through :class:`~zixly_stack.warehouse.psql.SqlRunner`
(``psql`` driven by argv lists with the SQL on stdin), so the same code runs against a
PostgreSQL on this machine (tests) and inside the warehouse container on a host (hooks).
"""

from .psql import HostPsql, SqlError, SqlRunner

__all__ = ["HostPsql", "SqlError", "SqlRunner"]
