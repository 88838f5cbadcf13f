"""Restore (``zixly_stack/backup/restore.py``), the health report's backup source and the staging
key check, without a stack: the REAL restic (a repository in the test's temp dir, snapshots made
the way the nightly script makes them: tags, ``--stdin`` dumps, volume paths with a checksum
manifest) and real files; only the container engine is a stand-in, at the process boundary
(``tests/backup/fake_engine/docker`` on PATH and as the runner's docker client: container states,
the databases in the servers, injected failures, every call logged). Restores run through this
machine's runner (a :class:`~zixly_stack.backup.site.Site` of the environment's one host), as
they do for a local environment. The end-to-end restores against real PostgreSQL, MariaDB
and Redis are in test_wipe_restore_e2e.py, test_mariadb_restore_e2e.py and test_redis_e2e.py.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import REPO, make_root
from tests.helpers import fake_secrets
from zixly_stack.backup import restore as rs
from zixly_stack.backup.keys import key_mismatches
from zixly_stack.backup.local import Env
from zixly_stack.backup.site import Repo as ResticOn
from zixly_stack.backup.site import Site
from zixly_stack.backup.snapshots import Snapshot
from zixly_stack.commands.db import pg_restore_clean
from zixly_stack.health.backup_source import ResticSnapshots
from zixly_stack.health.probes.backup import BackupSourceError
from zixly_stack.project import load
from zixly_stack.render.backup.faults import BackupError, ContainerDownError
from zixly_stack.runner import LocalRunner
from zixly_stack.runner import local as local_runner
from zixly_stack.secrets.value import Secret

ENV = "rt"
FAKE = Path(__file__).parent / "fake_engine"
SERVICES = "  postgres:\n  mariadb:\n  redis:\n  warehouse:\n  n8n:\n  invoiceninja:\n"
PG = "zixly-rt-postgres-server-1"
MARIADB = "zixly-rt-mariadb-server-1"
REDIS = "zixly-rt-redis-server-1"
COMPLETE = "CREATE TABLE `clients` (id int);\nINSERT INTO `clients` VALUES (1);\n-- Dump completed on 2026-12-01\n"


def make_env(tmp: Path, name: str = ENV, secrets: dict[str, Secret] | None = None, extra: str = "") -> Env:
    text = (REPO / "inventories" / "local" / "environment.yaml").read_text() + extra
    text = re.sub(r"(?m)^base_dir: .*$", f"base_dir: {tmp}/opt", text)
    text = re.sub(r"(?m)^(\s+target: ).*$", rf"\g<1>{{type: local, path: {tmp}/restic}}", text)
    text = text.split("services:\n")[0] + "services:\n" + SERVICES + "backup:" + text.split("\nbackup:", 1)[1]
    root = make_root(tmp / "repo", name, text, (REPO / "inventories" / "local" / "hosts.yaml").read_text())
    loaded = load(root, name)
    return Env(loaded, secrets or fake_secrets(loaded), "local")


def restic(env: Env, *args: str, stdin: bytes | None = None) -> str:
    with env.restic_env() as renv:
        res = subprocess.run(["restic", *args], env=renv, input=stdin, capture_output=True, check=False)
    assert res.returncode == 0, res.stderr.decode()
    return res.stdout.decode()


def site_of(env: Env) -> Site:
    """This machine as the environment's one host (the runner every local restore uses)."""
    [host] = env.loaded.config.hosts.hosts
    return Site(host, LocalRunner(), env.redact)


def restore_tree(env: Env, snap: Snapshot, target: Path) -> int:
    site = site_of(env)
    with ResticOn(site, env) as repo:
        return rs.restore_tree(repo, site, snap, str(target))


def restore_db(env: Env, snap: Snapshot, item: Any) -> None:
    site = site_of(env)
    with ResticOn(site, env) as repo:
        rs.restore_db(repo, site, snap, item)


def restore_redis(env: Env, snap: Snapshot, item: Any) -> None:
    site = site_of(env)
    with ResticOn(site, env) as repo:
        rs.restore_redis(repo, site, snap, item)


def restore(src: Env, dst: Env, ref: str, services: list[str], say: Any) -> list[rs.ServiceOutcome]:
    site = site_of(dst)
    return rs.restore(src, dst, ref, services, say, {site.host: site})


