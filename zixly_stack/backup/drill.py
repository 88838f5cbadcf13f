"""The restore drill (``zixly backup verify ENV``): prove the latest backup restores.

It runs ON a host, through a runner (:mod:`.site`): the backed-up host itself by default
(restic, the scratch projects and the checks all run there, none on this machine), or
another environment's host (``--on``, e.g. staging's VPS), which then reads the
repository with ``--no-lock``. Before anything starts, the memory guard refuses when the
scratch projects' memory limits would not fit what the host has left: its declared
``memory`` in hosts.yaml (else its MemTotal) minus ``memory_reserved`` minus the memory in
use there now, and never more than its MemAvailable.

1. A scratch Compose project ``zixly-<env>-drill``: one PostgreSQL, MariaDB and Redis server
   as needed (the environment's own store images, their catalog memory limits; Redis with a
   password like the real one: the environment's own, from a 0444 file in a 0700 temp dir
   on the host, fed to ``redis-server -`` as the catalog's server does), one volume per
   backed-up volume, an ``internal`` network, no published ports, labelled ``org.zixly.drill``.
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
Not proven: an app's start proves its data only as far as its healthcheck looks.
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from ..commands import db, hostfs
from ..commands import docker as dk
from ..commands import restic as rc
from ..project import image_mapper
from ..render.backup.faults import BackupError, DrillError, RepoCorruptError, classify
from ..render.backup.plan import Item
from ..render.backup.repo import host_tag
from ..render.budget import size_bytes
from ..render.tree import dump_yaml
from .drill_apps import AppsRelease, ItemResult, add_store_aliases, create_pg_roles, pg_roles, start_apps, store_aliases
from .drill_memory import Capacity, capacity_of, memory_plan
from .local import Env
from .restore import compare, for_host, read_manifest
from .site import Repo, Site
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
REDIS_SECRET = "redis.password"
_SCRATCH_SERVERS = {"pg": "postgres", "mariadb": "mariadb", "redis": "redis"}  # scratch key -> catalog store


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


def scratch_compose(env: Env, project: str, volumes: list[str], engines: set[str], redis_secret: str = "") -> str:
    """The scratch project's Compose file (pure given the environment); *redis_secret*: the host path
    of the file holding the scratch Redis's password."""
    stack = env.stack

    mapper = image_mapper(env.loaded)
    base = {"networks": ["drill"], "labels": {"org.zixly.drill": env.name}, "security_opt": ["no-new-privileges:true"]}
    services: dict[str, Any] = {}
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
    secrets: dict[str, Any] = {}
    if "redis" in engines:
        img = mapper(stack.services["redis"].containers["server"].image).ref
        escaped = db.REDIS_SCRATCH_SERVER.replace("$", "$$")  # Compose interpolates single dollars
        services["redis"] = {"image": img, "user": "redis", **base, "command": ["sh", "-c", escaped],
                             "environment": {"REDIS_PASSWORD_FILE": "/run/secrets/redis_password"},
                             "secrets": ["redis_password"],
                             "healthcheck": {"test": ["CMD-SHELL", db.REDIS_PING.replace("$", "$$")],
                                             "interval": "2s", "retries": 60}}
        secrets["redis_password"] = {"file": redis_secret}
    for key, svc in services.items():  # the catalog's limits: what the memory guard counts
        svc["mem_limit"] = stack.services[_SCRATCH_SERVERS[key]].containers["server"].resources.memory

    add_store_aliases(services, store_aliases(stack, env.plan().items))  # the host names the apps use
    doc: dict[str, Any] = {"name": project, "services": services, "networks": {"drill": {"internal": True}},
                           "volumes": {v: {"labels": {"org.zixly.drill": env.name}} for v in volumes}}
    if secrets:
        doc["secrets"] = secrets
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


