"""argv of a data-store major move (dump the old major, restore into the new one on a new volume). Pure.

Per engine (:data:`PROGRAMS`): how to tell the server is ready, list its databases, count the rows of
every table of one database, dump everything, restore that dump, and what runs after the restore.
They run INSIDE the two scratch servers (after ``docker exec``), as the engine's local superuser
over its socket: no password in any argv. The docker side (scratch servers without a network, the
new volume with its labels, sizes) is here too. docs/upgrades.md "Data-store majors".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from .docker import DOCKER

LABEL_MOVE = "org.zixly.data-move"  # on scratch servers and new volumes: the environment
LABEL_RETIRES = "org.zixly.retires"  # on a new volume: the volume whose data it took over
LABEL_SERVICE = "org.zixly.service"
LABEL_MAJOR = "org.zixly.data-major"

PG = "postgres"
PG_DATABASES = "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"
# every table (plain and partitioned) outside the system schemas with its row count, one query
PG_COUNTS = (
    "SELECT format('%I.%I', n.nspname, c.relname), (xpath('/row/c/text()', query_to_xml(format("
    "'SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1"
)


# The NEW major's pg_dumpall dumps the old server (PostgreSQL's advice for a major upgrade: the newer
# client knows both; an older one may write what the newer psql cannot read, e.g. 15.14's \restrict),
# over the old server's Unix socket, shared with the new scratch server at OLD_SOCKET.
# pg_dumpall writes ``CREATE ROLE postgres;`` for the superuser the new cluster was initialised with:
# that first line only is dropped (the role's ALTER ROLE with its password hash stays), so the restore
# can stop at the first real error. Whole lines matching PG_DROP go too: the column option ``pg_attver``
# that the kit's Debian PostgreSQL 15.20 records on every column and PostgreSQL 16 refuses
# ("unrecognized parameter"): bookkeeping of that build, no data (every table's rows are compared
# after the restore anyway). A fixed script; the role, socket and pattern are positional arguments.
PG_SOCKET = "/var/run/postgresql"
OLD_SOCKET = "/zixly-old-server"
PG_DROP = "^ALTER TABLE ONLY .+ ALTER COLUMN .+ SET [(]pg_attver=[0-9]+[)];$"
OLD_DATA = "/zixly-old-data"  # the old volume, read-only, in the container that copies its files
PG_DUMPALL = ('set -o pipefail; pg_dumpall -h "$2" -U "$1" | awk -v skip="CREATE ROLE $1;" -v drop="$3" '
              '\'!done && $0 == skip { done = 1; next } drop != "" && $0 ~ drop { next } { print }\'')


def _psql(database: str, sql: str) -> list[str]:
    return ["psql", "-X", "-U", PG, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", sql]


def pg_ident(name: str) -> str:
    """*name* as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _pg_after(databases: Sequence[str]) -> list[list[str]]:
    """Fresh statistics (the dump has none) and each database's collation version recorded as the new
    major's C library reports it."""
    return [["vacuumdb", "-U", PG, "--all", "--analyze-in-stages"],
            *(_psql("postgres", f"ALTER DATABASE {pg_ident(d)} REFRESH COLLATION VERSION")
              for d in databases if d != "template0")]


def _no_steps(databases: Sequence[str]) -> list[list[str]]:
    return []


@dataclass(frozen=True)
class Programs:
    """The in-container argv of one engine (module doc).

    Two ways to carry the data: ``dump`` piped into ``restore`` (PostgreSQL, MariaDB: a logical copy
    made by the new major's client), or, when ``copy`` is set, the old volume's files copied as they
    are into the new volume before the new major starts on them (Redis: a newer Redis loads an older
    one's RDB/AOF files) and ``convert`` run in the new major (its own format written)."""

    ready: tuple[str, ...]
    databases: tuple[str, ...]  # one database name per line
    count: Callable[[str], list[str]]  # ``table<TAB>rows`` of every table of one database
    socket: str = ""  # the old server's socket directory, shared with the new container at OLD_SOCKET
    dump: tuple[str, ...] = ()  # everything of the old server, to stdout: run in the NEW server's container
    restore: tuple[str, ...] = ()  # the dump, from stdin
    after: Callable[[Sequence[str]], list[list[str]]] = _no_steps  # on the new major, before the counts
    finish: tuple[tuple[str, ...], ...] = ()  # on the new major once the counts agree
    command: tuple[str, ...] = ()  # the scratch servers' command ("": the image's)
    old_command: tuple[str, ...] = ()  # the OLD scratch server's, when it differs
    copy: tuple[str, ...] = ()  # in a container of the new image: OLD_DATA (read-only) -> the data dir
    convert: tuple[tuple[str, ...], ...] = ()

    def counts(self, database: str) -> list[str]:
        """``table<TAB>rows`` of every table of *database*."""
        return self.count(database)

    def after_restore(self, databases: Sequence[str]) -> list[list[str]]:
        """What runs on the new major once the data is in, before the counts are compared."""
        return self.after(databases)