def tags(service: str, kind: str, item: str) -> list[str]:
    return [a for t in (f"env:{ENV}", f"service:{service}", f"kind:{kind}", f"item:{item}") for a in ("--tag", t)]


def backup_dump(env: Env, item: str, service: str, filename: str, data: bytes) -> None:
    restic(env, "backup", "--stdin", "--stdin-filename", f"/{filename}", *tags(service, "db", item), stdin=data)


def backup_volume(env: Env, item: str, service: str, source: Path, state: Path) -> None:
    """As the nightly script does: the volume's directory plus a `sha256  /abs/path` manifest."""
    manifests = state / "manifests"
    manifests.mkdir(parents=True, exist_ok=True)
    lines = [f"{rs.checksums(source)[rel]}  {source / rel}" for rel in sorted(rs.checksums(source))]
    (manifests / f"{item}.sha256").write_text("".join(line + "\n" for line in lines))
    restic(env, "backup", *tags(service, "volume", item), str(source), str(manifests / f"{item}.sha256"))


@dataclass
class Repo:
    env: Env
    tmp: Path
    data: Path  # the n8n volume as backed up

    def snapshot(self, item: str, nth: int = -1) -> Snapshot:
        return [s for s in rs.snapshots(self.env) if s.item == item][nth]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """One real restic repository with snapshots of each kind (made once for the module)."""
    tmp = tmp_path_factory.mktemp("restore")
    env = make_env(tmp)
    restic(env, "init")
    backup_dump(env, "n8n.db.n8n", "n8n", "n8n/n8n.pgdump", b"PGDMP n8n workflows v1")
    data = tmp / "volumes" / "n8n_data" / "_data"
    (data / "nodes").mkdir(parents=True)
    (data / "config").write_text('{"encryptionKey": "from-the-backup"}\n')
    (data / "nodes" / "package.json").write_text("{}\n")
    backup_volume(env, "n8n.volume.data", "n8n", data, tmp / "state")
    backup_dump(env, "invoiceninja.db.invoiceninja", "invoiceninja", "invoiceninja/invoiceninja.sql", COMPLETE.encode())
    backup_dump(env, "invoiceninja.db.invoiceninja", "invoiceninja", "invoiceninja/invoiceninja.sql",
                b"CREATE TABLE `clients` (id int);\nINSERT INTO `cli")  # cut off: no completion line
    backup_dump(env, "redis.db.redis", "redis", "redis/dump.rdb", b"REDIS0011\xfa\x09redis-ver\x057.0.15")
    return Repo(env, tmp, data)


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The stand-in engine's state (read back after each call through :func:`world`)."""
    state = tmp_path / "engine.json"
    running = {"status": "running", "health": "healthy", "restart": "unless-stopped"}
    containers = {PG: {**running, "project": "zixly-rt-postgres"}, MARIADB: {**running, "project": "zixly-rt-mariadb"},
                  REDIS: {**running, "project": "zixly-rt-redis"},
                  "zixly-rt-n8n-n8n-1": {**running, "project": "zixly-rt-n8n"},
                  "zixly-rt-n8n-runner-1": {**running, "project": "zixly-rt-n8n"},
                  "zixly-rt-invoiceninja-app-1": {**running, "project": "zixly-rt-invoiceninja"},
                  "zixly-rt-invoiceninja-migrate-1": {"status": "exited", "health": None, "restart": "no",
                                                      "project": "zixly-rt-invoiceninja"}}
    volumes = {}
    for volume in ("zixly-rt-n8n_data", "zixly-rt-redis_data", "zixly-rt-invoiceninja_storage"):
        (tmp_path / "volumes" / volume / "_data").mkdir(parents=True)
        volumes[volume] = str(tmp_path / "volumes" / volume / "_data")
    doc = {"containers": containers, "volumes": volumes, "databases": {MARIADB: {"invoiceninja": "OLD CONTENTS"}},
           "fail": {}, "log": []}
    state.write_text(json.dumps(doc))
    monkeypatch.setenv("FAKE_DOCKER_STATE", str(state))
    monkeypatch.setenv("PATH", f"{FAKE}:{os.environ['PATH']}")
    monkeypatch.setattr(local_runner, "docker_argv", lambda: [str(FAKE / "docker")])
    yield {"path": state}


