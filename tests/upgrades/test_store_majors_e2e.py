"""End-to-end: MariaDB and Redis moved to a new major through a new volume, on this machine's engine.

Real parts: the local Docker engine and Compose; the offline kit's MariaDB 10.11 (Debian bookworm) then
11.8 (trixie), Redis 7.0 then 8.0 (no stand-in). The catalog's rendered compose projects of the two
stores (an environment ``dsmv`` copied from ``local``: shared stores) are started with ``docker compose``
as a deploy starts them, MariaDB's provisioning job included (the apps' databases and users). Real data
goes in: MariaDB tables with rows (utf8mb4 text, decimals, dates, binary), a view, a trigger, a
procedure, an event, a user with table grants; Redis keys of every type in two databases, some with a
TTL. Then the move the deploy carries out (:func:`zixly_stack.deploy.datamove.carry_out`, for the data
move :func:`zixly_stack.plan.datamove.data_move` reads from the NEW release's rendered compose, which
names the volume by the major: ``services.<store>.data_major``), and the new release started on it:
every table's rows equal (their sha1), routines, triggers, events and views there, the users log in
with their old passwords (root with the environment's admin password), every Redis key equal (type,
value, TTL kept), the AOF rewritten by the new major. The old volume is kept, mounted by nothing,
labelled as retired by the new one, and still holds the old major's data (the old major started on it
again, read: the way back); ``prune_host`` (what ``zixly upgrade ENV --prune`` runs per host) removes it
and only it. Free group (no shared stack, no test host).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.harness.local_engine import LocalEngine
from tests.harness.timing import figure
from tests.helpers import copy_repo, fake_secrets
from zixly_stack.catalog.upgrades import plan_move
from zixly_stack.deploy.datamove import carry_out
from zixly_stack.deploy.retired import prune_host
from zixly_stack.images import kit
from zixly_stack.plan.compute import host_files
from zixly_stack.plan.datamove import data_move
from zixly_stack.project import load, render
from zixly_stack.runner.local import LocalRunner

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

NAME = "dsmv"
MARIA = ("11.4.13", "11.8.9")  # the kit's 10.11 (every other tag) -> 11.8
REDIS = ("7.4.11-bookworm", "8.0.2-bookworm")  # the kit's 7.0 -> 8.0
ENV_FILE = f"inventories/{NAME}/environment.yaml"


@dataclass
class Store:
    """One store's compose project on this machine."""

    engine: LocalEngine
    service: str
    root: Path  # where its rendered files are written
    project: str

    @property
    def container(self) -> str:
        return f"{self.project}-server-1"

    def compose(self, *args: str, timeout: float = 600.0) -> str:
        res = self.engine.docker("compose", "--project-directory", str(self.root), "-f",
                                 str(self.root / "compose.yaml"), *args, timeout=timeout)
        assert res.returncode == 0, f"compose {args}: {res.stderr[-2000:]}"
        return res.stdout

    def exec(self, *argv: str, input: str | None = None, check: bool = True) -> str:
        res = self.engine.docker("exec", "-i", self.container, *argv, input=input)
        assert res.returncode == 0 or not check, f"{argv[:3]}: {res.stderr[-1500:]}"
        return res.stdout if res.returncode == 0 else ""

    def volume_labels(self, name: str) -> dict[str, str] | None:
        res = self.engine.docker("volume", "inspect", "--format", "{{json .Labels}}", name)
        return json.loads(res.stdout) if res.returncode == 0 else None

    def mounts(self) -> list[str]:
        return self.engine.docker("inspect", "--format", "{{range .Mounts}}{{.Name}} {{end}}",
                                  self.container).stdout.split()

    def users_of(self, volume: str) -> list[str]:
        return self.engine.docker("ps", "-a", "--filter", f"volume={volume}", "--format",
                                  "{{.Names}}").stdout.split()


def _repo(tmp: Path, pins: dict[str, tuple[str, str | None]]) -> Any:
    """The ``dsmv`` environment (``local``'s, shared stores) with *pins*: service -> (version, data_major)."""
    repo = tmp / "repo"
    if not repo.exists():
        copy_repo(repo, envs=("local",))
        shutil.copytree(repo / "inventories" / "local", repo / "inventories" / NAME)
    text = (repo / "inventories" / "local" / "environment.yaml").read_text()
    for svc, (version, major) in pins.items():
        extra = f"    version: {version}\n" + (f'    data_major: "{major}"\n' if major else "")
        assert f"  {svc}:\n" in text
        text = text.replace(f"  {svc}:\n", f"  {svc}:\n{extra}", 1)
    (repo / ENV_FILE).write_text(text)
    loaded = load(repo, NAME)
    return loaded, host_files(render(loaded, fake_secrets(loaded)), "local")


