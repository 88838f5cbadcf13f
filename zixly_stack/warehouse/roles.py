"""The warehouse's two login roles and their privileges, applied idempotently.

Contract:

* ``loader`` (n8n) may read and write rows in schema ``warehouse``; ``reader`` (Metabase)
  may only read them, and its sessions default to read-only transactions. Neither can
  create objects, and ``PUBLIC`` loses ``CONNECT`` on the database.
* Passwords never reach the server in clear: the client computes a SCRAM-SHA-256 verifier
  (RFC 5802/7677, what PostgreSQL stores) and sends that. Before setting one,
  :func:`ensure_roles` re-derives the stored verifier's proof from the secret with the
  stored salt and iteration count: when it matches, nothing is written, so a rerun
  changes nothing -- not even ``pg_authid``.
* Grants and default privileges are re-stated on every run; re-stating a privilege that
  is already granted changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..secrets.value import Secret
from .psql import SqlRunner, literal, rows

SCHEMA = "warehouse"
ROLES = ("loader", "reader")
SCRAM_ITERATIONS = 4096  # PostgreSQL's default scram_iterations


def _salted(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)


def scram_verifier(password: Secret, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`` for *password* (ASCII/UTF-8, no SASLprep)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = _salted(password.reveal(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def verifier_matches(verifier: str, password: Secret) -> bool:
    """True when the stored *verifier* was made from *password* (same salt and iterations)."""
    try:
        method, rest = verifier.split("$", 1)
        params, keys = rest.split("$", 1)
        iterations_s, salt_b64 = params.split(":", 1)
        if method != "SCRAM-SHA-256":
            return False
        expected = scram_verifier(password, salt=base64.b64decode(salt_b64), iterations=int(iterations_s))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected.split("$", 2)[2], keys)


@dataclass(frozen=True)
class RolesResult:
    """What :func:`ensure_roles` changed: role names created, passwords set."""

    created: tuple[str, ...]
    password_set: tuple[str, ...]

    @property
    def changed(self) -> bool:
        """True when a role or a password was written."""
        return bool(self.created or self.password_set)


def _state(runner: SqlRunner) -> dict[str, str]:
    sql = (
        "SELECT rolname, coalesce(rolpassword, '') FROM pg_authid WHERE rolname IN "
        f"({', '.join(literal(r) for r in ROLES)}) ORDER BY rolname;\n"
    )
    return {name: pw for name, pw in rows(runner.run(sql))}


def grants_sql() -> str:
    """Privileges of both roles; idempotent statements only."""
    s = SCHEMA
    return f"""\
DO $do$ BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO loader', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO reader', current_database());
END $do$;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA {s} TO loader, reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO loader;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO loader;
GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO loader;
ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO loader;
ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO reader;
"""


def role_settings_sql() -> str:
    """Per-role defaults: search path, read-only reader, statement timeouts."""
    return f"""\
ALTER ROLE loader SET search_path = {SCHEMA};
ALTER ROLE reader SET search_path = {SCHEMA};
ALTER ROLE reader SET default_transaction_read_only = on;
ALTER ROLE reader SET statement_timeout = '60s';
"""


def ensure_roles(runner: SqlRunner, passwords: Mapping[str, Secret]) -> RolesResult:
    """Create missing roles, set passwords that differ, re-state grants (module contract)."""
    missing = [r for r in ROLES if r not in passwords]
    if missing:
        raise ValueError(f"no password for role(s) {', '.join(missing)}")
    current = _state(runner)
    created = tuple(r for r in ROLES if r not in current)
    to_set = tuple(r for r in ROLES if not verifier_matches(current.get(r, ""), passwords[r]))
    script = ["BEGIN;"]
    for role in created:
        script.append(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;")
    for role in to_set:
        script.append(f"ALTER ROLE {role} PASSWORD {literal(scram_verifier(passwords[role]))};")
    script += [grants_sql(), role_settings_sql(), "COMMIT;"]
    runner.run("\n".join(script) + "\n")
    return RolesResult(created, to_set)