def _drill_db(repo: Repo, site: Site, project: str, snap: Snapshot, item: Item) -> str:
    path = snap.source or "/" + item.filename
    dbname = item.database  # its own name: the scratch servers are isolated, and the apps find it there
    dump = rc.dump(snap.id, path)
    if item.engine == "postgres":
        c = f"{project}-pg-1"
        sql = repo.pipe(dump, dk.exec_in(c, db.pg_restore_sql(), stdin=True), what=f"{item.name}: read dump",
                        read=True).decode(errors="replace")
        expected = pg_expected(sql)

        roles, owner = pg_roles(sql)  # restored WITH owners and grants, so each app's role owns its tables
        create_pg_roles(site, c, roles)
        site.run(dk.exec_in(c, db.createdb(dbname, owner)), what=f"{item.name}: createdb")
        repo.pipe(dump, dk.exec_in(c, db.pg_restore_into(dbname), stdin=True), what=f"{item.name}: restore")
        res = site.try_run(dk.exec_in(c, db.psql(dbname, _PG_COUNTS)), read=True)
    else:
        c = f"{project}-mariadb-1"
        sql = repo.pipe(dump, dk.exec_in(c, ["cat"], stdin=True), what=f"{item.name}: read dump",
                        read=True).decode(errors="replace")
        expected = mariadb_expected(sql)
        site.run(dk.exec_in(c, db.mariadb_sql(f"CREATE DATABASE `{dbname}`")), what=f"{item.name}: create database")
        repo.pipe(dump, dk.exec_in(c, db.mariadb_root(dbname), stdin=True), what=f"{item.name}: restore")
        res = site.try_run(dk.exec_in(c, db.mariadb_counts(dbname)), read=True)
    if not res.ok:
        raise BackupError(f"{item.name}: counting rows: {res.tail(300)}")
    diff = _diff_counts(expected, _counts(res.out))
    if diff:
        raise DrillError(f"row counts differ: {'; '.join(diff[:6])}")
    return f"{len(expected)} table(s), {sum(expected.values())} row(s) identical"


_RDB_INFO = re.compile(r"^\[info\] (\d+) (keys read|expires|already expired)$", re.M)


def rdb_expected(check_output: str) -> tuple[int, int, int]:
    """``(keys, expires, already expired)`` from ``redis-check-rdb`` output."""
    found = {what: int(n) for n, what in _RDB_INFO.findall(check_output)}
    if "keys read" not in found:
        raise DrillError(f"redis-check-rdb reported no key count: {check_output.strip()[-300:]}")
    return found["keys read"], found.get("expires", 0), found.get("already expired", 0)


def keyspace_keys(info: str) -> int:
    """Keys over every database of ``INFO keyspace`` (``db0:keys=3,expires=1,avg_ttl=0``)."""
    return sum(int(m) for m in re.findall(r"^db\d+:keys=(\d+),", info, re.M))


def _drill_redis(repo: Repo, site: Site, project: str, snap: Snapshot, item: Item, n: int) -> str:
    path = snap.source or "/" + item.filename
    c, rdb = f"{project}-redis-1", f"/tmp/drill-{n}.rdb"
    repo.pipe(rc.dump(snap.id, path), dk.exec_in(c, db.write_stdin_to(rdb), stdin=True), what=f"{item.name}: read dump")
    res = site.try_run(dk.exec_in(c, db.redis_check_rdb(rdb)), read=True)
    if not res.ok:
        raise DrillError(f"the RDB is damaged: {' '.join((res.out + res.err).strip().splitlines()[-3:])[-400:]}")
    keys, expires, expired = rdb_expected(res.out + res.err)
    res = site.try_run(dk.exec_in(c, db.redis_load_keyspace(rdb)), timeout=600, read=True)
    if not res.ok:
        raise DrillError(f"loading the RDB: {res.err.strip()[-300:]}")
    loaded = keyspace_keys(res.out)
    if not keys - expires <= loaded <= keys - expired:
        raise DrillError(f"{keys} key(s) backed up ({expires} with a TTL), {loaded} loaded")
    return f"{loaded} key(s) loaded of {keys} in the RDB ({expires} with a TTL)"


def _drill_volume(repo: Repo, site: Site, snap: Snapshot, target: str) -> str:
    source = snap.source
    repo.run(rc.restore(snap.id, target, source), what=f"{snap.item}: restore", read=False)
    expected = read_manifest(repo, snap)
    diff = compare(expected, site.checksums(posixpath.join(target, source.lstrip("/"))))
    if diff:
        raise DrillError(f"files differ: {'; '.join(diff[:6])}")
    return f"{len(expected)} file(s), checksums identical"


def drill(env: Env, site: Site, ref: str = "latest", subset: str = "", say: Say = lambda s: None,
          services: Sequence[str] = (), apps: bool = True, *, home: str | None = None,
          capacity: Capacity | None = None) -> DrillReport:
    """Run the drill on *site* (see the module docstring); the scratch projects are always torn down.

    *home*: the environment's host whose backup is verified (default: *site*'s host, which
    must then be one of the environment's); when *site* is another host the repository is
    read without locks and the apps are started from a fresh render uploaded for the drill.
    """
    home = home or site.host
    own = home == site.host and home in env.loaded.config.hosts.hosts
    project = f"zixly-{env.name}-drill"
    with Repo(site, env, read_only=not own) as repo:
        chosen = select(for_host(repo.snapshots(), host_tag(env.name, home)), ref)
        if not chosen:
            raise BackupError(f"no snapshot {ref!r} of {env.name} to verify (run `zixly backup {env.name}` first)")
        items = [(i, chosen[i.name]) for i in env.plan(home).items
                 if i.name in chosen and (not services or i.service in services)]
        if not items:
            raise BackupError(f"no snapshot of {', '.join(services) or env.name} to verify")
        return _drill(env, repo, site, project, items, subset, say, apps, own, home, capacity)


