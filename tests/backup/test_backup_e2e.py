"""End-to-end: backups and restores of the shared local stack with REAL restic, PostgreSQL,
MariaDB and n8n containers (the app containers of Plane, Nextcloud, Metabase, Chatwoot, Invoice
Ninja, Mautic and Portainer are labelled stand-ins; their databases and volumes are real).

One module, tests in order: a full backup (twice: the second adds < 5 %), snapshots, marker
rows/files changed after the backup and then restored exactly, other apps' databases left alone,
the restore drill, each fault with its own exit code, and a canary check that no secret value of
the environment reached any output or backup log. Every test restores what it changes.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backup.locks import held_lock
from tests.deploy.helpers import wait_for
from tests.harness.stack import LocalStack
from tests.health.test_schedule import Receiver, receiver
from zixly_stack.secrets.identity import load_identity
from zixly_stack.secrets.store import SecretStore

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]
__all__ = ["receiver"]  # the webhook receiver fixture

RESTORED = ["chatwoot", "invoiceninja", "warehouse"]


def sh(*argv: str, input: str | None = None, check: bool = True) -> str:
    res = subprocess.run(list(argv), capture_output=True, text=True, input=input, timeout=300)
    if check:
        assert res.returncode == 0, f"{argv}: {res.stderr}"
    return res.stdout


def psql(stack: LocalStack, container: str, db: str, sql: str) -> str:
    return sh("docker", "exec", "-i", container, "psql", "-U", "postgres", "-d", db, "-At", "-v", "ON_ERROR_STOP=1",
              input=sql).strip()


def maria(stack: LocalStack, db: str, sql: str) -> str:
    c = stack.container("mariadb", "server")
    return sh("docker", "exec", "-i", c, "sh", "-c", 'MYSQL_PWD=$(cat "$MARIADB_ROOT_PASSWORD_FILE") exec mariadb '
              '-uroot -N "$1"', "sh", db, input=sql).strip()


def volume_dir(name: str) -> Path:
    return Path(sh("docker", "volume", "inspect", "--format", "{{.Mountpoint}}", name).strip())


def secret_values(stack: LocalStack) -> list[str]:
    identity = load_identity({"ZIXLY_AGE_KEY_FILE": stack.zixly.env["ZIXLY_AGE_KEY_FILE"]})
    store = SecretStore.open(stack.env_file.parent, identity)
    return [v for n in store.names() if (s := store.get(n)) is not None and len(v := s.reveal()) >= 8]


def restic_env(stack: LocalStack) -> dict[str, str]:
    identity = load_identity({"ZIXLY_AGE_KEY_FILE": stack.zixly.env["ZIXLY_AGE_KEY_FILE"]})
    pw = SecretStore.open(stack.env_file.parent, identity).get("backup.restic_password")
    assert pw is not None
    return {**os.environ, "RESTIC_REPOSITORY": str(stack.base_dir / "backups"), "RESTIC_PASSWORD": pw.reveal()}


@pytest.fixture(scope="module")
def stack(local_stack: LocalStack) -> Iterator[LocalStack]:
    """The shared stack with marker tables/files created before the first backup."""
    s = local_stack
    psql(s, s.container("postgres", "server"), "chatwoot",
         "CREATE TABLE IF NOT EXISTS zixly_marker (id int PRIMARY KEY, note text); TRUNCATE zixly_marker;"
         "INSERT INTO zixly_marker SELECT g, 'before-' || g FROM generate_series(1, 50) g;")
    psql(s, s.container("warehouse", "db"), "warehouse",
         "CREATE TABLE IF NOT EXISTS zixly_marker (id int PRIMARY KEY); TRUNCATE zixly_marker;"
         "INSERT INTO zixly_marker SELECT generate_series(1, 7);")
    maria(s, "invoiceninja", "CREATE TABLE IF NOT EXISTS zixly_marker (id int PRIMARY KEY, note varchar(40));"
          "DELETE FROM zixly_marker; INSERT INTO zixly_marker VALUES (1, 'before-1'), (2, 'before-2');")
    # bulk data, so the second backup's size is measured against something real (~4 MB rows, 24 MB file).
    # Every pg_dump archive starts with its creation time; the script's pg_stable filter fixes it, so
    # an unchanged database's dump is byte-identical and dedups completely (without it the first
    # restic chunk of every dump, 0.5-8 MiB, was new each run: CI once saw 2.9 MB added of 29 MB).
    psql(s, s.container("postgres", "server"), "chatwoot",
         "DROP TABLE IF EXISTS zixly_bulk; CREATE TABLE zixly_bulk AS "
         "SELECT g AS id, md5(random()::text) || md5(random()::text) AS h FROM generate_series(1, 60000) g;")
    data = volume_dir(f"zixly-{s.env}-chatwoot_storage")
    (data / "zixly-marker.txt").write_text("before\n")
    (data / "zixly-bulk.bin").write_bytes(os.urandom(24_000_000))
    yield s
    s.set_overrides("")
    psql(s, s.container("postgres", "server"), "chatwoot", "DROP TABLE IF EXISTS zixly_bulk;")
    (data / "zixly-bulk.bin").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def first(stack: LocalStack) -> dict[str, Any]:
    """A full backup (every service, the release, the secrets store, retention, restic check)."""
    out: dict[str, Any] = stack.zixly.json("backup", stack.env)
    return out


def test_full_backup_then_an_unchanged_second_adds_under_5_percent(stack: LocalStack, first: dict[str, Any]) -> None:
    items = {i["name"] for i in first["items"]}
    for name in ("n8n.db.n8n", "chatwoot.db.chatwoot", "chatwoot.volume.storage", "invoiceninja.db.invoiceninja",
                 "warehouse.db.warehouse", "mautic.db.mautic", "traefik.files.acme", "zixly.files.secrets"):
        assert name in items, f"{name} not backed up: {sorted(items)}"
    second = stack.zixly.json("backup", stack.env, "--no-maintenance")
    size = first["bytes_processed"]
    print(f"\nfirst backup: read {size} B, added {first['data_added']} B; second: read "
          f"{second['bytes_processed']} B, added {second['data_added']} B")
    assert size > 25_000_000 and second["data_added"] < 0.05 * size, (first["data_added"], second["data_added"], size)


def test_snapshots_are_tagged_per_env_service_and_kind(stack: LocalStack, first: dict[str, Any]) -> None:
    snaps = stack.zixly.json("snapshots", stack.env)
    mine = {s["id"] for s in snaps}
    missing = [i["name"] for i in first["items"] if not any(m.startswith(i["snapshot"]) for m in mine)]
    assert not missing, missing
    kinds = {(s["service"], s["kind"]) for s in snaps}
    assert {("chatwoot", "db"), ("chatwoot", "volume"), ("traefik", "files"), ("invoiceninja", "db")} <= kinds
    text = stack.zixly.run("snapshots", stack.env).stdout
    assert "n8n.db.n8n" in text and "snapshot(s) of" in text


def test_restore_puts_back_exactly_the_backed_up_rows_and_files(stack: LocalStack, first: dict[str, Any]) -> None:
    s = stack
    pg, wh = s.container("postgres", "server"), s.container("warehouse", "db")
    data = volume_dir(f"zixly-{s.env}-chatwoot_storage")
    # another app's database changes after the backup: the restore of chatwoot must not touch it
    psql(s, pg, "metabase", "CREATE TABLE IF NOT EXISTS zixly_other (id int); INSERT INTO zixly_other VALUES (42);")
    # damage after the backup: new rows, a deleted row, a changed row, a new and a removed file
    psql(s, pg, "chatwoot", "INSERT INTO zixly_marker VALUES (999, 'after'); DELETE FROM zixly_marker WHERE id = 1;"
         "UPDATE zixly_marker SET note = 'changed' WHERE id = 2;")
    psql(s, wh, "warehouse", "DELETE FROM zixly_marker;")
    maria(s, "invoiceninja", "DROP TABLE zixly_marker;")
    (data / "zixly-marker.txt").unlink()
    (data / "zixly-after.txt").write_text("after\n")

    res = s.zixly.run("restore", s.env, "--snapshot", "latest", *[a for x in RESTORED for a in ("--service", x)],
                      "--yes", timeout=1800)
    assert "restored, healthy" in res.stdout, res.stdout + res.stderr
    assert psql(s, pg, "chatwoot", "SELECT count(*), min(id), max(id) FROM zixly_marker;") == "50|1|50"
    assert psql(s, pg, "chatwoot", "SELECT note FROM zixly_marker WHERE id = 2;") == "before-2"
    assert psql(s, wh, "warehouse", "SELECT count(*) FROM zixly_marker;") == "7"
    assert maria(s, "invoiceninja", "SELECT id, note FROM zixly_marker ORDER BY id;").splitlines() == [
        "1\tbefore-1", "2\tbefore-2"]
    assert (data / "zixly-marker.txt").read_text() == "before\n" and not (data / "zixly-after.txt").exists()
    assert psql(s, pg, "metabase", "SELECT count(*) FROM zixly_other;") == "1", "another app's database was touched"
    psql(s, pg, "metabase", "DROP TABLE zixly_other;")
    state = sh("docker", "inspect", "--format", "{{.State.Health.Status}}", s.container("chatwoot", "rails")).strip()
    assert state == "healthy"


def _with_target(stack: LocalStack, path: Path) -> None:
    text = stack.env_file.read_text().replace(f"path: {stack.base_dir}/backups}}", f"path: {path}}}")
    assert str(path) in text
    stack.env_file.write_text(text)


def test_wrong_password_is_its_own_failure(stack: LocalStack, first: dict[str, Any], tmp_path: Path) -> None:
    other = tmp_path / "other-repo"
    env = {**os.environ, "RESTIC_REPOSITORY": str(other), "RESTIC_PASSWORD": "a-different-password"}
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    _with_target(stack, other)
    try:
        res = stack.zixly.run("backup", stack.env, "--service", "warehouse", check=11)
        assert "wrong repository password" in res.stderr and "ok" not in res.stdout.split()
    finally:
        stack.set_overrides("")


def test_locked_repository_is_its_own_failure(stack: LocalStack, first: dict[str, Any]) -> None:
    with held_lock(stack.base_dir / "backups", restic_env(stack), exclusive=True):
        res = stack.zixly.run("backup", stack.env, "--service", "warehouse", check=12)
        assert "locked" in res.stderr


def test_disk_full_is_its_own_failure(stack: LocalStack, first: dict[str, Any], tmp_path: Path) -> None:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    sh("mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt))
    big = volume_dir(f"zixly-{stack.env}-chatwoot_storage") / "zixly-big.bin"
    big.write_bytes(os.urandom(1_500_000))
    try:
        _with_target(stack, mnt / "repo")
        res = stack.zixly.run("backup", stack.env, "--service", "chatwoot", check=13)
        assert "no space left" in res.stderr
    finally:
        stack.set_overrides("")
        sh("umount", str(mnt))
        big.unlink()


def test_app_container_down_is_its_own_failure(stack: LocalStack, first: dict[str, Any]) -> None:
    c = stack.container("warehouse", "db")
    sh("docker", "stop", c)
    try:
        res = stack.zixly.run("backup", stack.env, "--service", "warehouse", check=15)
        assert c in res.stderr and "exited" in res.stderr
    finally:
        sh("docker", "start", c)
        assert wait_for(lambda: sh("docker", "inspect", "--format", "{{.State.Health.Status}}", c).strip()
                        == "healthy", 180)


def test_a_damaged_pack_fails_the_drill_naming_the_app(stack: LocalStack, first: dict[str, Any],
                                                       receiver: Receiver) -> None:
    """...and the failure reaches the environment's webhook (a real loopback receiver), secrets masked."""
    repo = stack.base_dir / "backups"
    wh = stack.container("warehouse", "db")
    before = {p for p in (repo / "data").rglob("*") if p.is_file()}
    psql(stack, wh, "warehouse", "CREATE TABLE zixly_noise AS SELECT g, md5(random()::text) AS h "
         "FROM generate_series(1, 20000) g;")
    saved: dict[Path, bytes] = {}
    try:
        stack.zixly.run("backup", stack.env, "--service", "warehouse")
        new = sorted(p for p in (repo / "data").rglob("*") if p.is_file() and p not in before)
        assert new, "the backup wrote no new pack"
        for p in new:
            saved[p] = p.read_bytes()
            p.chmod(0o600)
            p.write_bytes(saved[p][:200] + b"\0" * (len(saved[p]) - 400) + saved[p][-200:])
        stack.env_file.write_text(stack.env_file.read_text() + f"notifications: {{webhook: {receiver.url}}}\n")
        res = stack.zixly.run("backup", "verify", stack.env, "--service", "warehouse", "--read-data-subset", "1/1",
                              check=14)
        assert "warehouse" in res.stderr and "FAILED" in res.stderr
        assert "drill" in res.stderr and "notify: failure sent to webhook" in res.stderr
        assert len(receiver.bodies) == 1, receiver.bodies
        text = json.dumps(receiver.bodies[0])
        assert "restore drill FAILED" in text and "warehouse" in text
        assert not [v for v in secret_values(stack) if v in text], "a secret reached the webhook"
    finally:
        stack.set_overrides("")
        for p, data in saved.items():
            p.write_bytes(data)
        psql(stack, wh, "warehouse", "DROP TABLE IF EXISTS zixly_noise;")
        # the newest warehouse snapshot now holds zixly_noise: back up again so "latest" is the real state
        stack.zixly.run("backup", stack.env, "--service", "warehouse")