# -- MariaDB --------------------------------------------------------------------------------------
# The old major runs with --skip-grant-tables (no client reaches it: no network; the old root password
# is a secret the scratch server does not get, and nothing of the old volume changes). The new one
# is initialised with a throwaway root password (MARIADB_ROOT_PASSWORD, its environment), which its
# clients read through MYSQL_PWD: in no argv. The dump, by the NEW major's mariadb-dump over the old
# server's socket: every database with routines, events and triggers (the `mysql` schema too: the
# database, table and routine grants, roles; MARIADB_SKIP not), but the accounts (mysql.global_priv) go as rows
# REPLACEd into the new server's table, the new `healthcheck` accounts kept (their password is in
# the new volume's .my-healthcheck.cnf); root gets its old password back (the environment's
# admin_password). The privilege tables are read at the next FLUSH PRIVILEGES (mariadb-upgrade's
# last step) or start: until then the throwaway root keeps working for the checks.
MARIADB_SOCKET = "/run/mysqld"
MARIADB_SYSTEM = ("information_schema", "performance_schema", "sys", "mysql")
_MY = 'if [ -n "${MARIADB_ROOT_PASSWORD:-}" ]; then export MYSQL_PWD="$MARIADB_ROOT_PASSWORD"; fi; set -o pipefail; '
_MY_OPTS = "--no-defaults --protocol=socket -uroot"
MARIADB_DATABASES = ("SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN ("
                     + ", ".join(f"'{d}'" for d in MARIADB_SYSTEM) + ") ORDER BY 1")
# the statements that count every base table of the current database, then their result
MARIADB_COUNTS = ("SELECT CONCAT('SELECT ', QUOTE(table_name), ', COUNT(*) FROM `', REPLACE(table_name, '`', '``'), "
                  "'`;') FROM information_schema.tables WHERE table_schema = DATABASE() "
                  "AND table_type = 'BASE TABLE' ORDER BY table_name")
# --skip-ssl: over the socket; an 11.4+ client demands TLS by default, which an older server has not.
# tables of the `mysql` schema NOT carried as rows: the accounts (below), the routines (their CREATE
# statements come with each database: --routines; events go as mysql.event rows: a server without its
# grant tables has no event scheduler, and mariadb-dump --events writes none from it), statistics
# (ANALYZE recomputes them), the help text, replication and versioning bookkeeping, and the `user`
# view: the new major's own are kept
MARIADB_SKIP = ("global_priv", "user", "proc", "column_stats", "index_stats", "table_stats",
                "innodb_index_stats", "innodb_table_stats", "help_category", "help_keyword", "help_relation",
                "help_topic", "gtid_slave_pos", "transaction_registry")
MARIADB_DUMP = (
    'o="--no-defaults -uroot --socket=$1/mysqld.sock --skip-ssl --hex-blob --routines --events --triggers"; '
    "mariadb-dump $o --all-databases --ignore-database=sys "
    + " ".join(f"--ignore-table=mysql.{t}" for t in MARIADB_SKIP) + " && echo 'USE mysql;' && "
    "mariadb-dump $o --no-create-info --replace --skip-triggers --skip-add-locks --skip-disable-keys "
    "--where=\"User <> 'healthcheck'\" mysql global_priv"
)


def _maria(script: str, *args: str) -> list[str]:
    return ["bash", "-c", _MY + script, "bash", *args]


def _maria_count(database: str) -> list[str]:
    return _maria(f'mariadb {_MY_OPTS} -N -B -D "$1" -e "$2" | mariadb {_MY_OPTS} -N -B -D "$1"',
                  database, MARIADB_COUNTS)


def _maria_after(databases: Sequence[str]) -> list[list[str]]:
    return [_maria(f"mariadb-check {_MY_OPTS} --analyze --all-databases --silent")]


