"""The restore drill (``zixly backup verify ENV``): prove the latest backup restores.

1. A scratch Compose project ``zixly-<env>-drill``: one PostgreSQL and one MariaDB server
   (the environment's own store images), one volume per backed-up volume, an ``internal``
   network, no published ports, labelled ``org.zixly.drill``.
2. Each database dump is loaded there into a database of its own name (the servers are
   isolated; the apps find it there), PostgreSQL WITH its owners and grants (the roles the
   dump names are created first; the scratch server trusts every login); its row count per table is
   compared with the rows the dump itself holds (COPY blocks of ``pg_restore -f -``, one
   ``INSERT`` per row of the MariaDB dump), so "what was backed up" is the snapshot's content.
   A Redis RDB: its keys are counted by ``redis-check-rdb`` in a scratch Redis container,
   then the RDB is loaded by a second ``redis-server`` there and ``INFO keyspace`` summed over
   the databases must match (keys with a TTL may expire in between: they are the tolerance).
3. Each volume is restored into its scratch volume and every file's sha256 compared with the
   checksum manifest saved at backup time.
4. Unless ``apps=False`` (``--no-apps``): the apps of the backed-up services are started
   against the restored data in a second scratch project ``zixly-<env>-drill-apps`` on this
   project's network (the servers answer under the apps' host names: ``postgres``,
   ``warehouse-db``, ...) and each app container's own healthcheck must pass; n8n's
   ``/healthz/readiness`` too. One result per app (``n8n.app``); stand-in images say so.
   That project is always torn down first. See :mod:`zixly_stack.backup.drill_apps`.
5. The project is torn down completely (containers, network, volumes) -- also on failure.
6. ``restic check --read-data`` (or ``--read-data-subset``) over the whole repository.

A failing item is named with its app; damaged data classifies as :class:`RepoCorruptError`.
Not proven: apps that use Redis reach a scratch Redis without their password (only stand-ins
do here), and an app's start proves its data only as far as its healthcheck looks.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..render.tree import dump_yaml
from .faults import BackupError, DrillError, RepoCorruptError, classify
from .local import Env
from .plan import Item
from .restore import checksums, compare, docker, mountpoint, pipe, read_manifest, snapshots
from .snapshots import Snapshot, select

Say = Callable[[str], None]
_COPY = re.compile(r"^COPY (\S+) \(.*\) FROM stdin;$")
_INSERT = re.compile(r"^INSERT INTO `([^`]+)` VALUES ")
_CREATE = re.compile(r"^CREATE TABLE `([^`]+)`")
_PG_COUNTS = (
    "SELECT table_schema || '.' || table_name, (xpath('/row/c/text()', query_to_xml(format("
    "'SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text "
    "FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
    "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
)
_MARIADB_COUNTS = (
    'for t in $(mariadb -uroot -N -e "SELECT table_name FROM information_schema.tables '
    "WHERE table_schema='$1' AND table_type='BASE TABLE'\"); do "
    'printf "%s\\t%s\\n" "$t" "$(mariadb -uroot -N -e "SELECT COUNT(*) FROM \\`$1\\`.\\`$t\\`")"; done'
)


@dataclass
class ItemResult:
    """One item of the drill."""

    item: str
    service: str
    status: str  # "ok" | "FAILED"
    detail: str = ""
    error: str = ""  # error class name when failed


@dataclass
class DrillReport:
    """Every item's result plus the repository check."""

    env: str
    project: str
    results: list[ItemResult] = field(default_factory=list)
    check: str = ""
    check_error: str = ""
    torn_down: bool = False

    def to_json(self) -> str:
        """The report as JSON."""
        ok = not self.check_error and all(r.status == "ok" for r in self.results)
        return json.dumps({"environment": self.env, "project": self.project, "status": "ok" if ok else "failed",
                           "items": [asdict(r) for r in self.results], "check": self.check,
                           "check_error": self.check_error, "torn_down": self.torn_down}, indent=2)

    def raise_if_failed(self) -> None:
        """Raise the distinct error: corrupt data first, then any other difference."""
        failed = [r for r in self.results if r.status != "ok"]
        apps = sorted({r.service for r in failed})
        lines = [f"{r.item} ({r.service}): {r.detail}" for r in failed]
        if self.check_error:
            lines.append(f"restic check: {self.check_error}")
        if not lines:
            return
        corrupt = self.check_error or any(r.error == RepoCorruptError.__name__ for r in failed)
        cls = RepoCorruptError if corrupt else DrillError
        named = f" for {', '.join(apps)}" if apps else ""
        raise cls(f"restore drill of {self.env} FAILED{named}:\n  " + "\n  ".join(lines))


