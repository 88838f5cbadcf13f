"""warehouse-migrate and the demo-data hook through ``docker exec`` into a real PostgreSQL container.

The offline kit's ``zixly-offline/postgres`` image keeps the official image's contract
(POSTGRES_DB / POSTGRES_PASSWORD_FILE, trust on the Unix socket); the hooks reach it
exactly as on a host: :class:`~zixly_stack.hooks.local.LocalDocker`, ``psql`` as the
``postgres`` OS user with the SQL on stdin. Secrets come from a real encrypted store.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.harness.leaks import label_args, run_name
from zixly_stack.engine import docker_argv, docker_env
from zixly_stack.hooks import warehouse
from zixly_stack.hooks.local import LocalDocker
from zixly_stack.hooks.local_run import context_factory
from zixly_stack.hooks.runner import plan_hooks, run_hooks
from zixly_stack.hooks.state import MemoryState
from zixly_stack.project import Loaded
from zixly_stack.secrets.value import Secret

pytestmark = pytest.mark.engine
IMAGE = "zixly-offline/postgres:15"
Env = tuple[Loaded, dict[str, Secret]]


def _docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([*docker_argv(), *args], capture_output=True, text=True, env=docker_env(),
                         timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {args[:2]}: {res.stderr[-1500:]}")
    return res


@pytest.fixture(scope="module")
def db_container() -> Iterator[str]:
    if _docker("image", "inspect", IMAGE, check=False).returncode != 0:
        from zixly_stack.images import build

        build(["postgres"], verbose=False)
    name = run_name(f"hooks-wh-{secrets.token_hex(3)}")
    try:
        _docker("run", "-d", "--name", name, *label_args(), "-e",
                "POSTGRES_PASSWORD=" + secrets.token_hex(12), "-e", "POSTGRES_DB=warehouse", IMAGE)
        deadline = time.monotonic() + 600
        while _docker("exec", "-u", "postgres", name, "pg_isready", "-d", "warehouse", "-h", "127.0.0.1",
                      check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError(_docker("logs", name, check=False).stderr[-2000:])
            time.sleep(1)
        yield name
    finally:
        _docker("rm", "-f", "-v", name, check=False)


def _run(env: Env, name: str, state: MemoryState, only: tuple[str, ...] = ("warehouse-migrate",)) -> list[str]:
    loaded, values = env
    t = LocalDocker(prefix=loaded.stack.prefix, names={("warehouse", "db"): name})
    report = run_hooks(plan_hooks(loaded.stack, only), context_factory(loaded, values, t, lambda _: None), state)
    return [f"{o.name}:{o.status}:{o.summary}" for o in report.outcomes]


def _psql_as(name: str, user: str, password: Secret, sql: str) -> subprocess.CompletedProcess[str]:
    return _docker("exec", "-e", f"PGPASSWORD={password.reveal()}", name, "psql", "-X", "-A", "-t", "-h",
                   "127.0.0.1", "-U", user, "-d", "warehouse", "-c", sql, check=False)


def test_migrate_hook_via_docker_exec_then_no_change(local_env: Env, db_container: str) -> None:
    _, values = local_env
    state = MemoryState()
    first = _run(local_env, db_container, state)
    assert first[0].startswith("warehouse-migrate:ok:applied 0001_core; created role loader; created role reader")
    assert _run(local_env, db_container, state)[0].startswith("warehouse-migrate:unchanged")
    assert _run(local_env, db_container, MemoryState())[0].startswith("warehouse-migrate:unchanged")  # no state
    ok = _psql_as(db_container, "reader", values["warehouse.reader_password"], "SELECT count(*) FROM service_tiers")
    assert ok.returncode == 0 and ok.stdout.strip() == "3", ok.stderr
    denied = _psql_as(db_container, "reader", values["warehouse.reader_password"],
                      "DELETE FROM service_tiers")
    assert denied.returncode != 0


def test_demo_data_hook_loads_once(local_env: Env, db_container: str) -> None:
    loaded, values = local_env
    t = LocalDocker(prefix=loaded.stack.prefix, names={("warehouse", "db"): db_container})
    make = context_factory(loaded, values, t, lambda _: None)
    ph = plan_hooks(loaded.stack, ["warehouse-migrate"])[0]
    ctx = make(ph, None, time.monotonic() + 300)
    first = warehouse.load_demo_data(ctx)
    assert first.changed and "demo rows" in first.summary
    assert not warehouse.load_demo_data(make(ph, None, time.monotonic() + 300)).changed
    n = _psql_as(db_container, "loader", values["warehouse.loader_password"], "SELECT count(*) FROM time_entries")
    assert int(n.stdout.strip()) > 8000