# -- Redis ----------------------------------------------------------------------------------------
# The files move: the old volume's AOF directory (and dump.rdb), copied as they are; the new major
# loads them with the catalog's persistence (appendonly yes), then rewrites the AOF in its own format.
# Each database's DBSIZE and a sample (the first REDIS_SAMPLE keys by name: type, element count and a
# digest of the value) are compared between the two.
REDIS_SAMPLE = 200
REDIS_SERVER = ("redis-server", "--appendonly", "yes", "--dir", "/data")
REDIS_DATABASES = ("sh", "-c", "redis-cli -h 127.0.0.1 INFO keyspace | sed -n 's/^db\\([0-9][0-9]*\\):.*/\\1/p'")
# per key: "<key> <type> <sha1 of its value>" TAB <elements>; hashes and sets in a fixed order
REDIS_SAMPLE_LUA = """local ks = redis.call('KEYS', '*'); table.sort(ks)
local out = {}
for i = 1, math.min(#ks, tonumber(ARGV[1])) do
  local k = ks[i]; local t = redis.call('TYPE', k)['ok']; local v = {}
  if t == 'string' then v = {redis.call('GET', k)}
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'set' then v = redis.call('SMEMBERS', k); table.sort(v)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'hash' then
    local h = redis.call('HGETALL', k)
    for j = 1, #h, 2 do v[#v + 1] = h[j] .. '=' .. h[j + 1] end
    table.sort(v)
  elseif t == 'stream' then
    for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do v[#v + 1] = e[1] .. ':' .. table.concat(e[2], ',') end
  end
  out[#out + 1] = k .. ' ' .. t .. ' ' .. redis.sha1hex(table.concat(v, '\\0')) .. '\\t' .. #v
end
return out"""
REDIS_COUNT = ('set -e; n=$(redis-cli -h 127.0.0.1 -n "$1" DBSIZE); printf "(keys)\\t%s\\n" "$n"; '
               'redis-cli -h 127.0.0.1 -n "$1" --raw EVAL "$2" 0 "$3"')
# BGREWRITEAOF, then wait for it: the new volume's AOF in the new major's format
REDIS_REWRITE = ('redis-cli -h 127.0.0.1 BGREWRITEAOF >/dev/null; i=0; while [ $i -lt 3600 ]; do '
                 'p=$(redis-cli -h 127.0.0.1 INFO persistence | tr -d "\\r"); '
                 'case "$p" in *aof_rewrite_in_progress:0*) case "$p" in *aof_rewrite_scheduled:0*) '
                 'case "$p" in *aof_last_bgrewrite_status:ok*) exit 0;; *) echo "$p" >&2; exit 1;; esac;; '
                 'esac;; esac; i=$((i + 1)); sleep 1; done; exit 1')


def _redis_count(database: str) -> list[str]:
    return ["sh", "-c", REDIS_COUNT, "sh", database, REDIS_SAMPLE_LUA, str(REDIS_SAMPLE)]


