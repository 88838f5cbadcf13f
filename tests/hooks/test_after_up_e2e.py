"""After ``zixly up``: the post-deploy hooks ran against the session's shared local stack.

Real parts: the stack the ``local_stack`` fixture deployed with ``zixly up`` (hooks on by
default): the real warehouse PostgreSQL (offline kit), the real n8n 2.41.1 with its
PostgreSQL store, real Traefik. The apps whose images cannot run here (Metabase, Plane,
Nextcloud, Chatwoot, Invoice Ninja, Mautic, Portainer) run as the kit's labelled stand-ins:
their hooks must report ``n/a`` (a stand-in has no app to set up; their vendor contracts
are pinned in ``test_first_admins.py`` / ``test_metabase_hooks.py``), never fail.

Checked here: n8n holds exactly the three seed workflows in their declared active state
(read from n8n's own database); the warehouse schema is at the newest migration file and
readable -- and only readable -- by ``reader`` signing in with its password from the
secrets store; the hooks' state records exist; the deploy summary of the bring-up lists
each hook's result; a second ``zixly up`` and a ``zixly hooks run`` change nothing (same
workflow versionIds, every hook ``unchanged``/``n/a``, no container recreated).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers import REPO, containers
from tests.harness.stack import LocalStack
from zixly_stack.secrets.identity import load_identity
from zixly_stack.secrets.store import SecretStore

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

REAL_HOOKS = ("warehouse-migrate", "n8n-owner", "n8n-workflows")
STANDIN_HOOKS = ("metabase-setup", "metabase-dashboards", "plane-admin", "nextcloud-setup", "chatwoot-admin",
                 "invoiceninja-setup", "mautic-install")
HOOK_SERVICES = {"warehouse-migrate": "warehouse", "n8n-owner": "n8n", "n8n-workflows": "n8n",
                 "metabase-setup": "metabase", "metabase-dashboards": "metabase", "plane-admin": "plane",
                 "nextcloud-setup": "nextcloud", "chatwoot-admin": "chatwoot", "invoiceninja-setup": "invoiceninja",
                 "mautic-install": "mautic"}
SEEDS = {"zixlyOnboarding1": True, "zixlyTimeSync001": False, "zixlyWeeklyRep01": True}


def _exec(stack: LocalStack, container: str, argv: list[str], stdin: str | None = None) -> str:
    res = stack.engine.docker("exec", *(["-i"] if stdin is not None else []), container, *argv, input=stdin,
                              timeout=120)
    assert res.returncode == 0, f"{container}: {argv[:3]} exited {res.returncode}: {res.stderr[-800:]}"
    return str(res.stdout)


def _n8n_database(stack: LocalStack) -> str:
    """The n8n container's DB_POSTGRESDB_DATABASE (from the engine, as deployed)."""
    env = stack.engine.docker("inspect", "--format", "{{json .Config.Env}}", stack.container("n8n", "n8n"))
    for item in json.loads(env.stdout):
        key, _, value = item.partition("=")
        if key == "DB_POSTGRESDB_DATABASE":
            return str(value)
    raise AssertionError("n8n has no DB_POSTGRESDB_DATABASE")


def _workflows(stack: LocalStack) -> dict[str, tuple[str, bool, str]]:
    """``id -> (name, active, versionId)`` from n8n's own database."""
    sql = 'SELECT id, name, active, "versionId" FROM workflow_entity ORDER BY id'
    out = _exec(stack, stack.container("postgres", "server"),
                ["psql", "-U", "postgres", "-d", _n8n_database(stack), "-At", "-F", "\t", "-c", sql])
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    return {r[0]: (r[1], r[2] == "t", r[3]) for r in rows}


def _state(stack: LocalStack) -> dict[str, dict[str, object]]:
    path = stack.base_dir / stack.env / "state" / "hooks.json"
    assert path.is_file(), f"no hook state at {path}: the hooks did not run after `zixly up`"
    assert path.stat().st_mode & 0o777 == 0o600
    doc = json.loads(path.read_text())
    return dict(doc["hooks"])


def _reader_password(stack: LocalStack) -> str:
    identity = load_identity({"ZIXLY_AGE_KEY_FILE": stack.zixly.env["ZIXLY_AGE_KEY_FILE"]})
    store = SecretStore.open(stack.zixly.root / "inventories" / stack.env, identity)
    value = store.get("warehouse.reader_password")
    assert value is not None
    return value.reveal()


def _as_reader(stack: LocalStack, sql: str) -> subprocess.CompletedProcess[str]:
    """``psql`` as ``reader`` over the network (not loopback: initdb trusts 127.0.0.1) with its password on stdin."""
    script = 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec psql -h warehouse-db -U reader -d warehouse -At -c "$1"'
    res: subprocess.CompletedProcess[str] = stack.engine.docker(
        "exec", "-i", stack.container("warehouse", "db"), "sh", "-c", script, "sh", sql,
        input=_reader_password(stack) + "\n", timeout=120)
    return res


