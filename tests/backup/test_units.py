"""Unit tests of the backup package's pure parts: planner, rendered script/units, snapshot parsing."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.harness.local_engine import unavailable
from tests.helpers import REPO
from zixly_stack.backup.drill import keyspace_keys, mariadb_expected, pg_expected, rdb_expected
from zixly_stack.backup.local import standin_containers
from zixly_stack.backup.snapshots import latest_by_service, parse, select
from zixly_stack.errors import ConfigError
from zixly_stack.models.environment import BackupTarget, Environment
from zixly_stack.project import Loaded, load
from zixly_stack.render.backup.faults import DrillError
from zixly_stack.render.backup.plan import BackupPlan, plan_backup
from zixly_stack.render.backup.repo import repository
from zixly_stack.render.backup.script import backup_schedule, backup_script
from zixly_stack.render.schedule import schedule_files


def _local() -> tuple[Loaded, BackupPlan]:
    loaded = load(REPO, "local")
    return loaded, plan_backup(loaded.stack, "local", standin_containers(loaded))


def test_local_plan_dumps_each_apps_database_from_the_shared_server() -> None:
    _, plan = _local()
    items = {i.name: i for i in plan.items}
    assert items["n8n.db.n8n"].container == "zixly-local-postgres-server-1"
    assert items["n8n.db.n8n"].engine == "postgres" and items["n8n.db.n8n"].filename == "n8n/n8n.pgdump"
    assert items["invoiceninja.db.invoiceninja"].container == "zixly-local-mariadb-server-1"
    assert items["warehouse.db.warehouse"].container == "zixly-local-warehouse-db-1"
    assert items["n8n.volume.data"].volume == "zixly-local-n8n_data"
    assert items["traefik.files.acme"].kind == "files"
    assert {s.service for s in plan.services}.isdisjoint({"postgres", "mariadb", "socket-proxy"})
    assert items["n8n.db.n8n"].tags("local") == ("env:local", "service:n8n", "kind:db", "item:n8n.db.n8n")


def test_dedicated_stores_are_dumped_from_the_apps_own_server() -> None:
    loaded = load(REPO, "production")
    plan = plan_backup(loaded.stack, loaded.stack.host_names()[0])
    items = {i.name: i for i in plan.items}
    assert items["n8n.db.n8n"].container == "zixly-production-n8n-postgres-1"
    assert items["mautic.db.mautic"].container == "zixly-production-mautic-mariadb-1"
    assert plan == plan_backup(loaded.stack, loaded.stack.host_names()[0]), "pure: same input, same plan"


def test_the_shared_redis_instance_is_one_item_of_service_redis() -> None:
    _, plan = _local()
    redis = [i for i in plan.items if i.engine == "redis"]
    assert [(i.service, i.name, i.kind) for i in redis] == [("redis", "redis.db.redis", "db")]
    item = redis[0]
    assert item.container == "zixly-local-redis-server-1" and item.volume == "zixly-local-redis_data"
    assert item.filename == "redis/dump.rdb"
    sp = next(s for s in plan.services if s.service == "redis")
    assert sp.items == (item,) and sp.project == "zixly-local-redis" and not sp.stop
    assert [s.service for s in plan.services].index("redis") < [s.service for s in plan.services].index("chatwoot")
    script = backup_script(plan, _local()[0].stack.environment)
    line = "dump_redis redis redis.db.redis zixly-local-redis-server-1 redis/dump.rdb"
    assert line in script and "--rdb" in script and 'REDISCLI_AUTH="$(cat "$REDIS_PASSWORD_FILE")"' in script


def test_no_redis_item_when_redis_is_not_on_the_host_or_declares_no_backup() -> None:
    loaded, _ = _local()
    stack = loaded.stack
    off = dataclasses.replace(stack, placements=[p for p in stack.placements if p.name != "redis"])
    assert not [i for i in plan_backup(off, "local").items if i.engine == "redis"]
    redis = stack.services["redis"]
    bare = redis.model_copy(update={"backup": redis.backup.model_copy(update={"databases": []})})
    placements = [dataclasses.replace(p, service=bare) if p.name == "redis" else p for p in stack.placements]
    plain = dataclasses.replace(stack, services={**stack.services, "redis": bare}, placements=placements)
    plan = plan_backup(plain, "local")
    assert not [i for i in plan.items if i.engine == "redis"] and "redis" not in {s.service for s in plan.services}


def test_dedicated_stores_back_up_each_apps_own_redis() -> None:
    loaded = load(REPO, "production")
    host = loaded.stack.host_names()[0]
    plan = plan_backup(loaded.stack, host)
    redis = {i.name: i for i in plan.items if i.engine == "redis"}
    bound = sorted(p.name for p in loaded.stack.on_host(host) if any(b.kind == "redis" for b in p.service.stores))
    assert bound and sorted(i.service for i in redis.values()) == bound
    cw = redis["chatwoot.db.redis"]
    assert cw.container == "zixly-production-chatwoot-redis-1" and cw.volume == "zixly-production-chatwoot_redis-data"
    assert "redis" not in {s.service for s in plan.services}, "no shared server in dedicated mode"


def test_rdb_key_counts_from_redis_check_rdb_and_info_keyspace() -> None:
    out = "[offset 0] Checking RDB file x\n[info] 7 keys read\n[info] 2 expires\n[info] 1 already expired\n"
    assert rdb_expected(out) == (7, 2, 1)
    assert keyspace_keys("# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\ndb12:keys=4,expires=2,avg_ttl=9\r\n") == 7
    with pytest.raises(DrillError):
        rdb_expected("--- RDB ERROR DETECTED ---")


def test_standin_steps_are_marked_and_stop_lists_are_kept() -> None:
    _, plan = _local()
    nc = next(s for s in plan.services if s.service == "nextcloud")
    assert nc.pre and all(s.standin for s in (*nc.pre, *nc.post)), "Nextcloud runs as a stand-in locally"
    assert "maintenance:mode --on" in nc.pre[0].argv[-1]
    pt = next(s for s in plan.services if s.service == "portainer")
    assert pt.stop == ("zixly-local-portainer-portainer-1",)
    assert plan.only(["n8n"]).services[0].service == "n8n" and len(plan.only(["n8n"]).services) == 1


def test_repository_strings_per_target() -> None:
    base = Environment(domain="example.com")
    assert repository("p", base) == "/var/backups/zixly"
    sftp = base.model_copy(update={"backup": base.backup.model_copy(update={"target": BackupTarget(
        type="sftp", url="sftp:backup@h:/srv/r")})})
    assert repository("p", sftp) == "sftp:backup@h:/srv/r"
    s3 = base.model_copy(update={"backup": base.backup.model_copy(update={"target": BackupTarget(
        type="s3", url="https://s3.example.com/bucket/zixly")})})
    assert repository("p", s3) == "s3:https://s3.example.com/bucket/zixly"
    with pytest.raises(ValidationError, match="invalid value 'ftp://x'"):  # the model refuses it first
        BackupTarget(type="sftp", url="ftp://x")
    bad = base.model_copy(update={"backup": base.backup.model_copy(update={"target": BackupTarget.model_construct(
        type="sftp", url="ftp://x")})})
    with pytest.raises(ConfigError, match=r"backup\.target\.url"):
        repository("p", bad)


def test_script_is_valid_bash_with_pipefail_and_post_steps_after_the_items() -> None:
    loaded, plan = _local()
    text = backup_script(plan, loaded.stack.environment)
    assert text == backup_script(plan, loaded.stack.environment), "deterministic"
    res = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "set -u -o pipefail" in text and "--stdin --stdin-filename" in text
    assert "RESTIC_PASSWORD_FILE" in text and "RESTIC_PASSWORD=" not in text
    block = text[text.index("# -- nextcloud"):]
    block = block[:block.index("\nfi\n")]
    lines = block.splitlines()
    post = next(n for n, line in enumerate(lines) if "maintenance:mode --off" in line)
    assert post > max(n for n, line in enumerate(lines) if "volume nextcloud" in line)
    assert not lines[post].lstrip().startswith("[ $ok"), "post steps run even after a failure"
    assert "--keep-daily 7 --keep-weekly 4 --keep-monthly 6" in text
    assert "--read-data-subset=" in text and "restic check" in text
    assert "pg_dump -U postgres -Fc -Z0" in text and "--single-transaction" in text


def test_units_and_cron(tmp_path: Path) -> None:
    units = schedule_files(backup_schedule("production", "02:30", "/opt/zixly/production/current/h1/backup/backup.sh"))
    svc, timer = units["service"], units["timer"]
    assert "OnCalendar=*-*-* 02:30:00" in timer and "Persistent=true" in timer
    assert "Type=oneshot" in svc and "ExecStart=/bin/bash /opt/zixly/" in svc
    cron = schedule_files(backup_schedule("production", "02:30", "/x/backup.sh"))["cron"].splitlines()
    assert cron[-1] == "30 2 * * * root /bin/bash /x/backup.sh >>/var/log/zixly-backup-production.log 2>&1"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        unavailable("systemd-analyze missing (Debian package systemd; `make deps` installs it)")
    (tmp_path / "zixly-backup-production.service").write_text(svc.replace("/opt/zixly/production/current/h1/backup",
                                                                          str(tmp_path)))
    (tmp_path / "backup.sh").write_text("#!/bin/bash\n")
    (tmp_path / "zixly-backup-production.timer").write_text(timer)
    res = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / "zixly-backup-production.timer"),
                          str(tmp_path / "zixly-backup-production.service")], capture_output=True, text=True)
    problems = [ln for ln in res.stderr.splitlines()
                if "zixly-backup" in ln and "docker.service" not in ln and "network-online" not in ln]
    assert not problems, res.stderr


SNAPS = json.dumps([
    {"time": "2026-11-25T03:15:02.5+00:00", "id": "a" * 64, "short_id": "aaaaaaaa", "paths": ["/n8n/n8n.pgdump"],
     "tags": ["env:p", "service:n8n", "kind:db", "item:n8n.db.n8n", "run:20261125T031500Z"]},
    {"time": "2026-11-26T03:15:02.123456789+00:00", "id": "b" * 64, "short_id": "bbbbbbbb",
     "paths": ["/n8n/n8n.pgdump"], "tags": ["env:p", "service:n8n", "kind:db", "item:n8n.db.n8n",
                                            "run:20261126T031500Z"]},
    {"time": "2026-11-25T03:16:00Z", "id": "c" * 64, "short_id": "cccccccc", "paths": ["/v", "/m"],
     "tags": ["env:p", "service:plane", "kind:volume", "item:plane.volume.uploads", "run:20261125T031500Z"]},
])


def test_snapshot_selection_latest_run_and_id() -> None:
    snaps = parse(SNAPS)
    assert [s.short_id for s in snaps] == ["aaaaaaaa", "cccccccc", "bbbbbbbb"]
    latest = select(snaps, "latest")
    assert latest["n8n.db.n8n"].short_id == "bbbbbbbb" and latest["plane.volume.uploads"].short_id == "cccccccc"
    older = select(snaps, "aaaaaaaa")
    assert older["n8n.db.n8n"].short_id == "aaaaaaaa" and "plane.volume.uploads" in older
    assert select(snaps, "20261125T031500Z")["n8n.db.n8n"].short_id == "aaaaaaaa"
    assert select(snaps, "ffff") == {}
    assert latest_by_service(snaps)["n8n"].day == 26


def test_row_counts_from_dumps() -> None:
    pg = ("SET x;\nCOPY public.\"Users\" (id, name) FROM stdin;\n1\ta\n2\tb\n\\.\n"
          "COPY public.empty (id) FROM stdin;\n\\.\n")
    assert pg_expected(pg) == {"public.Users": 2, "public.empty": 0}
    my = ("CREATE TABLE `t` (\n  id int\n);\nINSERT INTO `t` VALUES (1);\nINSERT INTO `t` VALUES (2);\n"
          "CREATE TABLE `e` (\n")
    assert mariadb_expected(my) == {"t": 2, "e": 0}


@pytest.mark.parametrize("base", ["/opt/zixly", "/tmp/t/opt", "/var/tmp/zx", "/zz"])
def test_volume_snapshot_finds_its_manifest_by_name_not_position(base: str) -> None:
    """restic sorts a snapshot's paths: where the manifest sorts depends on the base dir."""
    import datetime as dt

    from zixly_stack.backup.snapshots import Snapshot

    volume = "/var/lib/docker/volumes/zixly-e2e-chatwoot_storage/_data"
    manifest = f"{base}/e2e/backup/manifests/chatwoot.volume.storage.sha256"
    snap = Snapshot("a" * 64, "a" * 8, dt.datetime.now(dt.UTC), tuple(sorted([volume, manifest])),
                    {"item": "chatwoot.volume.storage", "kind": "volume"})
    assert (snap.source, snap.manifest) == (volume, manifest)
    db = Snapshot("b" * 64, "b" * 8, dt.datetime.now(dt.UTC), ("/chatwoot.pgdump",), {"item": "chatwoot.db.chatwoot"})
    assert (db.source, db.manifest) == ("/chatwoot.pgdump", None)