PROGRAMS: dict[str, Programs] = {
    "postgres": Programs(
        ready=("pg_isready", "-U", PG, "-h", "127.0.0.1", "-p", "5432"),
        databases=tuple(_psql("postgres", PG_DATABASES)),
        count=lambda d: _psql(d, PG_COUNTS),
        socket=PG_SOCKET,
        dump=("bash", "-c", PG_DUMPALL, "bash", PG, OLD_SOCKET, PG_DROP),
        restore=("psql", "-X", "-q", "-U", PG, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-f", "-"),
        after=_pg_after,
    ),
    "mariadb": Programs(
        # TCP: the initialising entrypoint's temporary server listens on the socket only
        ready=("mariadb-admin", "--no-defaults", "--protocol=tcp", "-h", "127.0.0.1", "-P", "3306", "ping"),
        databases=tuple(_maria(f'mariadb {_MY_OPTS} -N -B -e "$1"', MARIADB_DATABASES)),
        count=_maria_count,
        socket=MARIADB_SOCKET,
        dump=tuple(_maria(MARIADB_DUMP, OLD_SOCKET)),
        restore=tuple(_maria(f"exec mariadb {_MY_OPTS}")),
        after=_maria_after,
        finish=(tuple(_maria(f"mariadb-upgrade {_MY_OPTS} --force --silent")),),
        old_command=("mariadbd", "--skip-grant-tables"),
    ),
    "redis": Programs(
        ready=("sh", "-c", "redis-cli -h 127.0.0.1 PING | grep -q PONG"),
        databases=REDIS_DATABASES,
        count=_redis_count,
        command=REDIS_SERVER,
        copy=("cp", "-a", f"{OLD_DATA}/.", "/data/"),
        convert=(("sh", "-c", REDIS_REWRITE),),
    ),
}


# -- docker ------------------------------------------------------------------------------------


def inspect_server(container: str) -> list[str]:
    """``running image volume:target...`` of a container (one line)."""
    return [DOCKER, "inspect", "--format",
            "{{.State.Running}} {{.Config.Image}}{{range .Mounts}} {{.Name}}:{{.Destination}}{{end}}", container]


def volume_labels(volume: str) -> list[str]:
    """A volume's labels as JSON (fails when there is no such volume)."""
    return [DOCKER, "volume", "inspect", "--format", "{{json .Labels}}", volume]


def volume_create(name: str, labels: Mapping[str, str]) -> list[str]:
    """Create volume *name* with *labels*."""
    out = [DOCKER, "volume", "create"]
    for k, v in sorted(labels.items()):
        out += ["--label", f"{k}={v}"]
    return [*out, name]


class Hardening(TypedDict):
    """How a scratch container runs, as the catalog's container does: its capabilities, user; zixly's labels."""

    cap_add: Sequence[str]
    labels: Mapping[str, str]
    user: str


def _hardened(name: str, *, cap_add: Sequence[str], user: str, labels: Mapping[str, str]) -> list[str]:
    out = ["--name", name, "--network", "none", "--security-opt", "no-new-privileges:true", "--cap-drop", "ALL"]
    for cap in cap_add:
        out += ["--cap-add", cap]
    if user:
        out += ["--user", user]
    for k, v in sorted(labels.items()):
        out += ["--label", f"{k}={v}"]
    return out


def scratch_run(name: str, image: str, volume: str, target: str, *, env_stdin: bool, cap_add: Sequence[str],
                labels: Mapping[str, str], socket: tuple[str, str] | None = None, user: str = "",
                command: Sequence[str] = ()) -> list[str]:
    """A scratch server of *image* on *volume* with no network (no client reaches it): detached, its
    environment read from stdin when *env_stdin* (a throwaway password never in an argv); *socket*:
    ``(volume, directory)`` mounted too (the old server's socket, shared by the two servers); *user*
    and *command*: the catalog container's user, the server's command (empty: the image's)."""
    out = [DOCKER, "run", "-d", *_hardened(name, cap_add=cap_add, user=user, labels=labels)]
    if env_stdin:
        out += ["--env-file", "/dev/stdin"]
    if socket is not None:
        out += ["--mount", f"type=volume,source={socket[0]},target={socket[1]}"]
    return [*out, "--mount", f"type=volume,source={volume},target={target}", image, *command]


def copy_run(name: str, image: str, old_volume: str, new_volume: str, target: str, argv: Sequence[str], *,
             cap_add: Sequence[str], user: str, labels: Mapping[str, str]) -> list[str]:
    """*argv* in a one-off container of *image* (the new major) with no network: the old volume
    read-only at :data:`OLD_DATA`, the new one at the data directory *target*."""
    return [DOCKER, "run", "--rm", *_hardened(name, cap_add=cap_add, user=user, labels=labels),
            "--mount", f"type=volume,source={old_volume},target={OLD_DATA},readonly",
            "--mount", f"type=volume,source={new_volume},target={target}", image, *argv]


def stop(name: str, grace: int = 60) -> list[str]:
    """Stop a container cleanly (the server checkpoints), waiting up to *grace* seconds."""
    return [DOCKER, "stop", "-t", str(grace), name]


def remove(name: str) -> list[str]:
    """Remove a container (forced)."""
    return [DOCKER, "rm", "-f", name]


def in_container(container: str, argv: Sequence[str], *, stdin: bool = False) -> list[str]:
    """``docker exec [-i] CONTAINER ARGV``."""
    return [DOCKER, "exec", *(["-i"] if stdin else []), container, *argv]


def volume_size(mountpoint: str) -> list[str]:
    """Bytes under a volume's directory (``du -sb``)."""
    return ["du", "-sb", mountpoint]


def volumes_retired(env: str) -> list[str]:
    """``volume<TAB>retired volume`` of every volume of *env* that took over another one's data."""
    return [DOCKER, "volume", "ls", "--filter", f"label={LABEL_MOVE}={env}", "--format",
            '{{.Name}}\t{{.Label "' + LABEL_RETIRES + '"}}']


def volume_users(volume: str) -> list[str]:
    """Containers (any state) that mount *volume*."""
    return [DOCKER, "ps", "-a", "--filter", f"volume={volume}", "--format", "{{.Names}}"]