def scratch_compose(env: Env, project: str, volumes: list[str], engines: set[str]) -> str:
    """The scratch project's Compose file (pure given the environment)."""
    stack = env.stack
    from ..project import image_mapper

    mapper = image_mapper(env.loaded)
    base = {"networks": ["drill"], "labels": {"org.zixly.drill": env.name}, "security_opt": ["no-new-privileges:true"]}
    services: dict[str, object] = {}
    if "postgres" in engines or (volumes and "mariadb" not in engines):
        img = mapper(stack.services["postgres"].containers["server"].image).ref
        services["pg"] = {"image": img, "environment": {"POSTGRES_HOST_AUTH_METHOD": "trust"}, **base,
                          "volumes": [f"{v}:/drill/{v}" for v in volumes],
                          "healthcheck": {"test": ["CMD", "pg_isready", "-U", "postgres", "-h", "127.0.0.1"],
                                          "interval": "2s", "retries": 60}}
    if "mariadb" in engines:
        img = mapper(stack.services["mariadb"].containers["server"].image).ref
        services["mariadb"] = {"image": img, "environment": {"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD": "1"}, **base,
                               "volumes": [] if "pg" in services else [f"{v}:/drill/{v}" for v in volumes],
                               "healthcheck": {"test": ["CMD", "mariadb-admin", "ping", "-uroot", "--silent"],
                                               "interval": "2s", "retries": 60}}
    if "redis" in engines:
        img = mapper(stack.services["redis"].containers["server"].image).ref
        services["redis"] = {"image": img, "user": "redis", **base,
                             "command": ["redis-server", "--save", "", "--appendonly", "no"],
                             "healthcheck": {"test": ["CMD", "redis-cli", "ping"], "interval": "2s", "retries": 60}}
    from .drill_apps import add_store_aliases, store_aliases

    add_store_aliases(services, store_aliases(stack, env.plan().items))  # the host names the apps use
    doc = {"name": project, "services": services, "networks": {"drill": {"internal": True}},
           "volumes": {v: {"labels": {"org.zixly.drill": env.name}} for v in volumes}}
    return dump_yaml(doc, "# zixly restore drill: scratch, isolated, torn down after the drill\n")


def pg_expected(sql: str) -> dict[str, int]:
    """Rows per table in a plain-SQL PostgreSQL dump (``COPY ... FROM stdin`` blocks)."""
    out: dict[str, int] = {}
    table = None
    for line in sql.splitlines():
        if table is None:
            m = _COPY.match(line)
            if m:
                table = m.group(1).replace('"', "")
                out[table] = 0
        elif line == "\\.":
            table = None
        else:
            out[table] += 1
    return out


