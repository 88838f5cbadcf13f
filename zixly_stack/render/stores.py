"""Idempotent provisioning of databases, users and extensions on PostgreSQL and MariaDB.

The script runs as a one-shot job with the store's own image, waits for the server, and
creates or updates each app's role/user, database and extensions. Passwords arrive only
through the job's 0600 env file; the script text itself carries no secret.
"""

from __future__ import annotations

from .context import RenderContext, StoreEndpoint, secret_file_name

_PG = r"""#!/bin/sh
# Rendered by zixly: create/update app roles, databases and extensions. Idempotent.
set -eu
PGPASSWORD=$(cat "$ZIXLY_ADMIN_PASSWORD_FILE"); export PGPASSWORD
i=0
until pg_isready -h "$ZIXLY_SERVER" -U postgres -q; do
  i=$((i+1)); [ "$i" -lt 120 ] || { echo "provision: $ZIXLY_SERVER not ready" >&2; exit 1; }; sleep 1
done
n=0
while [ "$n" -lt "$ZIXLY_COUNT" ]; do
  n=$((n+1))
  eval "db=\$ZIXLY_DB_$n user=\$ZIXLY_USER_$n pwfile=\$ZIXLY_USER_${n}_PASSWORD_FILE ext=\$ZIXLY_EXT_$n"
  pw=$(cat "$pwfile")
  psql -h "$ZIXLY_SERVER" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
    -v user="$user" -v pw="$pw" -v db="$db" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'user') \gexec
SQL
  for e in $ext; do
    psql -h "$ZIXLY_SERVER" -U postgres -d "$db" -v ON_ERROR_STOP=1 -q -v e="$e" <<'SQL'
SELECT format('CREATE EXTENSION IF NOT EXISTS %I', :'e') \gexec
SQL
  done
  echo "provision: $db ready"
done
"""

_MARIADB = r"""#!/bin/sh
# Rendered by zixly: create/update app users and databases. Idempotent.
set -eu
MYSQL_PWD=$(cat "$ZIXLY_ADMIN_PASSWORD_FILE"); export MYSQL_PWD
i=0
until mariadb-admin ping -h "$ZIXLY_SERVER" -uroot --silent; do
  i=$((i+1)); [ "$i" -lt 120 ] || { echo "provision: $ZIXLY_SERVER not ready" >&2; exit 1; }; sleep 1
done
n=0
while [ "$n" -lt "$ZIXLY_COUNT" ]; do
  n=$((n+1))
  eval "db=\$ZIXLY_DB_$n user=\$ZIXLY_USER_$n pwfile=\$ZIXLY_USER_${n}_PASSWORD_FILE"
  pw=$(cat "$pwfile")
  pw_sql=$(printf '%s' "$pw" | sed "s/\\\\/\\\\\\\\/g; s/'/\\\\'/g")
  mariadb -h "$ZIXLY_SERVER" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$pw_sql';
ALTER USER '$user'@'%' IDENTIFIED BY '$pw_sql';
GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'%';
FLUSH PRIVILEGES;
SQL
  echo "provision: $db ready"
done
"""


def provision_script(kind: str) -> str:
    """The shell script for ``kind`` (postgres or mariadb)."""
    return _PG if kind == "postgres" else _MARIADB


def provision_env(
    ctx: RenderContext, kind: str, server: str, admin_secret: str, endpoints: list[StoreEndpoint]
) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """Env for the job (name, value, is_secret) and the secrets it reads as files.

    Passwords never travel in the environment: the job gets ``*_FILE`` paths under
    ``/run/secrets`` (Compose secrets), so ``docker inspect`` shows no credential.
    """
    files = [admin_secret]
    env: list[tuple[str, str, bool]] = [
        ("ZIXLY_SERVER", server, False),
        ("ZIXLY_COUNT", str(len(endpoints)), False),
        ("ZIXLY_ADMIN_PASSWORD_FILE", f"/run/secrets/{secret_file_name(admin_secret)}", False),
    ]
    exts = _extensions(ctx, kind)
    for i, ep in enumerate(sorted(endpoints, key=lambda e: e.database), start=1):
        env.append((f"ZIXLY_DB_{i}", ep.database, False))
        env.append((f"ZIXLY_USER_{i}", ep.user, False))
        env.append((f"ZIXLY_USER_{i}_PASSWORD_FILE", f"/run/secrets/{secret_file_name(ep.password_secret)}", False))
        files.append(ep.password_secret)
        if kind == "postgres":
            env.append((f"ZIXLY_EXT_{i}", " ".join(exts.get(ep.database, [])), False))
    return env, files


def _extensions(ctx: RenderContext, kind: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for app in ctx.stack.services.values():
        for b in app.stores:
            if b.kind == kind and b.extensions:
                out.setdefault(ctx.endpoint(app, b).database, []).extend(sorted(b.extensions))
    return out
