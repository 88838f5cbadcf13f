"""End-to-end disaster drill on the shared stack: EVERY data store wiped, then restored from restic.

For each item of the environment's backup plan (every database on the shared PostgreSQL and
MariaDB servers, the warehouse, every volume -- and any other engine the plan grows, which
this test refuses to ignore) marker data is written, a full backup taken and a fingerprint of
the whole item recorded: per table its row count and an md5 of all its rows (PostgreSQL) or
``CHECKSUM TABLE`` (MariaDB), the sha256 of every file of a volume, every Redis key's DUMP.
Then the apps are stopped, every database dropped and created again empty,
every volume emptied, Redis flushed -- and ``zixly restore ENV --yes`` must bring every
fingerprint back and every app healthy. Real engine, PostgreSQL, MariaDB, Redis, n8n, restic.

n8n (the one real app here) writes to its database and data volume while it runs; its
fingerprint is taken with n8n stopped, before and after, and what n8n writes on every start
(its event log files, workflow publication state) is checked for presence and row counts only.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backup.test_backup_e2e import maria, psql, sh, volume_dir
from tests.harness.stack import LocalStack
from zixly_stack.backup.restore import checksums
from zixly_stack.project import load
from zixly_stack.render.backup.plan import Item, plan_backup

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

_PG_TABLES = ("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
              "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;")
_REDIS = ('export REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"; for n in $(seq 0 15); do '
          'redis-cli -n "$n" --scan | LC_ALL=C sort | while IFS= read -r k; do '
          'printf "%s %s %s\\n" "$n" "$k" "$(redis-cli -n "$n" --no-raw DUMP "$k" | sha256sum | cut -c1-16)"; '
          'done; done')


def _items(s: LocalStack) -> list[Item]:
    loaded = load(s.zixly.root, s.env)
    host = next(iter(loaded.config.hosts.hosts))
    return list(plan_backup(loaded.stack, host).items)


def _pg_fingerprint(s: LocalStack, item: Item) -> dict[str, str]:
    tables = psql(s, item.container, item.database, _PG_TABLES).splitlines()
    if not tables:
        return {}
    sql = "\n".join(f"SELECT '{t}', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                    f"FROM {t} x;" for t in tables)
    rows = psql(s, item.container, item.database, sql).splitlines()
    return {r.split("|", 1)[0]: r.split("|", 1)[1] for r in rows}


def _maria_fingerprint(s: LocalStack, item: Item) -> dict[str, str]:
    tables = maria(s, item.database, "SHOW TABLES;").split()
    if not tables:
        return {}
    counts = maria(s, item.database, " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM `{t}`" for t in tables) + ";")
    sums = maria(s, item.database, "CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables) + " EXTENDED;")
    return {f"rows {line}": "" for line in counts.splitlines()} | {f"sum {line}": "" for line in sums.splitlines()}


def _redis_fingerprint(s: LocalStack, item: Item) -> dict[str, str]:
    out = sh("docker", "exec", item.container, "sh", "-c", _REDIS)
    return {line: "" for line in out.splitlines()}


def _fingerprint(s: LocalStack, item: Item) -> dict[str, str]:
    engines: dict[str, Callable[[LocalStack, Item], dict[str, str]]] = {
        "postgres": _pg_fingerprint, "mariadb": _maria_fingerprint, "redis": _redis_fingerprint,
        "volume": lambda st, it: checksums(volume_dir(it.volume)),
    }
    if item.engine not in engines:
        raise AssertionError(f"{item.name}: no fingerprint for engine {item.engine!r} -- extend this test")
    return engines[item.engine](s, item)


def _mark(s: LocalStack, item: Item) -> None:
    """Marker data in every item, so none is empty."""
    if item.engine == "postgres":
        psql(s, item.container, item.database,
             "DROP TABLE IF EXISTS zixly_wipe; CREATE TABLE zixly_wipe (id int PRIMARY KEY, note text);"
             f"INSERT INTO zixly_wipe SELECT g, '{item.name}-' || g FROM generate_series(1, 300) g;")
    elif item.engine == "mariadb":
        maria(s, item.database, "DROP TABLE IF EXISTS zixly_wipe; CREATE TABLE zixly_wipe (id int PRIMARY KEY, "
              f"note varchar(80)); INSERT INTO zixly_wipe VALUES (1, '{item.name}-1'), (2, '{item.name}-2');")
    elif item.engine == "redis":
        sh("docker", "exec", item.container, "sh", "-c", 'export REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"; '
           "redis-cli -n 5 SET zixly:wipe marker >/dev/null && redis-cli -n 5 ZADD zixly:schedule 1700000000 job-1 "
           "1800000000 job-2 >/dev/null")
    elif item.engine == "volume":
        d = volume_dir(item.volume) / "zixly-wipe"
        d.mkdir(exist_ok=True)
        (d / "marker.txt").write_text(f"{item.name}\n")


def _unmark(s: LocalStack, item: Item) -> None:
    if item.engine == "postgres":
        psql(s, item.container, item.database, "DROP TABLE IF EXISTS zixly_wipe;")
    elif item.engine == "mariadb":
        maria(s, item.database, "DROP TABLE IF EXISTS zixly_wipe;")
    elif item.engine == "redis":
        sh("docker", "exec", item.container, "sh", "-c", 'export REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"; '
           "redis-cli -n 5 DEL zixly:wipe zixly:schedule >/dev/null")
    elif item.engine == "volume":
        sh("rm", "-rf", str(volume_dir(item.volume) / "zixly-wipe"))


def _wipe(s: LocalStack, item: Item) -> None:
    if item.engine == "postgres":  # the database dropped and created again, empty, with its owner
        db = item.database
        owner = psql(s, item.container, "postgres", f"SELECT pg_get_userbyid(datdba) FROM pg_database "
                     f"WHERE datname = '{db}';")
        psql(s, item.container, "postgres", f'DROP DATABASE "{db}" WITH (FORCE);')
        psql(s, item.container, "postgres", f'CREATE DATABASE "{db}" OWNER "{owner}";')
        assert psql(s, item.container, db, _PG_TABLES) == "", f"{item.name} not wiped"
    elif item.engine == "mariadb":
        maria(s, "mysql", f"DROP DATABASE `{item.database}`; CREATE DATABASE `{item.database}`;")
    elif item.engine == "redis":
        sh("docker", "exec", item.container, "sh", "-c",
           'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" redis-cli FLUSHALL >/dev/null')
    elif item.engine == "volume":
        root = volume_dir(item.volume)
        for entry in root.iterdir():
            sh("rm", "-rf", str(entry))
        assert not any(root.iterdir()), f"{item.name} not wiped"


# What n8n itself writes every time it starts (the restore starts it): its event log files, the
# publication outbox it fills for the active workflows, and the activation state (timestamps)
# of the published workflows. The log files must be back; the publication tables must have
# the row counts that were backed up (the outbox only must exist); everything else identical.
_WRITTEN_ON_START = {"n8n.db.n8n": re.compile(r"^public\.workflow_publ(ication_\w+|ished_version)$"),
                     "n8n.volume.data": re.compile(r"(^|/)n8nEventLog[^/]*\.log$")}


def _differences(item: str, before: dict[str, str], after: dict[str, str]) -> list[str]:
    own = _WRITTEN_ON_START.get(item)
    out = []
    for key in sorted(set(before) | set(after)):
        if own is not None and own.search(key):
            if key in before and key not in after:
                out.append(f"{key} missing")
            elif item.endswith(".db.n8n") and not key.endswith("_outbox") and key in before \
                    and before[key].split("|")[0] != after[key].split("|")[0]:
                out.append(f"{key}: rows {before[key].split('|')[0]} backed up, {after[key].split('|')[0]} after")
            continue
        if before.get(key) != after.get(key):
            out.append(f"{key}: {before.get(key)!r} backed up, {after.get(key)!r} after the restore")
    return out[:6]


def _apps(s: LocalStack, items: list[Item]) -> list[str]:
    """Running app containers of the services with backups (never the data-store servers)."""
    servers = {i.container for i in items if i.container}
    projects = {f"zixly-{s.env}-{i.service}" for i in items}
    names: list[str] = []
    for p in sorted(projects):
        out = sh("docker", "ps", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={p}")
        names += [n for n in out.split() if n not in servers]
    return names


def _n8n(s: LocalStack, action: str) -> None:
    sh("docker", action, s.container("n8n", "n8n"))
    if action == "start":  # the stack is shared: the next test meets n8n ready, not starting (a 502)
        s.wait_healthy()


def test_every_data_store_wiped_then_restored_exactly(local_stack: LocalStack, tmp_path: Path) -> None:
    s = local_stack
    items = _items(s)
    engines = {i.engine for i in items}
    assert {"postgres", "mariadb", "volume"} <= engines, engines
    for item in items:
        _mark(s, item)
    try:
        apps = _apps(s, items)
        # n8n writes while it runs: fingerprint its data at rest (see the module doc). It stays stopped
        # until the restore starts every app again (the finally below starts it if anything fails first).
        _n8n(s, "stop")
        s.zixly.run("backup", s.env, "--no-maintenance", timeout=1800)
        before = {i.name: _fingerprint(s, i) for i in items}
        empty = [n for n, fp in before.items() if not fp]
        assert not empty, f"nothing to compare in {empty}"
        sh("docker", "stop", *apps)
        for item in items:
            _wipe(s, item)
        wiped = {i.name for i in items if _fingerprint(s, i) != before[i.name]}
        assert wiped == set(before), f"not wiped: {sorted(set(before) - wiped)}"

        res = s.zixly.run("restore", s.env, "--snapshot", "latest", "--yes", timeout=2400)
        services = {i.service for i in items}
        healthy = {line.split()[0] for line in res.stdout.splitlines() if "restored, healthy" in line}
        assert healthy == services, (sorted(services - healthy), res.stdout[-3000:], res.stderr[-3000:])
        fmt = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}"
        states = {name: sh("docker", "inspect", "--format", fmt, name).strip() for name in apps}
        unhealthy = {n: v for n, v in states.items() if v != "running healthy"}
        assert states and not unhealthy, f"every app healthy after the restore, not {unhealthy}"

        _n8n(s, "stop")
        try:
            after = {i.name: _fingerprint(s, i) for i in items}
        finally:
            _n8n(s, "start")
        differ = {n: d for n in before if (d := _differences(n, before[n], after[n]))}
        assert not differ, differ
        total_rows = sum(1 for i in items if i.engine != "volume" for _ in before[i.name])
        files = sum(len(before[i.name]) for i in items if i.engine == "volume")
        print(f"\nwiped and restored {len(items)} items: {total_rows} tables/keys, {files} files identical")
    finally:
        for item in items:
            _unmark(s, item)
        res = subprocess.run(["docker", "inspect", "--format", "{{.State.Health.Status}}", s.container("n8n", "n8n")],
                             capture_output=True, text=True)
        if res.stdout.strip() != "healthy":
            _n8n(s, "start")