def test_up_ran_the_hooks_and_recorded_them(local_stack: LocalStack) -> None:
    state = _state(local_stack)
    for name in REAL_HOOKS:
        assert state[name]["status"] in ("ok", "unchanged"), (name, state[name])
        assert state[name]["applied"], f"{name} recorded nothing it applied"
    for name in STANDIN_HOOKS:
        assert state[name]["status"] == "n/a" and "stand-in" in str(state[name]["summary"]), (name, state[name])
    up_output = local_stack.up_stdout + local_stack.up_stderr
    brought_up = local_stack.up_projects
    if not os.environ.get("ZIXLY_E2E_KEEP"):  # CI: a fresh stack, every project brought up, every hook run
        assert {f"zixly-{local_stack.env}-{s}" for s in HOOK_SERVICES.values()} <= brought_up, brought_up
    for name, service in HOOK_SERVICES.items():
        if f"zixly-{local_stack.env}-{service}" in brought_up:
            assert f"hook {name}: " in up_output, f"the deploy summary does not list {name}:\n{up_output[-3000:]}"
    assert "hooks failed" not in up_output, up_output[-3000:]


def test_n8n_has_exactly_the_three_seed_workflows(local_stack: LocalStack) -> None:
    have = _workflows(local_stack)
    assert {k: v[1] for k, v in have.items()} == SEEDS, have
    names = {json.loads(p.read_text())["id"]: json.loads(p.read_text())["name"]
             for p in (REPO / "services" / "n8n" / "seeds" / "workflows").glob("*.json")}
    assert {k: v[0] for k, v in have.items()} == names


def test_warehouse_is_at_the_newest_migration_and_readable_by_reader(local_stack: LocalStack) -> None:
    files = sorted((REPO / "services" / "warehouse" / "migrations").glob("*.sql"))
    out = _exec(local_stack, local_stack.container("warehouse", "db"),
                ["psql", "-U", "postgres", "-d", "warehouse", "-At", "-F", "\t", "-c",
                 "SELECT version, name, checksum FROM zixly.schema_migrations ORDER BY version"])
    applied = [line.split("\t") for line in out.splitlines() if line.strip()]
    assert [f"{int(v):04d}_{n}.sql" for v, n, _ in applied] == [f.name for f in files], applied
    newest = files[-1]
    assert applied[-1][2] == hashlib.sha256(newest.read_bytes()).hexdigest()
    read = _as_reader(local_stack, "SELECT count(*) FROM warehouse.clients")
    assert read.returncode == 0 and read.stdout.strip().isdigit(), read.stderr
    write = _as_reader(local_stack, "INSERT INTO warehouse.service_tiers (tier, rank, monthly_fee) VALUES ('x', 99, 1)")
    refused = ("permission denied", "read-only transaction")  # the role is read-only twice over
    assert write.returncode != 0 and any(r in write.stderr for r in refused), (write.stdout, write.stderr)
    wrong = local_stack.engine.docker(
        "exec", "-i", local_stack.container("warehouse", "db"), "sh", "-c",
        'IFS= read -r PGPASSWORD; export PGPASSWORD; exec psql -h warehouse-db -U reader -d warehouse -c "SELECT 1"',
        input="not-the-password\n", timeout=60)
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr


def test_second_up_and_hooks_run_change_nothing(local_stack: LocalStack) -> None:
    before_wf = _workflows(local_stack)
    before_ct = containers(local_stack.engine.argv, local_stack.env, dict(local_stack.engine.env))
    up = local_stack.zixly.run("up", "--env", local_stack.env, "--json", "--no-probe", timeout=900)
    report = json.loads(up.stdout)
    assert [h["status"] for h in report["hosts"]] == ["unchanged"], json.dumps(report, indent=2)[-2000:]
    hooks = local_stack.zixly.run("hooks", "run", local_stack.env, "--json", check=None, timeout=900)
    doc = json.loads(hooks.stdout)
    statuses = {h["name"]: h["status"] for h in doc["hooks"]}
    assert all(statuses[n] == "unchanged" for n in REAL_HOOKS), doc
    assert all(statuses[n] == "n/a" for n in STANDIN_HOOKS), doc
    assert doc["status"] == "ok" and hooks.returncode == 0, doc
    assert _workflows(local_stack) == before_wf, "a rerun re-imported or toggled a workflow"
    after_ct = containers(local_stack.engine.argv, local_stack.env, dict(local_stack.engine.env))
    assert after_ct == before_ct, "a container was recreated or restarted"


def test_hook_output_holds_no_secret(local_stack: LocalStack) -> None:
    password = _reader_password(local_stack)
    texts = [local_stack.up_stdout, local_stack.up_stderr, *local_stack.zixly.outputs]
    state = (local_stack.base_dir / local_stack.env / "state" / "hooks.json").read_text()
    for text in (*texts, state):
        assert password not in text
    assert Path(local_stack.zixly.root).exists()