def world(engine: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(engine["path"]).read_text())
    return doc


def inject(engine: dict[str, Any], **changes: Any) -> None:
    doc = world(engine)
    for key, value in changes.items():
        if isinstance(value, dict):
            doc.setdefault(key, {}).update(value)
        else:
            doc[key] = value
    Path(engine["path"]).write_text(json.dumps(doc))


# -- snapshots, health source, keys ---------------------------------------------------------------
def test_snapshots_and_the_health_reports_backup_source(repo: Repo) -> None:
    snaps = rs.snapshots(repo.env)
    assert sorted({s.item for s in snaps}) == ["invoiceninja.db.invoiceninja", "n8n.db.n8n", "n8n.volume.data",
                                               "redis.db.redis"]
    latest = ResticSnapshots(repo.env).latest()
    assert set(latest) == {"n8n", "invoiceninja", "redis"}
    assert latest["invoiceninja"] == max(s.time for s in snaps if s.service == "invoiceninja")
    wrong = Env(repo.env.loaded, {**repo.env.secrets, "backup.restic_password": Secret("not-the-password-0000")},
                "local")
    with pytest.raises(BackupSourceError, match="password"):
        ResticSnapshots(wrong).latest()


def test_key_mismatches_names_only_never_rotate_keys_that_differ(tmp_path: Path) -> None:
    src = make_env(tmp_path / "a")
    same = make_env(tmp_path / "b", "rs", dict(src.secrets))
    assert key_mismatches(src, same) == []
    changed = {**src.secrets, "n8n.encryption_key": Secret("another-key-0123456789abcdef0123456789ab"),
               "n8n.owner_password": Secret("rotatable-is-not-reported"),
               "backup.restic_password": Secret("each-env-has-its-own")}
    other = make_env(tmp_path / "c", "rs", changed)
    assert key_mismatches(src, other) == ["n8n.encryption_key"]
    assert "another-key" not in repr(key_mismatches(src, other))


# -- volumes --------------------------------------------------------------------------------------
def test_a_volume_is_replaced_by_the_snapshot_and_checked_file_by_file(repo: Repo, tmp_path: Path) -> None:
    target = tmp_path / "vol"
    (target / "stale").mkdir(parents=True)
    (target / "stale" / "x").write_text("gone after the restore")
    (target / "config").write_text("changed since")
    count = restore_tree(repo.env, repo.snapshot("n8n.volume.data"), target)
    assert count == 2 and rs.checksums(target) == rs.checksums(repo.data)
    assert not (target / "stale").exists()


def test_a_manifest_that_disagrees_fails_the_restore(tmp_path: Path) -> None:
    """A snapshot whose files differ from its manifest (a file vanished between the manifest and
    the backup) is reported, never taken as restored."""
    env = make_env(tmp_path)
    restic(env, "init")
    source = tmp_path / "src" / "_data"
    source.mkdir(parents=True)
    (source / "kept").write_text("kept\n")
    (source / "vanished").write_text("vanished\n")
    state = tmp_path / "state" / "manifests"
    state.mkdir(parents=True)
    sums = rs.checksums(source)
    (state / "t.volume.broken.sha256").write_text("".join(f"{sums[r]}  {source / r}\n" for r in sorted(sums)))
    (source / "vanished").unlink()
    restic(env, "backup", *tags("t", "volume", "t.volume.broken"), str(source), str(state / "t.volume.broken.sha256"))
    target = tmp_path / "vol"
    target.mkdir()
    with pytest.raises(BackupError, match=r"restored files differ from the backup: missing vanished"):
        restore_tree(env, rs.snapshots(env)[0], target)
    assert rs.compare({"a": "1", "b": "2"}, {"b": "3", "c": "4"}) == ["missing a", "unexpected c", "changed b"]


