"""The n8n hooks against the REAL n8n 2.41.1 (the offline kit's image: n8n from npm), end to end
with a real warehouse.

One n8n container for the module (under vfs each container copies the ~2.4 GB image) and a
real PostgreSQL (offline kit image) answering as ``warehouse-db`` on the same Docker network,
as in the stack. ``warehouse-migrate``, ``n8n-owner`` and ``n8n-workflows`` run through the
local Docker transport ``zixly hooks run`` uses (``docker exec`` for psql and the n8n CLI,
HTTP to the published port for n8n's REST API); n8n creates its owner itself from
``N8N_INSTANCE_OWNER_*`` exactly as the catalog configures it.

Checked: exactly the three seed workflows with their declared active state (and their
webhooks registered or not on the running server); a second run imports and toggles
nothing; the onboarding webhook, called with the generated key, writes the new client into
``warehouse.clients`` through the loader credential the hook created (Plane, Nextcloud and
Mautic are not running: by design their branches do not block the warehouse row); an edited
workflow file updates the same workflow in place (no duplicate); the warehouse credential
decrypts to the loader password.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import bcrypt
import httpx
import pytest

from tests.harness.leaks import label_args, run_name, run_tempdir
from tests.harness.local_engine import unavailable
from tests.helpers import copy_repo, load_env
from zixly_stack.engine import docker_argv, docker_env
from zixly_stack.hooks.base import Endpoint
from zixly_stack.hooks.local import LocalDocker
from zixly_stack.hooks.local_run import context_factory
from zixly_stack.hooks.runner import HooksReport, plan_hooks, run_hooks
from zixly_stack.hooks.state import MemoryState
from zixly_stack.project import Loaded
from zixly_stack.secrets.value import Secret

pytestmark = pytest.mark.engine
IMAGE = "zixly-offline/n8n:2.41.1"
WAREHOUSE_IMAGE = "zixly-offline/postgres:15"
HOOKS = ("warehouse-migrate", "n8n-owner", "n8n-workflows")
SEED_IDS = {"zixlyOnboarding1": True, "zixlyTimeSync001": False, "zixlyWeeklyRep01": True}


def _docker(*args: str, timeout: float = 600, check: bool = True, input: str | None = None) -> str:
    res = subprocess.run([*docker_argv(), *args], capture_output=True, text=True, env=docker_env(),
                         timeout=timeout, check=False, input=input)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {args[:2]}: {res.stderr[-1500:]}")
    return res.stdout


def _image() -> str:
    if subprocess.run([*docker_argv(), "image", "inspect", IMAGE], capture_output=True, env=docker_env(),
                      check=False).returncode != 0:
        from zixly_stack.engine import EngineError, ensure_engine
        from zixly_stack.images import build

        try:
            ensure_engine(verbose=False)
        except EngineError as exc:
            unavailable(f"no Docker engine: {exc}")
        build(["n8n"], verbose=False)
    return IMAGE



@dataclass
class N8n:
    name: str
    base: str
    secrets: dict[str, Secret]
    warehouse: str
    # one sign-in per module (n8n rate-limits /rest/login); a session token: never in a failure's repr
    cookie: str = field(default="", repr=False)


@pytest.fixture(scope="module")
def n8n() -> Iterator[N8n]:
    image = _image()
    if subprocess.run([*docker_argv(), "image", "inspect", WAREHOUSE_IMAGE], capture_output=True, env=docker_env(),
                      check=False).returncode != 0:
        from zixly_stack.images import build

        build(["postgres"], verbose=False)
    tag = secrets.token_hex(3)
    name, wh, net = run_name(f"hooks-n8n-{tag}"), run_name(f"hooks-wh-{tag}"), run_name(f"hooks-net-{tag}")
    owner = Secret(secrets.token_urlsafe(18))
    values = {
        "n8n.owner_password": owner,
        "warehouse.loader_password": Secret(secrets.token_urlsafe(18)),
        "warehouse.reader_password": Secret(secrets.token_urlsafe(18)),
        "nextcloud.admin_password": Secret(secrets.token_urlsafe(18)),
        "mautic.admin_password": Secret(secrets.token_urlsafe(18)),
    }
    pw_hash = bcrypt.hashpw(owner.reveal().encode(), bcrypt.gensalt(10)).decode()
    env_file = "\n".join([
        "N8N_ENCRYPTION_KEY=" + secrets.token_hex(16),
        "N8N_INSTANCE_OWNER_MANAGED_BY_ENV=true",
        "N8N_INSTANCE_OWNER_EMAIL=admin@example.com",  # the local environment's admin_email
        "N8N_INSTANCE_OWNER_FIRST_NAME=Zixly",
        "N8N_INSTANCE_OWNER_LAST_NAME=Admin",
        "N8N_INSTANCE_OWNER_PASSWORD_HASH=" + pw_hash,
        "N8N_DIAGNOSTICS_ENABLED=false", "N8N_VERSION_NOTIFICATIONS_ENABLED=false",
        "N8N_PERSONALIZATION_ENABLED=false", "SCARF_ANALYTICS=false", "N8N_DISABLED_MODULES=mcp-registry",
    ]) + "\n"
    tmp = run_tempdir("hooks-n8n")
    (tmp / "n8n.env").write_text(env_file)
    (tmp / "n8n.env").chmod(0o600)
    try:
        _docker("network", "create", *label_args(), net)
        _docker("run", "-d", "--name", wh, *label_args(), "--network", net,
                "--network-alias", "warehouse-db", "-e", "POSTGRES_PASSWORD=" + secrets.token_hex(12),
                "-e", "POSTGRES_DB=warehouse", WAREHOUSE_IMAGE)
        _docker("run", "-d", "--name", name, *label_args(), "--network", net,
                "-p", "127.0.0.1::5678", "--env-file", str(tmp / "n8n.env"), image)
        port = _docker("port", name, "5678/tcp").split()[0].rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/rest/settings", timeout=3).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise AssertionError("n8n did not start: " + _docker("logs", "--tail", "40", name, check=False))
        yield N8n(name, base, values, wh)
    finally:
        _docker("rm", "-f", "-v", name, check=False)
        _docker("rm", "-f", "-v", wh, check=False)
        _docker("network", "rm", net, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    """A copy of the repo (so the test may edit a seed file) loaded as the `local` environment."""
    root = copy_repo(tmp_path_factory.mktemp("repo"), envs=("local",))
    return load_env(root, "local")


@pytest.fixture(scope="module")
def state() -> MemoryState:
    return MemoryState()


def _run(n8n: N8n, loaded: Loaded, state: MemoryState) -> HooksReport:
    transport = LocalDocker(prefix=loaded.stack.prefix,
                            names={("n8n", "n8n"): n8n.name, ("warehouse", "db"): n8n.warehouse},
                            endpoints={("n8n", "n8n", 5678): Endpoint(n8n.base)})
    planned = plan_hooks(loaded.stack, HOOKS)
    return run_hooks(planned, context_factory(loaded, n8n.secrets, transport, lambda _: None), state)


def _workflows(n8n: N8n) -> dict[str, dict[str, object]]:
    with httpx.Client(base_url=n8n.base, timeout=30) as c:
        if not n8n.cookie:
            r = c.post("/rest/login", headers={"browser-id": "t"},
                       json={"emailOrLdapLoginId": "admin@example.com",
                             "password": n8n.secrets["n8n.owner_password"].reveal()})
            assert r.status_code == 200, r.text
            n8n.cookie = "n8n-auth=" + r.cookies["n8n-auth"]
        data = c.get("/rest/workflows", headers={"cookie": n8n.cookie, "browser-id": "t"}).json()["data"]
    return {w["id"]: w for w in data}


def _webhook(n8n: N8n, path: str, want: int, within: float = 30.0) -> int:
    """The status of a POST to webhook *path*, asked again (every 0.5 s, up to *within*) until it is
    *want*: n8n registers a re-published workflow's webhooks a moment after the API call returns
    (a CI run once saw 404 for a just-published path)."""
    deadline = time.monotonic() + within
    while True:
        status = httpx.post(f"{n8n.base}/webhook/{path}", json={}, timeout=30).status_code
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def test_first_run_creates_exactly_the_three_workflows_with_declared_state(
    n8n: N8n, repo: Loaded, state: MemoryState
) -> None:
    report = _run(n8n, repo, state)
    assert [(o.name, o.status) for o in report.outcomes] == [
        ("warehouse-migrate", "ok"), ("n8n-owner", "unchanged"), ("n8n-workflows", "ok")], report.lines()
    wfs = _workflows(n8n)
    assert {k: bool(v["active"]) for k, v in wfs.items()} == SEED_IDS
    listed = _docker("exec", n8n.name, "n8n", "list:workflow", timeout=300)
    assert sorted(line.split("|")[0] for line in listed.splitlines() if "|" in line) == sorted(SEED_IDS)
    # Active on the running server, not just in the database: the webhook is registered
    # (403: it wants the header key), the inactive workflow's webhook is not (404).
    assert _webhook(n8n, "client-onboarding", 403) == 403
    assert _webhook(n8n, "time-entry", 404) == 404


def test_second_run_changes_nothing(n8n: N8n, repo: Loaded, state: MemoryState) -> None:
    before = _workflows(n8n)
    report = _run(n8n, repo, state)
    assert [o.status for o in report.outcomes] == ["unchanged"] * 3, report.lines()
    after = _workflows(n8n)
    assert {k: (v["versionId"], v["updatedAt"], v["active"]) for k, v in after.items()} == \
        {k: (v["versionId"], v["updatedAt"], v["active"]) for k, v in before.items()}


def test_onboarding_webhook_writes_the_client_into_the_warehouse(n8n: N8n) -> None:
    _docker("exec", n8n.name, "n8n", "export:credentials", "--id=zixlyWebhookKey1", "--decrypted",
            "--output=/tmp/k.json", timeout=300)
    key = json.loads(_docker("exec", n8n.name, "cat", "/tmp/k.json"))[0]["data"]
    _docker("exec", n8n.name, "rm", "-f", "/tmp/k.json")
    client = {"name": "Acme Dental", "email": "hello@acme.example", "tier": "professional", "industry": "healthcare"}
    assert httpx.post(f"{n8n.base}/webhook/client-onboarding", json=client, timeout=30).status_code == 403
    ok = httpx.post(f"{n8n.base}/webhook/client-onboarding", json=client, headers={key["name"]: key["value"]},
                    timeout=30)
    assert ok.status_code == 200, ok.text
    query = ("SELECT name || '|' || tier || '|' || industry FROM warehouse.clients "
             "WHERE external_ref = 'onboarding-hello@acme.example'")
    deadline = time.monotonic() + 180
    row = ""
    while time.monotonic() < deadline and row != "Acme Dental|professional|healthcare":
        row = _docker("exec", "-u", "postgres", n8n.warehouse, "psql", "-X", "-A", "-t", "-d", "warehouse", "-c",
                      query, check=False).strip()
        time.sleep(2)
    assert row == "Acme Dental|professional|healthcare"


def test_edited_file_updates_in_place_without_duplicates(n8n: N8n, repo: Loaded, state: MemoryState) -> None:
    path = repo.root / "services" / "n8n" / "seeds" / "workflows" / "client-onboarding.json"
    doc = json.loads(path.read_text())
    doc["name"] = "Client onboarding v2"
    doc["nodes"][0]["parameters"]["path"] = "client-onboarding-v2"
    path.write_text(json.dumps(doc, indent=2))
    before = _workflows(n8n)
    report = _run(n8n, repo, state)
    assert report.outcomes[2].status == "ok" and "imported Client onboarding v2" in report.outcomes[2].summary
    after = _workflows(n8n)
    assert set(after) == set(SEED_IDS)  # same ids: updated in place, no copy
    assert after["zixlyOnboarding1"]["name"] == "Client onboarding v2"
    assert after["zixlyOnboarding1"]["versionId"] != before["zixlyOnboarding1"]["versionId"]
    assert {k: bool(v["active"]) for k, v in after.items()} == SEED_IDS  # re-published after the import
    for other in ("zixlyTimeSync001", "zixlyWeeklyRep01"):
        assert after[other]["versionId"] == before[other]["versionId"]  # untouched
    assert _webhook(n8n, "client-onboarding-v2", 403) == 403
    assert _webhook(n8n, "client-onboarding", 404) == 404
    assert [o.status for o in _run(n8n, repo, state).outcomes] == ["unchanged"] * 3


def test_warehouse_credential_holds_the_loader_secret(n8n: N8n) -> None:
    out = _docker("exec", n8n.name, "n8n", "export:credentials", "--id=zixlyWarehouse01", "--decrypted",
                  "--output=/tmp/c.json", timeout=300)
    assert "Successfully exported" in out or "exported" in out.lower()
    data = json.loads(_docker("exec", n8n.name, "cat", "/tmp/c.json"))[0]["data"]
    _docker("exec", n8n.name, "rm", "-f", "/tmp/c.json")
    assert data["host"] == "warehouse-db" and data["user"] == "loader" and data["database"] == "warehouse"
    assert data["password"] == n8n.secrets["warehouse.loader_password"].reveal()
