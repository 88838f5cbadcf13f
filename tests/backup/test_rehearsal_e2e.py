"""End-to-end: the migration rehearsal ``zixly restore ENV --from SOURCE`` on the shared local stack:
everything "production" backed up is restored, then the stack's health report is all green.

One machine runs one stack, so "production" here is a second environment, ``<env>src``, that
shares the stack's secrets (as staging must share production's never-rotate keys) and has its
OWN restic repository, filled by ``restic copy`` from the stack's repository and retagged
``env:<env>src`` -- the snapshots a production host would have written. The restore then goes
from that repository into the running stack. A differing never-rotate key must make the
command refuse, name the key (never its value) and change nothing. Real restic, PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.backup.test_backup_e2e import psql, restic_env
from tests.harness.stack import LocalStack, health_settings
from zixly_stack.project import load
from zixly_stack.secrets.identity import load_identity
from zixly_stack.secrets.store import SecretStore
from zixly_stack.secrets.value import Secret

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def source(local_stack: LocalStack) -> Iterator[str]:
    s = local_stack
    name = f"{s.env}src"
    inv = s.zixly.root / "inventories" / name
    shutil.rmtree(inv, ignore_errors=True)
    inv.mkdir(parents=True)
    repo = s.base_dir / "backups-src"
    shutil.rmtree(repo, ignore_errors=True)
    text = s.env_file.read_text().replace(f"path: {s.base_dir}/backups}}", f"path: {repo}}}")
    (inv / "environment.yaml").write_text(text)
    for f in ("hosts.yaml", "secrets.age", "recipients.txt"):
        shutil.copy2(s.env_file.parent / f, inv / f)
    wh = s.container("warehouse", "db")
    psql(s, wh, "warehouse", "CREATE TABLE IF NOT EXISTS zixly_rehearsal (id int); TRUNCATE zixly_rehearsal;"
         "INSERT INTO zixly_rehearsal SELECT generate_series(1, 11);")
    s.zixly.run("backup", s.env, "--no-maintenance", timeout=1800)  # "production's" nightly backup: everything
    env = restic_env(s)
    pw = env.pop("RESTIC_PASSWORD")
    env.update(RESTIC_REPOSITORY=str(repo), RESTIC_PASSWORD=pw, RESTIC_FROM_PASSWORD=pw,
               RESTIC_FROM_REPOSITORY=str(s.base_dir / "backups"))
    subprocess.run(["restic", "init", "--copy-chunker-params"], env=env, check=True, capture_output=True)
    subprocess.run(["restic", "copy", "--tag", f"env:{s.env}"], env=env, check=True, capture_output=True)
    subprocess.run(["restic", "tag", "--tag", f"env:{s.env}", "--remove", f"env:{s.env}", "--add", f"env:{name}"],
                   env=env, check=True, capture_output=True)
    yield name
    psql(s, wh, "warehouse", "DROP TABLE IF EXISTS zixly_rehearsal;")
    shutil.rmtree(inv, ignore_errors=True)
    shutil.rmtree(repo, ignore_errors=True)


def test_a_differing_never_rotate_key_refuses_and_names_it(local_stack: LocalStack, source: str) -> None:
    s = local_stack
    inv = s.zixly.root / "inventories" / source
    saved = (inv / "secrets.age").read_bytes()
    identity = load_identity({"ZIXLY_AGE_KEY_FILE": s.zixly.env["ZIXLY_AGE_KEY_FILE"]})
    store = SecretStore.open(inv, identity)
    store.set("n8n.encryption_key", Secret(os.urandom(24).hex()), force=True)
    store.save()
    wh = s.container("warehouse", "db")
    psql(s, wh, "warehouse", "INSERT INTO zixly_rehearsal VALUES (100);")
    try:
        res = s.zixly.run("restore", s.env, "--from", source, "--service", "warehouse", "--yes", check=10)
        assert "n8n.encryption_key" in res.stderr and "Nothing was changed" in res.stderr
        assert psql(s, wh, "warehouse", "SELECT count(*) FROM zixly_rehearsal;") == "12", "something was restored"
    finally:
        (inv / "secrets.age").write_bytes(saved)


def test_production_backup_restores_into_the_rehearsal_environment(local_stack: LocalStack, source: str) -> None:
    """The whole of "production's" latest backup restored into the stack, then the health report of
    the stack (HTTP through Traefik, TLS, containers, images, host, backup freshness from restic) is
    all green, exit 0."""
    s = local_stack
    wh = s.container("warehouse", "db")
    psql(s, wh, "warehouse", "DELETE FROM zixly_rehearsal WHERE id < 5; INSERT INTO zixly_rehearsal VALUES (500);")
    res = s.zixly.run("restore", s.env, "--from", source, "--yes", timeout=2400)
    restored = {line.split()[0] for line in res.stdout.splitlines() if "restored, healthy" in line}
    loaded = load(s.zixly.root, s.env)
    backed_up = {n for n, svc in loaded.stack.services.items() if svc.backup.databases or svc.backup.volumes}
    backed_up -= {"postgres", "mariadb"}  # the shared servers: their databases are dumped per app
    assert backed_up <= restored, (sorted(backed_up - restored), res.stdout[-3000:])
    assert psql(s, wh, "warehouse", "SELECT count(*), min(id), max(id) FROM zixly_rehearsal;") == "11|1|11"
    health_settings(s.zixly.root, s.env)  # what the shared stack was deployed with
    health = s.zixly.run("health", s.env, "--restic", "--format", "json", "--no-history", check=None, timeout=600)
    doc = json.loads(health.stdout)
    bad = [f"{c['id']}: {c['status']} {c['summary']}" for c in doc["checks"] if c["status"] not in ("ok", "skipped")]
    assert health.returncode == 0 and doc["status"] == "ok" and not bad, (health.returncode, bad)
    assert {a["name"] for a in doc["apps"] if a["status"] == "ok"} >= backed_up