def test_no_secret_reached_any_output_or_backup_log(stack: LocalStack, first: dict[str, Any]) -> None:
    values = secret_values(stack)
    assert len(values) > 10
    logs = [p.read_text(errors="replace") for p in (stack.base_dir / stack.env / "backup").glob("*") if p.is_file()]
    texts = stack.zixly.outputs + logs
    leaked = [n for n, v in enumerate(values) if any(v in t for t in texts)]
    assert not leaked, f"{len(leaked)} secret value(s) appeared in output or logs"


def test_health_reads_backup_freshness_from_restic(stack: LocalStack, first: dict[str, Any], tmp_path: Path) -> None:
    skip = [a for k in ("http", "tls", "container", "host", "image", "dns") for a in ("--skip", k)]
    args = ["health", stack.env, "--restic", "--offline", "--no-history", "--state-dir", str(tmp_path), *skip,
            "--format", "json"]
    res = stack.zixly.run(*args, check=0)
    report = json.loads(res.stdout)
    apps = {a["name"]: a["status"] for a in report["apps"]}
    assert {"chatwoot", "invoiceninja", "warehouse", "n8n"} <= set(apps) and set(apps.values()) == {"ok"}, apps
    _with_target(stack, tmp_path / "no-repo")
    try:
        res = stack.zixly.run(*args, check=None)
        bad = {a["name"]: a["status"] for a in json.loads(res.stdout)["apps"]}
        assert set(bad.values()) == {"unknown"}, bad
    finally:
        stack.set_overrides("")