# -- databases ------------------------------------------------------------------------------------
def test_postgres_dump_is_piped_into_pg_restore_of_the_apps_own_database(repo: Repo, engine: dict[str, Any]) -> None:
    item = next(i for i in repo.env.plan().items if i.name == "n8n.db.n8n")
    restore_db(repo.env, repo.snapshot(item.name), item)
    w = world(engine)
    assert w["databases"][PG] == {"n8n": "PGDMP n8n workflows v1"}
    exec_call = next(c for c in w["log"] if c[0] == "exec")
    assert exec_call[:4] == ["exec", "-i", PG, "sh"] and exec_call[4:] == ["-c", *pg_restore_clean("n8n")[2:]]
    inject(engine, fail={"pg_restore": 1})
    with pytest.raises(BackupError,
                       match=r"n8n\.db\.n8n: restore into zixly-rt-postgres-server-1 on local: .*syntax error"):
        restore_db(repo.env, repo.snapshot(item.name), item)
    inject(engine, containers={PG: {"status": "exited", "restart": "unless-stopped", "project": "zixly-rt-postgres"}})
    with pytest.raises(ContainerDownError, match="database server zixly-rt-postgres-server-1 is exited"):
        restore_db(repo.env, repo.snapshot(item.name), item)


def _ninja(repo: Repo) -> Any:
    return next(i for i in repo.env.plan().items if i.name == "invoiceninja.db.invoiceninja")


def test_mariadb_restore_loads_a_complete_dump(repo: Repo, engine: dict[str, Any]) -> None:
    restore_db(repo.env, repo.snapshot(_ninja(repo).name, 0), _ninja(repo))
    assert world(engine)["databases"][MARIADB]["invoiceninja"] == COMPLETE


def test_mariadb_refuses_an_incomplete_dump_before_touching_anything(repo: Repo, engine: dict[str, Any]) -> None:
    with pytest.raises(BackupError, match=r"incomplete \(no '-- Dump completed' line at its end\); nothing was"):
        restore_db(repo.env, repo.snapshot(_ninja(repo).name, -1), _ninja(repo))
    w = world(engine)
    assert w["databases"][MARIADB]["invoiceninja"] == "OLD CONTENTS"
    assert not [c for c in w["log"] if c[0] == "exec"], "not even the current contents were read"


def test_a_failed_mariadb_load_puts_the_previous_contents_back(repo: Repo, engine: dict[str, Any]) -> None:
    inject(engine, fail={"mariadb_load": 1})
    with pytest.raises(BackupError, match=r"syntax.*the database's previous contents were put back"):
        restore_db(repo.env, repo.snapshot(_ninja(repo).name, 0), _ninja(repo))
    assert world(engine)["databases"][MARIADB]["invoiceninja"] == "OLD CONTENTS"


def test_when_putting_back_fails_too_the_copy_is_kept_and_named(repo: Repo, engine: dict[str, Any]) -> None:
    inject(engine, fail={"mariadb_load": 2})
    with pytest.raises(BackupError, match=r"ALSO failed -- they are kept in (\S+) on local \(mode 0600\)") as err:
        restore_db(repo.env, repo.snapshot(_ninja(repo).name, 0), _ninja(repo))
    kept = Path(re.search(r"kept in (\S+) on local \(mode", str(err.value)).group(1))  # type: ignore[union-attr]
    try:
        assert kept.read_text() == "OLD CONTENTS" and stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    finally:
        import shutil

        shutil.rmtree(kept.parent)


# -- redis ----------------------------------------------------------------------------------------
def test_redis_rdb_becomes_the_aof_base_of_a_restarted_server(repo: Repo, engine: dict[str, Any]) -> None:
    item = next(i for i in repo.env.plan().items if i.name == "redis.db.redis")
    data = Path(world(engine)["volumes"][item.volume])
    (data / "dump.rdb").write_bytes(b"old")
    (data / "appendonlydir").mkdir()
    restore_redis(repo.env, repo.snapshot(item.name), item)
    assert sorted(p.name for p in data.iterdir()) == ["appendonlydir"]
    aof = data / "appendonlydir"
    assert (aof / rs.AOF_BASE).read_bytes().startswith(b"REDIS0011")
    assert (aof / rs.AOF_MANIFEST_FILE).read_text() == rs.AOF_MANIFEST and (aof / rs.AOF_INCR).read_bytes() == b""
    calls = [c[:2] for c in world(engine)["log"] if c[0] in ("stop", "start")]
    assert calls == [["stop", REDIS], ["start", REDIS]]


