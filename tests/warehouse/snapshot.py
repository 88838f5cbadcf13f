"""A textual snapshot of everything a warehouse run could change (schema, bookkeeping, roles)."""

from __future__ import annotations

import os
import subprocess

from tests.warehouse.pgserver import PgServer
from zixly_stack.warehouse.psql import HostPsql


def snapshot(server: PgServer, db: HostPsql) -> str:
    """``pg_dump --schema-only`` + migration rows + role verifiers/settings + row counts."""
    env = {**os.environ, "PGPASSWORD": server.password.reveal()}
    dump = subprocess.run(
        [str(server.bindir / "pg_dump"), "-s", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
         db.database],
        capture_output=True, text=True, env=env, check=True,
    ).stdout
    # pg_dump >= 15.14 brackets the dump with a random \restrict key: not part of the schema.
    dump = "\n".join(line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))
    meta = db.run(
        "SELECT version, name, checksum, applied_at FROM zixly.schema_migrations ORDER BY version;\n"
        "SELECT rolname, rolpassword, rolcanlogin FROM pg_authid WHERE rolname IN ('loader','reader') "
        "ORDER BY rolname;\n"
        "SELECT r.rolname, s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
        "ORDER BY 1;\n"
        "SELECT datacl FROM pg_database WHERE datname = current_database();\n"
    )
    return dump + "\n--meta--\n" + meta