def _drill(env: Env, repo: Repo, site: Site, project: str, items: list[tuple[Item, Snapshot]], subset: str,
           say: Say, apps: bool, own: bool, home: str, capacity: Capacity | None) -> DrillReport:
    vols = {i.name: f"v{n}" for n, (i, _) in enumerate(items) if i.engine == "volume"}
    engines: set[str] = {i.engine for i, _ in items}
    report = DrillReport(env.name, project)
    scratch = site.temp_dir(prefix="zixly-drill-")  # the scratch Redis's password file, an uploaded release
    release = AppsRelease(env, site, home, own, scratch) if apps else None
    try:
        secret = posixpath.join(scratch, "redis_password")
        text = scratch_compose(env, project, list(vols.values()), engines, secret)
        if "redis" in engines:
            value = env.secrets.get(REDIS_SECRET)
            if value is None:
                raise BackupError(f"{env.name}: no {REDIS_SECRET} in the secrets store for the drill's Redis")
            site.run(hostfs.write_file(secret, "0444"), what="writing the drill Redis's password",
                     stdin=value.reveal().encode(), read=True)
        data = {f"drill.{k}": size_bytes(v.get("mem_limit")) or 0 for k, v in (_services(text)).items()}
        app_memory = release.memory([i for i, _ in items]) if release is not None else {}
        plan = memory_plan(site, capacity or capacity_of(site, None, "0"), data, app_memory)
        say(f"drill on {site.label}: {plan.summary}")
        _scratch(env, repo, site, project, items, vols, text, report, say, release, plan.groups)
    finally:
        site.remove(scratch)
    try:
        say(f"drill: restic {' '.join(rc.check(subset))} on {site.label}")
        repo.run(rc.check(subset), what="restic check", timeout=6 * 3600)
        report.check = " ".join(rc.check(subset))
    except BackupError as exc:
        report.check_error = str(exc)
    return report


def _services(text: str) -> dict[str, Any]:
    doc = yaml.safe_load(text) or {}
    return dict(doc.get("services") or {})


def _scratch(env: Env, repo: Repo, site: Site, project: str, items: list[tuple[Item, Snapshot]],
             vols: Mapping[str, str], text: str, report: DrillReport, say: Say, release: Any,
             groups: list[list[str]]) -> None:
    compose = dk.compose_stdin(project)
    started = time.monotonic()
    try:
        say(f"drill: starting scratch project {project} on {site.label}")
        up = site.try_run([*compose, "up", "-d", "--wait"], stdin=text.encode(), timeout=900)
        if not up.ok:
            raise BackupError(f"drill: scratch project did not start on {site.label}: {site.redact(up.tail(500))}")
        say(f"drill: scratch project up in {time.monotonic() - started:.0f}s")
        for n, (item, snap) in enumerate(items, 1):
            begun = time.monotonic()
            try:
                if item.engine == "volume":
                    detail = _drill_volume(repo, site, snap, site.mountpoint(f"{project}_{vols[item.name]}"))
                elif item.engine == "redis":
                    detail = _drill_redis(repo, site, project, snap, item, len(report.results))
                else:
                    detail = _drill_db(repo, site, project, snap, item)
                report.results.append(ItemResult(item.name, item.service, "ok", f"{detail} (snapshot {snap.short_id})"))
            except BackupError as exc:
                kind = classify(str(exc), type(exc))[0].__name__
                report.results.append(ItemResult(item.name, item.service, "FAILED", site.redact(str(exc)), kind))
            say(f"drill: [{n}/{len(items)}] {item.name}: {report.results[-1].status} "
                f"in {time.monotonic() - begun:.1f}s")
        if release is not None:  # the apps against the restored data, in their own project, torn down first

            bad = {r.service for r in report.results if r.status != "ok"}
            for group in groups:  # each group torn down before the next (memory_plan)
                mine = [(i, s) for i, s in items if i.service in group and i.service not in bad]
                if mine:
                    report.results += start_apps(env, site, release, project, mine, vols, say)
    finally:
        down = site.try_run([*compose, "down", "-v", "--remove-orphans", "-t", "5"], stdin=text.encode(), timeout=600)
        report.torn_down = down.ok
        say(f"drill: scratch project torn down ({time.monotonic() - started:.0f}s after start)")
