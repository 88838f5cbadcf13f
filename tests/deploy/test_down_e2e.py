"""``zixly down`` end to end, on a tiny environment of its own on this machine's engine.

``down`` of the session's shared stack would break every later test, and restoring it would
cost a whole bring-up; so this test deploys its own two-service environment (real Redis and the
real warehouse PostgreSQL from the offline kit, a few seconds to start) next to it, named after
the session's environment (``<e2e env>dn``: concurrent sessions never share it) and registered
with the session's leak guard. The shared stack's own ``down --volumes`` is checked by its
fixture's teardown (tests/harness/stack.py).

Checked: ``down`` removes every container and network of the environment and keeps exactly its
data volumes, whose data a second ``up`` finds again; ``down --volumes`` leaves no container,
network or volume of the environment at all; both remove the environment's schedules.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.helpers import REPO, Zixly, make_root
from tests.harness.leaks import register_env
from tests.harness.local_engine import LocalEngine
from tests.harness.stack import E2E_ENV, env_resources

pytestmark = [pytest.mark.engine, pytest.mark.e2e]
ENV = f"{E2E_ENV}dn"
ENVIRONMENT = """description: a tiny environment for the zixly down test
domain: down.localhost
stores: shared
images: {{source: offline, allow_standins: true}}
base_dir: {base}
services:
  redis:
  warehouse:
backup:
  target: {{type: local, path: {base}/backups}}
"""
DB = f"zixly-{ENV}-warehouse-db-1"


@pytest.fixture
def tiny(tmp_path: Path, age_key_file: Path, engine: LocalEngine) -> Iterator[Zixly]:
    register_env(ENV)
    hosts = (REPO / "inventories" / "local" / "hosts.yaml").read_text()
    root = make_root(tmp_path / "repo", ENV, ENVIRONMENT.format(base=tmp_path / "opt"), hosts)
    z = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(age_key_file)})
    try:
        z.run("up", "--env", ENV, "--no-hooks", "--no-probe", timeout=1800)
        yield z
    finally:
        z.run("down", "--env", ENV, "--volumes", check=None, timeout=900)


def _sql(engine: LocalEngine, sql: str) -> str:
    return engine.docker("exec", "-u", "postgres", DB, "psql", "-X", "-At", "-d", "warehouse", "-c", sql,
                         check=True).stdout.strip()


def test_down_keeps_data_volumes_and_down_volumes_leaves_nothing(tiny: Zixly, engine: LocalEngine) -> None:
    cron = Path(os.environ["ZIXLY_CRON_DIR"])
    up = env_resources(engine, ENV)
    assert sorted(up["containers"]) == [f"zixly-{ENV}-redis-server-1", DB], up
    volumes = {f"zixly-{ENV}-redis_data", f"zixly-{ENV}-warehouse_data"}
    assert set(up["volumes"]) == volumes and f"zixly-{ENV}-proxy" in up["networks"], up
    assert (cron / f"zixly-backup-{ENV}").is_file() and (cron / f"zixly-health-{ENV}").is_file()
    _sql(engine, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('survives down')")

    tiny.run("down", "--env", ENV, timeout=900)
    after = env_resources(engine, ENV)
    assert after == {"containers": [], "networks": [], "volumes": sorted(volumes)}, after
    assert not (cron / f"zixly-backup-{ENV}").exists() and not (cron / f"zixly-health-{ENV}").exists()

    tiny.run("up", "--env", ENV, "--no-hooks", "--no-probe", timeout=1800)
    assert _sql(engine, "SELECT note FROM kept") == "survives down", "the kept volume held the data"

    tiny.run("down", "--env", ENV, "--volumes", timeout=900)
    assert env_resources(engine, ENV) == {"containers": [], "networks": [], "volumes": []}
    projects = engine.docker("ps", "-a", "--filter", f"label=com.docker.compose.project=zixly-{ENV}-warehouse",
                             "--format", "{{.Names}}", check=True).stdout.split()
    assert projects == []
