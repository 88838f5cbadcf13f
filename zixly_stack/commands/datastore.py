"""argv of a data-store major move (dump the old major, restore into the new one on a new volume). Pure.

Per engine (:data:`PROGRAMS`): how to tell the server is ready, list its databases, count the rows of
every table of one database, dump everything, restore that dump, and what runs after the restore.
They run INSIDE the two scratch servers (after ``docker exec``), as the engine's local superuser
over its socket: no password in any argv. The docker side (scratch servers without a network, the
new volume with its labels, sizes) is here too. docs/upgrades.md "Data-store majors".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
PG_DUMPALL = ('set -o pipefail; pg_dumpall -h "$2" -U "$1" | awk -v skip="CREATE ROLE $1;" -v drop="$3" '
              '\'!done && $0 == skip { done = 1; next } drop != "" && $0 ~ drop { next } { print }\'')


def _psql(database: str, sql: str) -> list[str]:
    return ["psql", "-X", "-U", PG, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", sql]


def pg_ident(name: str) -> str:
    """*name* as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Programs:
    """The in-container argv of one engine (module doc)."""

    ready: tuple[str, ...]
    databases: tuple[str, ...]  # one database name per line
    dump: tuple[str, ...]  # everything of the old server, to stdout: run in the NEW server's container
    restore: tuple[str, ...]  # the dump, from stdin
    socket: str  # the old server's socket directory, shared with the new container at OLD_SOCKET

    def counts(self, database: str) -> list[str]:
        """``table<TAB>rows`` of every table of *database*."""
        return _psql(database, PG_COUNTS)

    def after_restore(self, databases: Sequence[str]) -> list[list[str]]:
        """What runs on the new major once the dump is in: fresh statistics (the dump has none) and
        each database's collation version recorded as the new major's C library reports it."""
        return [["vacuumdb", "-U", PG, "--all", "--analyze-in-stages"],
                *(_psql("postgres", f"ALTER DATABASE {pg_ident(d)} REFRESH COLLATION VERSION")
                  for d in databases if d != "template0")]


PROGRAMS: dict[str, Programs] = {
    "postgres": Programs(
        ready=("pg_isready", "-U", PG, "-h", "127.0.0.1", "-p", "5432"),
        databases=tuple(_psql("postgres", PG_DATABASES)),
        dump=("bash", "-c", PG_DUMPALL, "bash", PG, OLD_SOCKET, PG_DROP),
        restore=("psql", "-X", "-q", "-U", PG, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-f", "-"),
        socket=PG_SOCKET,
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


def scratch_run(name: str, image: str, volume: str, target: str, *, env_stdin: bool, cap_add: Sequence[str],
                labels: Mapping[str, str], socket: tuple[str, str] | None = None) -> list[str]:
    """A scratch server of *image* on *volume* with no network (no client reaches it): detached, its
    environment read from stdin when *env_stdin* (a throwaway password never in an argv); *socket*:
    ``(volume, directory)`` mounted too (the old server's socket, shared by the two servers)."""
    out = [DOCKER, "run", "-d", "--name", name, "--network", "none", "--security-opt", "no-new-privileges:true",
           "--cap-drop", "ALL"]
    for cap in cap_add:
        out += ["--cap-add", cap]
    for k, v in sorted(labels.items()):
        out += ["--label", f"{k}={v}"]
    if env_stdin:
        out += ["--env-file", "/dev/stdin"]
    if socket is not None:
        out += ["--mount", f"type=volume,source={socket[0]},target={socket[1]}"]
    return [*out, "--mount", f"type=volume,source={volume},target={target}", image]


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