def _write(files: Any, service: str, dest: Path) -> dict[str, Any]:
    """The rendered files of *service* under *dest* (its compose project directory); its compose document."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel, f in files.items():
        if rel.startswith(f"{service}/"):
            path = dest / rel.split("/", 1)[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f.text)
            path.chmod(f.mode or 0o644)
    doc: dict[str, Any] = YAML(typ="safe").load((dest / "compose.yaml").read_text())
    return doc


# --- MariaDB -------------------------------------------------------------------------------------

SHOP = """
CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE shop;
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, price DECIMAL(10,2), added DATETIME,
                    tag VARBINARY(20), note TEXT) ENGINE=InnoDB;
INSERT INTO items SELECT seq, CONCAT('item ', seq, ' é ☃'), seq * 1.25, '2025-01-01' + INTERVAL seq HOUR,
                         UNHEX(SHA1(seq)), IF(seq % 7 = 0, NULL, REPEAT('x', seq % 50)) FROM seq_1_to_3000;
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, item INT NOT NULL, qty INT NOT NULL,
                     FOREIGN KEY (item) REFERENCES items (id)) ENGINE=InnoDB;
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, item INT, at DATETIME) ENGINE=Aria;
CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (item, at)
  VALUES (NEW.item, '2025-06-01');
INSERT INTO orders (item, qty) SELECT 1 + seq % 3000, seq % 5 + 1 FROM seq_1_to_1500;
CREATE VIEW big_orders AS SELECT item, SUM(qty) AS total FROM orders GROUP BY item HAVING total > 5;
CREATE PROCEDURE restock(IN n INT) UPDATE items SET price = price + n WHERE id = 1;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01' DO DELETE FROM audit WHERE id < 0;
CREATE USER clerk@'%' IDENTIFIED BY 'clerk-secret-1';
GRANT SELECT, INSERT ON shop.orders TO clerk@'%';
GRANT SELECT ON shop.items TO clerk@'%';
"""


def _maria_sql(store: Store, sql: str, *, user: str = "root", password: str = "", db: str = "") -> str:
    """*sql* as *user* over TCP (root: the admin password from the rendered secret)."""
    pw = password or "$(cat /run/secrets/mariadb_admin_password)"
    return store.exec("sh", "-c", f'MYSQL_PWD="{pw}" exec mariadb --protocol=tcp -h 127.0.0.1 -u {user} '
                      f'--binary-as-hex -N -B {db}', input=sql)


def _maria_state(store: Store) -> dict[str, Any]:
    dbs = _maria_sql(store, "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN "
                            "('information_schema', 'performance_schema', 'sys', 'mysql') ORDER BY 1").split()
    out: dict[str, Any] = {}
    for db in dbs:
        tables = _maria_sql(store, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' "
                                   "AND table_type = 'BASE TABLE' ORDER BY 1").split()
        rows = {t: _maria_sql(store, f"SELECT * FROM `{t}` ORDER BY 1", db=db) for t in tables}
        out[db] = {t: (len(r.splitlines()), hashlib.sha1(r.encode()).hexdigest()) for t, r in rows.items()}
        out[db]["objects"] = _maria_sql(store, f"""
            SELECT 'view', table_name FROM information_schema.views WHERE table_schema = '{db}'
            UNION ALL SELECT 'trigger', trigger_name FROM information_schema.triggers WHERE trigger_schema = '{db}'
            UNION ALL SELECT 'routine', routine_name FROM information_schema.routines WHERE routine_schema = '{db}'
            UNION ALL SELECT 'event', event_name FROM information_schema.events WHERE event_schema = '{db}'
            ORDER BY 1, 2""")
    return out


# --- Redis ---------------------------------------------------------------------------------------

REDIS_LOAD = """
for i = 1, 400 do
  redis.call('SET', 'str:' .. i, 'value ' .. i .. ' ' .. string.rep('r', i % 40))
  if i % 10 == 0 then redis.call('EXPIRE', 'str:' .. i, 86400) end
end
for i = 1, 30 do
  redis.call('RPUSH', 'list:' .. i, 'a' .. i, 'b' .. i, 'c' .. i)
  redis.call('HSET', 'hash:' .. i, 'f1', i, 'f2', 'two ' .. i, 'f3', '')
  redis.call('SADD', 'set:' .. i, 'x' .. i, 'y' .. i, 'z')
  redis.call('ZADD', 'zset:' .. i, i, 'm1', i * 2.5, 'm2')
  redis.call('XADD', 'stream:' .. i, '1-' .. i, 'field', 'v' .. i)
