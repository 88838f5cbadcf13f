"""argv run INSIDE data-store containers (after ``docker exec``): PostgreSQL, MariaDB, Redis. Pure.

Passwords never appear here: PostgreSQL runs as its local superuser (peer/trust inside
the server container), MariaDB reads ``$MARIADB_ROOT_PASSWORD_FILE`` inside the container
into ``MYSQL_PWD``, Redis reads ``$REDIS_PASSWORD_FILE`` into ``REDISCLI_AUTH``; values a
command needs from outside (a drill user's password) go on stdin.
"""

from __future__ import annotations

PG_ADMIN = "postgres"

# -- PostgreSQL --------------------------------------------------------------------------------


# Before the archive's SQL, in the same transaction: every schema of the database goes (objects the
# archive does not hold, such as the tables a newer app version added with foreign keys to the old
# ones, made `pg_restore --clean` fail: it drops only what the archive holds), then the public schema
# comes back as PostgreSQL 15+ creates it (the archive holds every schema but public's CREATE).
_PG_EMPTY = (
    "DO $zixly$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname NOT IN "
    "('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE "
    "'pg\\_temp\\_%' LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END $zixly$;\n"
    "CREATE SCHEMA public AUTHORIZATION pg_database_owner;\n"
    "GRANT USAGE ON SCHEMA public TO PUBLIC;\n"
)
# A failed pg_restore (a truncated archive) must not let psql commit what came before: `\.` ends a COPY
# it may have been cut in, then an error; with ON_ERROR_STOP psql rolls the one transaction back.
_PG_FAILED = "\\.\nDO $zixly$ BEGIN RAISE EXCEPTION 'pg_restore failed: nothing was changed'; END $zixly$;\n"
_PG_RESTORE = (
    'db=$1; user=$2; { printf "%s" "$3"; pg_restore -f - || printf "%s" "$4"; } '
    '| psql -X -q -U "$user" -d "$db" -v ON_ERROR_STOP=1 --single-transaction -f -'
)


def pg_restore_clean(database: str) -> list[str]:
    """Load a ``pg_dump -Fc`` archive from stdin into *database*, replacing ALL it holds, in one transaction:
    afterwards the database is exactly the archive's; on any failure it is exactly as it was."""
    return ["sh", "-c", _PG_RESTORE, "sh", database, PG_ADMIN, _PG_EMPTY, _PG_FAILED]


def pg_restore_into(database: str) -> list[str]:
    """Load a ``pg_dump -Fc`` archive from stdin into the (new, empty) *database*."""
    return ["pg_restore", "-U", PG_ADMIN, "--exit-on-error", "-d", database]


def pg_restore_sql() -> list[str]:
    """The archive on stdin as plain SQL on stdout (what it holds, without loading it)."""
    return ["pg_restore", "-f", "-"]


def createdb(database: str, owner: str) -> list[str]:
    """Create *database* owned by *owner*."""
    return ["createdb", "-U", PG_ADMIN, "-O", owner, database]


def psql(database: str, sql: str) -> list[str]:
    """Run *sql* (no values in it) in *database*: unaligned, tab-separated rows, stop at the first error."""
    return ["psql", "-U", PG_ADMIN, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", sql]


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


# -- MariaDB -----------------------------------------------------------------------------------
_ROOT = 'MYSQL_PWD=$(cat "$MARIADB_ROOT_PASSWORD_FILE"); export MYSQL_PWD; '
_RECREATE = (
    _ROOT + 'mariadb -uroot -e "DROP DATABASE IF EXISTS \\`$1\\`; '
    'CREATE DATABASE \\`$1\\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" && exec mariadb -uroot "$1"'
)
_DUMP = (
    _ROOT + 'exec mariadb-dump -uroot --single-transaction --quick '
    '--skip-extended-insert --routines --triggers --hex-blob "$1"'
)
_COUNTS = (
    'for t in $(mariadb -uroot -N -e "SELECT table_name FROM information_schema.tables '
    "WHERE table_schema='$1' AND table_type='BASE TABLE'\"); do "
    'printf "%s\\t%s\\n" "$t" "$(mariadb -uroot -N -e "SELECT COUNT(*) FROM \\`$1\\`.\\`$t\\`")"; done'
)
DUMP_COMPLETED = b"-- Dump completed"  # mariadb-dump's last line, with or without the date


def mariadb_recreate_load(database: str) -> list[str]:
    """Drop and create *database* (utf8mb4), then load the SQL on stdin into it (the server's root)."""
    return ["sh", "-c", _RECREATE, "sh", database]


def mariadb_dump(database: str) -> list[str]:
    """The current contents of *database* as SQL on stdout (the server's root)."""
    return ["sh", "-c", _DUMP, "sh", database]


def mariadb_root(database: str = "") -> list[str]:
    """``mariadb -uroot [DB]`` reading SQL from stdin (a scratch server without a root password)."""
    return ["mariadb", "-uroot", *([database] if database else [])]


def mariadb_sql(sql: str) -> list[str]:
    """Run *sql* (no values in it) as root of a scratch server."""
    return ["mariadb", "-uroot", "-e", sql]


def mariadb_counts(database: str) -> list[str]:
    """``table<TAB>rows`` of every base table of *database* (scratch server)."""
    return ["sh", "-c", _COUNTS, "sh", database]


# -- Redis -------------------------------------------------------------------------------------
# A second server in the scratch container loads the RDB (the first one only keeps it running).
_REDIS_LOAD = (
    'redis-server --port 6380 --dir "${1%/*}" --dbfilename "${1##*/}" --appendonly no --save "" '
    '--pidfile "" --daemonize yes >&2 || exit 1; i=0; '
    'until [ "$(redis-cli -p 6380 ping 2>/dev/null)" = PONG ]; do '
    'i=$((i+1)); [ $i -lt 600 ] || { echo "redis did not load the RDB" >&2; exit 1; }; sleep 0.2; done; '
    'redis-cli -p 6380 info keyspace; rc=$?; redis-cli -p 6380 shutdown nosave >/dev/null 2>&1; exit $rc'
)
# The drill's scratch Redis with a password like the real one: the config on stdin (as the catalog's
# server does), the password read from the Compose secret file -- in no argv, no env var.
REDIS_SCRATCH_SERVER = (
    'exec redis-server - <<EOF\nrequirepass $(cat "$REDIS_PASSWORD_FILE")\nbind * -::*\nport 6379\n'
    'dir /data\nsave ""\nappendonly no\nEOF\n'
)
REDIS_PING = 'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" redis-cli -h 127.0.0.1 ping | grep -q PONG'


def redis_check_rdb(path: str) -> list[str]:
    """``redis-check-rdb PATH`` (its ``[info] N keys read`` lines)."""
    return ["redis-check-rdb", path]


def redis_load_keyspace(path: str) -> list[str]:
    """Load the RDB at *path* in a second, throwaway server and print its ``INFO keyspace``."""
    return ["sh", "-c", _REDIS_LOAD, "sh", path]


def write_stdin_to(path: str) -> list[str]:
    """stdin into *path* inside the container."""
    return ["sh", "-c", 'cat >"$1"', "sh", path]