def mariadb_expected(sql: str) -> dict[str, int]:
    """Rows per table of a ``--skip-extended-insert`` MariaDB dump (one INSERT per row)."""
    out: dict[str, int] = {}
    for line in sql.splitlines():
        m = _CREATE.match(line)
        if m:
            out.setdefault(m.group(1), 0)
        m = _INSERT.match(line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + 1
    return out



def _counts(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        name, _, n = line.partition("\t") if "\t" in line else line.partition("|")
        if name.strip():
            out[name.strip()] = int(n.strip() or 0)
    return out


def _diff_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    keys = sorted(set(expected) | set(actual))
    return [f"{k}: {expected.get(k, 0)} rows backed up, {actual.get(k, 0)} restored"
            for k in keys if expected.get(k, 0) != actual.get(k, 0)]


def _drill_db(env: Env, project: str, snap: Snapshot, item: Item) -> str:
    path = snap.source or "/" + item.filename
    db = item.database  # its own name: the scratch servers are isolated, and the apps find it there
    if item.engine == "postgres":
        c = f"{project}-pg-1"
        sql = pipe(env, ["dump", snap.id, path], ["docker", "exec", "-i", c, "pg_restore", "-f", "-"],
                   f"{item.name}: read dump")
        expected = pg_expected(sql)
        from .drill_apps import create_pg_roles, pg_roles

        roles, owner = pg_roles(sql)  # restored WITH owners and grants, so each app's role owns its tables
        create_pg_roles(c, roles)
        res = docker("exec", c, "createdb", "-U", "postgres", "-O", owner, db)
        if res.returncode != 0:
            raise BackupError(f"{item.name}: createdb: {res.stderr.strip()}")
        pipe(env, ["dump", snap.id, path], ["docker", "exec", "-i", c, "pg_restore", "-U", "postgres",
                                            "--exit-on-error", "-d", db], f"{item.name}: restore")
        res = docker("exec", c, "psql", "-U", "postgres", "-d", db, "-At", "-F", "\t", "-c", _PG_COUNTS)
    else:
        c = f"{project}-mariadb-1"
        sql = pipe(env, ["dump", snap.id, path], ["docker", "exec", "-i", c, "cat"], f"{item.name}: read dump")
        expected = mariadb_expected(sql)
        res = docker("exec", c, "mariadb", "-uroot", "-e", f"CREATE DATABASE `{db}`")
        if res.returncode != 0:
            raise BackupError(f"{item.name}: create database: {res.stderr.strip()}")
        pipe(env, ["dump", snap.id, path], ["docker", "exec", "-i", c, "mariadb", "-uroot", db],
             f"{item.name}: restore")
        res = docker("exec", c, "sh", "-c", _MARIADB_COUNTS, "sh", db)
    if res.returncode != 0:
        raise BackupError(f"{item.name}: counting rows: {res.stderr.strip()[-300:]}")
    diff = _diff_counts(expected, _counts(res.stdout))
    if diff:
        raise DrillError(f"row counts differ: {'; '.join(diff[:6])}")
    return f"{len(expected)} table(s), {sum(expected.values())} row(s) identical"


_RDB_INFO = re.compile(r"^\[info\] (\d+) (keys read|expires|already expired)$", re.M)
# A second server in the scratch container loads the RDB (the first one only keeps it running).
_REDIS_LOAD = (
    'redis-server --port 6380 --dir "${1%/*}" --dbfilename "${1##*/}" --appendonly no --save "" '
    '--pidfile "" --daemonize yes >&2 || exit 1; i=0; '
    'until [ "$(redis-cli -p 6380 ping 2>/dev/null)" = PONG ]; do '
    'i=$((i+1)); [ $i -lt 600 ] || { echo "redis did not load the RDB" >&2; exit 1; }; sleep 0.2; done; '
    'redis-cli -p 6380 info keyspace; rc=$?; redis-cli -p 6380 shutdown nosave >/dev/null 2>&1; exit $rc'
)


def rdb_expected(check_output: str) -> tuple[int, int, int]:
    """``(keys, expires, already expired)`` from ``redis-check-rdb`` output."""
    found = {what: int(n) for n, what in _RDB_INFO.findall(check_output)}
    if "keys read" not in found:
        raise DrillError(f"redis-check-rdb reported no key count: {check_output.strip()[-300:]}")
    return found["keys read"], found.get("expires", 0), found.get("already expired", 0)


def keyspace_keys(info: str) -> int:
    """Keys over every database of ``INFO keyspace`` (``db0:keys=3,expires=1,avg_ttl=0``)."""
    return sum(int(m) for m in re.findall(r"^db\d+:keys=(\d+),", info, re.M))


def _drill_redis(env: Env, project: str, snap: Snapshot, item: Item, n: int) -> str:
    path = snap.source or "/" + item.filename
    c, rdb = f"{project}-redis-1", f"/tmp/drill-{n}.rdb"
    pipe(env, ["dump", snap.id, path], ["docker", "exec", "-i", c, "sh", "-c", 'cat >"$1"', "sh", rdb],
         f"{item.name}: read dump")
    res = docker("exec", c, "redis-check-rdb", rdb)
    if res.returncode != 0:
        raise DrillError(f"the RDB is damaged: {' '.join((res.stdout + res.stderr).strip().splitlines()[-3:])[-400:]}")
    keys, expires, expired = rdb_expected(res.stdout + res.stderr)
    res = docker("exec", c, "sh", "-c", _REDIS_LOAD, "sh", rdb, timeout=600)
    if res.returncode != 0:
        raise DrillError(f"loading the RDB: {res.stderr.strip()[-300:]}")
    loaded = keyspace_keys(res.stdout)
    if not keys - expires <= loaded <= keys - expired:
        raise DrillError(f"{keys} key(s) backed up ({expires} with a TTL), {loaded} loaded")
    return f"{loaded} key(s) loaded of {keys} in the RDB ({expires} with a TTL)"


def _drill_volume(env: Env, snap: Snapshot, target: Path) -> str:
    source = snap.source
    env.restic(["restore", snap.id, "--target", str(target), "--include", source], what=f"{snap.item}: restore")
    expected = read_manifest(env, snap)
    diff = compare(expected, checksums(target / source.lstrip("/")))
    if diff:
        raise DrillError(f"files differ: {'; '.join(diff[:6])}")
    return f"{len(expected)} file(s), checksums identical"


def drill(env: Env, ref: str = "latest", subset: str = "", say: Say = lambda s: None,
          services: Sequence[str] = (), apps: bool = True) -> DrillReport:
    """Run the drill (see the module docstring); the scratch project is always torn down."""
    project = f"zixly-{env.name}-drill"
    chosen = select(snapshots(env), ref)
    if not chosen:
        raise BackupError(f"no snapshot {ref!r} of {env.name} to verify (run `zixly backup {env.name}` first)")
    items = [(i, chosen[i.name]) for i in env.plan().items
             if i.name in chosen and (not services or i.service in services)]
    if not items:
        raise BackupError(f"no snapshot of {', '.join(services) or env.name} to verify")
    vols = {i.name: f"v{n}" for n, (i, _) in enumerate(items) if i.engine == "volume"}
    report = DrillReport(env.name, project)
    compose = ["docker", "compose", "-p", project, "-f", "-"]
    text = scratch_compose(env, project, list(vols.values()), {i.engine for i, _ in items})
    started = time.monotonic()
    try:
        say(f"drill: starting scratch project {project}")
        up = subprocess.run([*compose, "up", "-d", "--wait"], input=text, capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            raise BackupError(f"drill: scratch project did not start: {up.stderr.strip()[-500:]}")
        say(f"drill: scratch project up in {time.monotonic() - started:.0f}s")
        for item, snap in items:
            try:
                if item.engine == "volume":
                    detail = _drill_volume(env, snap, mountpoint(f"{project}_{vols[item.name]}"))
                elif item.engine == "redis":
                    detail = _drill_redis(env, project, snap, item, len(report.results))
                else:
                    detail = _drill_db(env, project, snap, item)
                report.results.append(ItemResult(item.name, item.service, "ok", f"{detail} (snapshot {snap.short_id})"))
            except BackupError as exc:
                kind = classify(str(exc), type(exc))[0].__name__
                report.results.append(ItemResult(item.name, item.service, "FAILED", str(exc), kind))
            say(f"drill: {item.name}: {report.results[-1].status}")
        if apps:  # the apps against the restored data, in their own project, torn down before this one
            from .drill_apps import start_apps

            bad = {r.service for r in report.results if r.status != "ok"}
            report.results += start_apps(env, project, [(i, s) for i, s in items if i.service not in bad], vols, say)
    finally:
        down = subprocess.run([*compose, "down", "-v", "--remove-orphans", "-t", "5"], input=text,
                              capture_output=True, text=True, timeout=600)
        report.torn_down = down.returncode == 0
        say(f"drill: scratch project torn down ({time.monotonic() - started:.0f}s after start)")
    args = ["check", f"--read-data-subset={subset}"] if subset else ["check", "--read-data"]
    try:
        say(f"drill: restic {' '.join(args)}")
        env.restic(args, what="restic check")
        report.check = " ".join(args)
    except BackupError as exc:
        report.check_error = str(exc)
    return report