end
redis.call('SELECT', 3)
for i = 1, 50 do redis.call('SET', 'db3:' .. i, i) end
redis.call('LPUSH', 'db3:queue', 'job1', 'job2')
return 'loaded'
"""
# every key of a database with its value (in a fixed order) and whether it has a TTL: the test's own read,
# not the move's sample
REDIS_READ = """
local r = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('TYPE', k)['ok']; local v
  if t == 'string' then v = redis.call('GET', k)
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'set' then v = redis.call('SMEMBERS', k); table.sort(v)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'stream' then v = redis.call('XRANGE', k, '-', '+') end
  r[k] = {t, v, redis.call('TTL', k) > 0}
end
return cjson.encode(r)
"""
CLI = 'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")" exec redis-cli -h 127.0.0.1 '


def _redis(store: Store, *args: str) -> str:
    return store.exec("sh", "-c", CLI + '"$@"', "sh", *args)


def _redis_state(store: Store) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for db in ("0", "3"):
        doc = json.loads(_redis(store, "-n", db, "EVAL", REDIS_READ, "0"))
        out[db] = {k: [v[0], sorted(v[1]) if v[0] == "hash" else v[1], v[2]] for k, v in doc.items()}
    return out


# --- the test ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stores(engine: LocalEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Store]]:
    kit.build_all(["mariadb", "mariadb-11.8", "redis", "redis-8.0"], verbose=False)
    tmp = tmp_path_factory.mktemp("dsmv")
    _, files = _repo(tmp, {"mariadb": (MARIA[0], None), "redis": (REDIS[0], None)})
    out = {s: Store(engine, s, tmp / "run" / s, f"zixly-{NAME}-{s}") for s in ("mariadb", "redis")}
    try:
        for s, store in out.items():
            _write(files, s, store.root)
            store.compose("up", "-d", "--wait", "server", timeout=300)
        out["mariadb"].compose("run", "--rm", "--no-deps", "provision", timeout=300)
        yield out
    finally:
        for store in out.values():
            if (store.root / "compose.yaml").exists():
                store.engine.docker("compose", "--project-directory", str(store.root), "-f",
                                    str(store.root / "compose.yaml"), "down", "-v", "--remove-orphans", timeout=300)
            for c in store.engine.docker("ps", "-aq", "--filter", f"label=org.zixly.data-move={NAME}").stdout.split():
                store.engine.docker("rm", "-f", c)
            for v in store.engine.docker("volume", "ls", "-q", "--filter",
                                         f"name={store.project}").stdout.split():
                store.engine.docker("volume", "rm", "-f", v)


def _move(stores: dict[str, Store], tmp: Path, service: str, pin: tuple[str, str], major: str,
          request: pytest.FixtureRequest) -> tuple[str, str]:
    """Render the new release, carry out its data move, start it: (old volume, new volume)."""
    store = stores[service]
    loaded, files = _repo(tmp, {"mariadb": (MARIA[1], "11.8") if service == "mariadb" else (MARIA[0], None),
                                "redis": (REDIS[1], "8.0") if service == "redis" else (REDIS[0], None)})
    new_root = store.root.parent / f"{service}-new"
    compose = _write(files, service, new_root)
    rules = loaded.catalog.services[service].upgrade
    move = plan_move(service, rules, pin[0], pin[1])
    assert move is not None and [h.data_format for h in move.hops] == [True], move
    planned = data_move(NAME, move, service, compose, None, major)
    assert planned is not None and planned.new_volume == f"{store.project}_data-{service}{major}", planned
    said: list[str] = []
    started = time.monotonic()
    outcome = carry_out(LocalRunner(dict(store.engine.env)), planned, said.append)
    figure(request, f"{service}_major_move_s", round(time.monotonic() - started, 1))
    print(f"\n{service} {pin[0]} -> {pin[1]}: moved in {time.monotonic() - started:.1f}s: {said}")
    assert outcome.tables > 0, outcome
    store.root = new_root
    store.compose("up", "-d", "--wait", "server", timeout=300)
    return planned.old_volume, planned.new_volume


def _kept(store: Store, old: str, new: str) -> None:
    labels = store.volume_labels(new)
    assert labels is not None and labels["org.zixly.retires"] == old, labels
    assert store.volume_labels(old) is not None, "the old volume is kept until --prune"
    assert store.users_of(old) == [], f"the old volume is still mounted by {store.users_of(old)}"
    assert new in store.mounts() and old not in store.mounts(), store.mounts()


def _old_major_reads(store: Store, old: str, image: str, argv: list[str]) -> str:
    """*argv* run against the old major started again on the old volume (no network, removed after)."""
    name = f"{store.project}-wayback"
    res = store.engine.docker("run", "-d", "--name", name, "--network", "none", "--label",
                              f"org.zixly.data-move={NAME}", "-e", "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1",
                              "--mount", f"type=volume,source={old},target=" +
                              ("/var/lib/mysql" if store.service == "mariadb" else "/data"), image,
                              *(["--skip-grant-tables"] if store.service == "mariadb" else
                                ["redis-server", "--appendonly", "yes"]))
    assert res.returncode == 0, res.stderr
    try:
        for _ in range(120):
            got = store.engine.docker("exec", name, *argv)
            if got.returncode == 0 and got.stdout.strip():
                return got.stdout
            time.sleep(1)
        raise AssertionError(f"the old major on {old} did not answer: {got.stderr[-500:]}")
    finally:
        store.engine.docker("rm", "-f", name)


def test_mariadb_and_redis_move_to_a_new_major_with_every_row_and_key_equal(
        stores: dict[str, Store], tmp_path: Path, request: pytest.FixtureRequest) -> None:
    maria, redis = stores["mariadb"], stores["redis"]
    assert "10.11" in _maria_sql(maria, "SELECT VERSION()")
    _maria_sql(maria, SHOP)
    _maria_sql(maria, "CREATE TABLE invoices (id INT PRIMARY KEY, total DECIMAL(12,2)); INSERT INTO invoices "
                      "SELECT seq, seq * 3.5 FROM seq_1_to_800;", user="invoiceninja", db="invoiceninja",
               password=(maria.root / "secrets" / "invoiceninja_mariadb_password").read_text().strip())
    maria_before = _maria_state(maria)
    assert maria_before["shop"]["items"][0] == 3000 and maria_before["invoiceninja"]["invoices"][0] == 800
    assert "redis_version:7.0" in _redis(redis, "INFO", "server").replace("\r", "")
    assert _redis(redis, "EVAL", REDIS_LOAD, "0").strip() == "loaded"
    redis_before = _redis_state(redis)
    assert len(redis_before["0"]) == 550 and len(redis_before["3"]) == 51

    m_old, m_new = _move(stores, tmp_path, "mariadb", MARIA, "11.8", request)
    assert "11.8" in _maria_sql(maria, "SELECT VERSION()")
    maria_after = _maria_state(maria)
    assert {d: t.pop("objects") for d, t in maria_after.items()} == {d: t.pop("objects") for d, t in
                                                                    maria_before.items()}, "views, triggers, ..."
    assert maria_after == maria_before, "a table's rows differ after the move"
    assert _maria_sql(maria, "SELECT COUNT(*) FROM shop.items", user="clerk", password="clerk-secret-1").strip() \
        == "3000", "the user clerk logs in with its old password and keeps its grants"
    _maria_sql(maria, "INSERT INTO shop.orders (item, qty) VALUES (5, 1)", user="clerk", password="clerk-secret-1")
    denied = maria.engine.docker("exec", "-i", maria.container, "sh", "-c", 'MYSQL_PWD=clerk-secret-1 exec mariadb '
                                 "--protocol=tcp -h 127.0.0.1 -u clerk -e 'DELETE FROM shop.items'")
    assert denied.returncode != 0 and "command denied" in denied.stderr, denied.stderr
    health = maria.engine.docker("inspect", "--format", "{{.State.Health.Status}}", maria.container).stdout.strip()
    assert health == "healthy", health
    _kept(maria, m_old, m_new)

    r_old, r_new = _move(stores, tmp_path, "redis", REDIS, "8.0", request)
    assert "redis_version:8.0" in _redis(redis, "INFO", "server").replace("\r", "")
    assert _redis_state(redis) == redis_before, "a Redis key differs after the move"
    base = redis.engine.docker("exec", redis.container, "sh", "-c", 'cd /data/appendonlydir && head -c 9 "$(sed -n '
                               '"s/^file \\(.*\\) seq .* type b$/\\1/p" *.manifest)"').stdout
    # the AOF's base in a newer RDB version than 7.0's (10): written by 8.0, the move's rewrite
    assert base.startswith("REDIS00") and base > "REDIS0010", base
    _kept(redis, r_old, r_new)

    # the way back: each old volume still holds the old major's data
    wayback = _old_major_reads(maria, m_old, "zixly-offline/mariadb:10.11",
                               ["mariadb", "-N", "-B", "-e", "SELECT COUNT(*), SUM(price) FROM shop.items"])
    assert wayback.split() == ["3000", "5626875.00"], wayback
    keys = _old_major_reads(redis, r_old, "zixly-offline/redis:7.0", ["redis-cli", "DBSIZE"])
    assert keys.strip() == "550", keys

    pruned = prune_host("local", LocalRunner(dict(maria.engine.env)), NAME)
    assert sorted((p.volume, p.removed) for p in pruned) == [(m_old, True), (r_old, True)], pruned
    assert maria.volume_labels(m_old) is None and redis.volume_labels(r_old) is None
    assert maria.volume_labels(m_new) is not None and redis.volume_labels(r_new) is not None
    assert _maria_state(maria)["shop"]["items"] == maria_before["shop"]["items"]
    assert prune_host("local", LocalRunner(dict(maria.engine.env)), NAME) == []