def test_redis_refuses_a_snapshot_that_is_not_an_rdb(repo: Repo, engine: dict[str, Any]) -> None:
    item = next(i for i in repo.env.plan().items if i.name == "redis.db.redis")
    not_rdb = repo.snapshot("n8n.db.n8n")
    with pytest.raises(BackupError, match="is not a Redis RDB; nothing was changed"):
        restore_redis(repo.env, Snapshot(not_rdb.id, not_rdb.short_id, not_rdb.time, not_rdb.paths,
                                            {"item": item.name}), item)
    assert not [c for c in world(engine)["log"] if c[0] in ("stop", "start")]


# -- whole services -------------------------------------------------------------------------------
def test_restore_stops_the_apps_at_once_restores_and_starts_them_one_by_one(repo: Repo, engine: dict[str, Any]
                                                                            ) -> None:
    said: list[str] = []
    outcomes = restore(repo.env, repo.env, "latest", ["n8n"], said.append)
    [n8n] = outcomes
    assert n8n.service == "n8n" and n8n.healthy and not n8n.error and n8n.files_checked == 2
    assert [i.split("@")[0] for i in n8n.items] == ["n8n.db.n8n", "n8n.volume.data"]
    log = world(engine)["log"]
    stops = [c for c in log if c[0] == "stop"]
    assert stops == [["stop", "zixly-rt-n8n-n8n-1", "zixly-rt-n8n-runner-1"]], "one call, never the servers"
    starts = [c for c in log if c[0] == "start"]
    assert starts == [["start", "zixly-rt-n8n-n8n-1"], ["start", "zixly-rt-n8n-runner-1"]]
    assert log.index(stops[0]) < min(log.index(c) for c in log if c[0] == "exec") < log.index(starts[0])
    assert rs.checksums(Path(world(engine)["volumes"]["zixly-rt-n8n_data"])) == rs.checksums(repo.data)
    assert said[:2] == ["local: restoring n8n of rt from rt's snapshot latest",
                        "local: stopped 2 app container(s) of n8n"]


def test_a_failure_still_starts_the_apps_and_an_unhealthy_one_is_reported(repo: Repo, engine: dict[str, Any]
                                                                         ) -> None:
    inject(engine, fail={"pg_restore": 1}, health_after_start={"zixly-rt-n8n-runner-1": "unhealthy"})
    real_wait = rs.wait_healthy
    rs.wait_healthy = lambda site, names, timeout=300: real_wait(site, names, timeout=2)  # type: ignore[assignment]
    try:
        [n8n] = restore(repo.env, repo.env, "latest", ["n8n"], lambda s: None)
    finally:
        rs.wait_healthy = real_wait  # type: ignore[assignment]
    assert "syntax error" in n8n.error and not n8n.healthy
    assert [c for c in world(engine)["log"] if c[0] == "start"] == [["start", "zixly-rt-n8n-n8n-1"],
                                                                   ["start", "zixly-rt-n8n-runner-1"]]
    inject(engine, health_after_start={"zixly-rt-n8n-runner-1": "unhealthy"})
    rs.wait_healthy = lambda site, names, timeout=300: real_wait(site, names, timeout=2)  # type: ignore[assignment]
    try:
        [again] = restore(repo.env, repo.env, "latest", ["n8n"], lambda s: None)
    finally:
        rs.wait_healthy = real_wait  # type: ignore[assignment]
    assert again.error == "not healthy after the restore: zixly-rt-n8n-runner-1" and not again.healthy


def test_a_stopped_server_changes_nothing_and_bad_requests_are_errors(repo: Repo, engine: dict[str, Any]) -> None:
    inject(engine, containers={PG: {"status": "exited", "restart": "unless-stopped", "project": "zixly-rt-postgres"}})
    with pytest.raises(ContainerDownError, match="database server zixly-rt-postgres-server-1 is not running on local; "
                                                 "nothing was changed"):
        restore(repo.env, repo.env, "latest", ["n8n"], lambda s: None)
    assert not [c for c in world(engine)["log"] if c[0] in ("stop", "exec")]
    with pytest.raises(BackupError, match="nothing to restore for plane"):
        restore(repo.env, repo.env, "latest", ["plane"], lambda s: None)
    with pytest.raises(BackupError, match="no snapshot 'ffffffff' of rt"):
        restore(repo.env, repo.env, "ffffffff", [], lambda s: None)
