"""End-to-end: ``zixly import n8n`` moves a plain Compose install of n8n + PostgreSQL from test host h1
into the environment ``imp`` on test host h2 (the shared pair; ``duo`` first, as every module that
deploys onto them).

Real parts: h1 and h2 are the harness's VPS-like hosts (own network namespace, sshd and dockerd
each); SSH is pyinfra's paramiko connection; n8n is the real npm package 2.41.1 (the offline kit's
image, tagged ``n8nio/n8n:2.41.1`` on h1 as a registry pull would name it) and PostgreSQL 15 the
kit's image with the official image's contract (tagged ``postgres:15``). The install on h1 is
written by this test -- a compose file as n8n's own docs give it, not by zixly -- and its data made
with n8n's own CLI (``import:workflow``, ``import:credentials`` encrypting a credential with the
install's key, ``execute`` making executions). Its encryption key is NOT in its environment: n8n
generated it into ``/home/node/.n8n/config``, where the import has to find it.

Checked: the dry run changes nothing; the import moves the key into the store and the data into
h2; after ``zixly deploy imp`` the credential decrypts there (``n8n export:credentials
--decrypted`` in the imported n8n); workflows, credentials and executions are counted equal; the
source is unchanged (its containers, database and files, by checksum); a second run changes
nothing; target data edited since the import is refused without ``--replace`` and replaced with it.
Everything of ``imp`` and of the install on h1 is removed at the end (the hosts are shared).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from tests.backup.remote_env import HostData
from tests.deploy.helpers import Zixly, make_root
from tests.harness.duo import Duo
from tests.harness.timing import figure
from tests.harness.vps import VpsHost, VpsPool
from zixly_stack.backup.restore import checksums

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

ENV = """description: takes over an n8n that ran elsewhere
domain: imp.localhost
tls: {sni_strict: false}
images: {source: offline, allow_standins: true}
edge: {http_port: 8083, https_port: 8446}
base_dir: /opt/zixly
stores: shared
services:
  traefik:
  socket-proxy:
  postgres:
  warehouse:
  n8n:
backup:
  target: {type: local, path: /var/backups/zixly/imp}
"""
PROJECT = "oldn8n"
DIR = "/srv/oldn8n"
N8N, PG = f"{PROJECT}-n8n-1", f"{PROJECT}-postgres-1"
TARGET_N8N, TARGET_PG = "zixly-imp-n8n-n8n-1", "zixly-imp-postgres-server-1"
# As n8n's docs (docs.n8n.io/hosting/installation/docker/, n8n-hosting withPostgres) write it; the
# offline-only settings are the image's own (N8N_DIAGNOSTICS_ENABLED...). No N8N_ENCRYPTION_KEY.
COMPOSE = """services:
  postgres:
    image: postgres:15
    restart: always
    environment:
      POSTGRES_USER: root
      POSTGRES_PASSWORD: old-db-password-4711
      POSTGRES_DB: n8n
    volumes: [db_storage:/var/lib/postgresql/data]
    healthcheck:
      test: [CMD-SHELL, pg_isready -h localhost -U root -d n8n]
      interval: 2s
      retries: 60
  n8n:
    image: n8nio/n8n:2.41.1
    restart: always
    environment:
      DB_TYPE: postgresdb
      DB_POSTGRESDB_HOST: postgres
      DB_POSTGRESDB_PORT: "5432"
      DB_POSTGRESDB_DATABASE: n8n
      DB_POSTGRESDB_USER: root
      DB_POSTGRESDB_PASSWORD: old-db-password-4711
      GENERIC_TIMEZONE: Europe/Berlin
      EXECUTIONS_DATA_PRUNE: "true"
    ports: ["127.0.0.1:5678:5678"]
    volumes: [n8n_storage:/home/node/.n8n]
    depends_on:
      postgres: {condition: service_healthy}
volumes:
  db_storage:
  n8n_storage:
"""
WORKFLOWS = [{"id": f"oldWorkflow{i:05d}", "name": f"Old workflow {i}", "active": False, "settings": {},
              "connections": {"Start": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
              "nodes": [{"id": f"00000000-0000-4000-8000-00000000{i:02d}01", "name": "Start",
                         "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "position": [0, 0],
                         "parameters": {}},
                        {"id": f"00000000-0000-4000-8000-00000000{i:02d}02", "name": "Done",
                         "type": "n8n-nodes-base.noOp", "typeVersion": 1, "position": [200, 0],
                         "parameters": {}}]} for i in range(1, 4)]
CREDENTIAL_SECRET = "old-api-password-CANARY-9f3e"
CREDENTIALS = [{"id": "oldCredential0001", "name": "Old API", "type": "httpBasicAuth",
                "data": {"user": "old-api-user", "password": CREDENTIAL_SECRET}}]
WF_TABLES = ("workflow_entity", "credentials_entity", "execution_entity")


class Engine(Protocol):
    """An engine the n8n helpers below reach: a test host's, or this machine's (the upgrade test)."""

    @property
    def name(self) -> str: ...

    def docker(self, *args: str, input: str | None = None, timeout: float = ...,
               check: bool = False) -> subprocess.CompletedProcess[str]: ...


@dataclass
class Imp:
    zixly: Zixly
    h1: VpsHost
    h2: VpsHost
    source: list[str]  # the import's --from/--ssh-key/--project arguments
    setup_s: int = 0  # the source install and the target's deploy, side by side

    def run(self, *args: str, check: int | None = 0) -> dict[str, object]:
        res = self.zixly.run("import", "n8n", "--env", "imp", *self.source, *args, "--json", check=check,
                             timeout=1800)
        return json.loads(res.stdout) if res.stdout.strip() else {"stderr": res.stderr}

    def store(self) -> bytes:
        return (self.zixly.root / "inventories" / "imp" / "secrets.age").read_bytes()


def _sh(host: VpsHost, *argv: str, input: str | None = None, timeout: float = 600) -> str:
    res = host.ssh(list(argv), input=input, timeout=timeout)
    assert res.returncode == 0, f"{host.name}: {argv}: {res.stderr[-2000:]}"
    return res.stdout


def _psql(host: Engine, container: str, user: str, db: str, sql: str) -> str:
    res = host.docker("exec", "-i", container, "psql", "-U", user, "-d", db, "-At", "-v", "ON_ERROR_STOP=1",
                      input=sql, timeout=300)
    assert res.returncode == 0, f"{host.name}: {sql}: {res.stderr}"
    return res.stdout.strip()


def _counts(host: Engine, container: str, user: str) -> dict[str, int]:
    return {t: int(_psql(host, container, user, "n8n", f"SELECT count(*) FROM {t};")) for t in WF_TABLES}


def _n8n_cli(host: Engine, container: str, *args: str, input: str | None = None) -> str:
    # The CLI starts a task broker of its own (`execute`): not on the running server's port.
    res = host.docker("exec", "-i", "-e", "N8N_RUNNERS_BROKER_PORT=5690", container, "n8n", *args, input=input,
                      timeout=300)
    assert res.returncode == 0, f"{host.name}: n8n {args}: {res.stdout[-1500:]} {res.stderr[-1500:]}"
    return res.stdout


def _wait_ready(host: Engine, container: str, timeout: float = 600) -> None:
    probe = ("require('http').get('http://127.0.0.1:5678/healthz/readiness',"
             "r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))")
    deadline = time.monotonic() + timeout
    while host.docker("exec", container, "node", "-e", probe).returncode != 0:
        assert time.monotonic() < deadline, host.docker("logs", "--tail", "40", container).stderr
        time.sleep(2)


def source_state(host: VpsHost) -> dict[str, object]:
    """What must not change on h1: the containers (same ids, started once, running), every table of the
    database (rows and md5), the files of both volumes (sha256) except n8n's own event log, the compose file."""
    data = HostData(host)
    tables = _psql(host, PG, "root", "n8n", "SELECT format('%I', tablename) FROM pg_tables WHERE schemaname = "
                   "'public' ORDER BY 1;").split()
    sql = "\n".join(f"SELECT '{t}', count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                    f"FROM {t} x;" for t in tables)
    files = {}
    for vol in (f"{PROJECT}_n8n_storage", f"{PROJECT}_db_storage"):
        files[vol] = {p: s for p, s in checksums(data.volume_dir(vol)).items() if "n8nEventLog" not in p
                      and not p.startswith(("pg_stat_tmp/", "pg_wal/", "base/", "global/", "pg_xact/",
                                            "pg_subtrans/", "pg_multixact/", "pg_logical/", "postmaster"))}
    containers = data.sh("inspect", "--format", "{{.Id}} {{.State.StartedAt}} {{.State.Status}} {{.RestartCount}}",
                         N8N, PG).split("\n")
    compose = hashlib.sha256(_sh(host, "cat", f"{DIR}/compose.yaml").encode()).hexdigest()
    return {"tables": _psql(host, PG, "root", "n8n", sql), "files": files, "containers": containers,
            "compose": compose}


def _source_install(h1: VpsHost) -> None:
    for image, tag in (("zixly-offline/n8n:2.41.1", "n8nio/n8n:2.41.1"), ("zixly-offline/postgres:15", "postgres:15")):
        if h1.docker("image", "inspect", image).returncode != 0:
            h1.load_image(image, timeout=1800)
        h1.docker("tag", image, tag, check=True)
    _sh(h1, "mkdir", "-p", DIR)
    _sh(h1, "sh", "-c", f"cat > {DIR}/compose.yaml", input=COMPOSE)
    _sh(h1, "docker", "compose", "-f", f"{DIR}/compose.yaml", "-p", PROJECT, "up", "-d", "--wait",
        "--wait-timeout", "600", timeout=900)
    _wait_ready(h1, N8N)
    _n8n_cli(h1, N8N, "import:workflow", "--input=/dev/stdin", input=json.dumps(WORKFLOWS))
    _n8n_cli(h1, N8N, "import:credentials", "--input=/dev/stdin", input=json.dumps(CREDENTIALS))
    for wf in WORKFLOWS[:1]:  # one execution: each CLI start costs ~30 s here
        # n8n 2.41.1's CLI sometimes ends with SIGSEGV (139) AFTER a successful run (seen here once of two,
        # the execution saved and printed); what counts is the run's status, and the count checked later
        res = h1.docker("exec", "-i", "-e", "N8N_RUNNERS_BROKER_PORT=5690", N8N, "n8n", "execute", f"--id={wf['id']}",
                        timeout=300)
        assert res.returncode in (0, 139) and '"status": "success"' in res.stdout, res.stdout[-1500:] + res.stderr


def _remove_source(h1: VpsHost) -> None:
    h1.ssh(["docker", "compose", "-p", PROJECT, "down", "--volumes", "--remove-orphans"], timeout=300)
    h1.ssh(["rm", "-rf", DIR])
    for tag in ("n8nio/n8n:2.41.1", "postgres:15"):  # our tags only; the kit images stay for the other modules
        h1.docker("rmi", "--no-prune", tag)


@pytest.fixture(scope="module")
def imp(vps_hosts: Callable[[int], list[VpsHost]], vps_pool: VpsPool, age_key_file: Path,
        tmp_path_factory: pytest.TempPathFactory, duo: Duo) -> Iterator[Imp]:
    h1, h2 = vps_hosts(2)
    root = make_root(tmp_path_factory.mktemp("import") / "repo", "imp", ENV,
                     f"hosts:\n  imp1:\n    address: {h2.address}\n    user: root\n    ssh_key: {h2.key_path}\n"
                     "    roles: [edge, apps, stores]\n    prepare: {firewall: false}\n")
    z = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(age_key_file), "ZIXLY_SSH_KNOWN_HOSTS": str(vps_pool.known_hosts_path)})
    state = Imp(z, h1, h2, ["--from", f"ssh://root@{h1.address}", "--ssh-key", str(h1.key_path),
                            "--project", PROJECT])
    def target() -> None:
        z.run("secrets", "init", "imp")
        z.run("images", "load", "imp", timeout=1800)
        report = z.json("deploy", "imp", "--yes", "--no-hooks")
        assert report["ok"], json.dumps(report, indent=2)[-3000:]

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(2) as pool:  # two hosts, mostly waiting on their engines: side by side
            jobs = [pool.submit(_source_install, h1), pool.submit(target)]
            for job in jobs:
                job.result()
        state.setup_s = round(time.monotonic() - started)
        yield state
    finally:
        _remove_source(h1)
        HostData(h2).remove_env("imp")
        h2.ssh(["rm", "-rf", "/var/backups/zixly/imp"])


def test_import_moves_key_and_data_leaves_the_source_alone_and_repeats_as_a_noop(imp: Imp,
                                                                                request: pytest.FixtureRequest) -> None:
    h1, h2, z = imp.h1, imp.h2, imp.zixly
    figure(request, "source_and_target_setup_s", imp.setup_s)
    source_counts = _counts(h1, PG, "root")
    assert source_counts == {"workflow_entity": 3, "credentials_entity": 1, "execution_entity": 1}, source_counts
    before = source_state(h1)
    store_before = imp.store()

    plan = imp.run("--dry-run")
    rows = {r["setting"]: r for r in plan["mapping"]}  # type: ignore[attr-defined]
    assert plan["key"] == "replaced" and plan["data"] == "loaded" and plan["changed"] is False, plan
    assert "config" in plan["source"]["key_from"]  # type: ignore[index]
    assert plan["source"]["compose_services"] == ["n8n", "postgres"], plan["source"]  # type: ignore[index]
    assert rows["DB_POSTGRESDB_PASSWORD"]["status"] == "replaced"
    assert rows["GENERIC_TIMEZONE"]["status"] == "differs"
    assert rows["EXECUTIONS_DATA_PRUNE"]["status"] == "unmapped"
    assert rows["mount /home/node/.n8n"]["status"] == "moved"
    assert plan["sizes"]["database"] > 0 and plan["sizes"]["files"] > 0, plan["sizes"]  # type: ignore[index]
    assert imp.store() == store_before, "the dry run changed the secrets store"
    assert _counts(h2, TARGET_PG, "postgres")["workflow_entity"] == 0, "the dry run changed the target"

    started = time.monotonic()
    done = imp.run()
    figure(request, "import_s", round(time.monotonic() - started))
    assert done["changed"] is True and done["key"] == "replaced" and done["data"] == "loaded", done
    assert done["counts"]["target"] == done["counts"]["source"] == {  # type: ignore[index]
        "workflows": 3, "credentials": 1, "executions": 1}, done["counts"]
    assert imp.store() != store_before
    assert _counts(h2, TARGET_PG, "postgres") == source_counts

    report = z.json("deploy", "imp", "--yes", "--no-hooks")
    assert report["ok"], json.dumps(report, indent=2)[-3000:]
    _wait_ready(h2, TARGET_N8N)
    _n8n_cli(h2, TARGET_N8N, "export:credentials", "--all", "--decrypted", "--output=/tmp/zixly-import-check.json")
    exported = h2.docker("exec", TARGET_N8N, "cat", "/tmp/zixly-import-check.json").stdout
    h2.docker("exec", TARGET_N8N, "rm", "-f", "/tmp/zixly-import-check.json")
    creds = json.loads(exported)
    assert [c["data"]["password"] for c in creds] == [CREDENTIAL_SECRET], "the credential does not decrypt on h2"
    assert _counts(h2, TARGET_PG, "postgres") == source_counts

    again = imp.run()
    assert again["changed"] is False and again["key"] == "unchanged" and again["data"] == "unchanged", again
    assert source_state(h1) == before, "the import changed the source"
    for text in z.outputs:
        assert CREDENTIAL_SECRET not in text and "old-db-password-4711" not in text


def test_other_data_in_the_target_is_refused_unless_replace(imp: Imp) -> None:
    h2 = imp.h2
    _psql(h2, TARGET_PG, "postgres", "n8n",
          "UPDATE workflow_entity SET name = 'edited on h2', \"updatedAt\" = now() WHERE id = 'oldWorkflow00001';")
    store = imp.store()
    plan = imp.run("--dry-run", check=4)
    assert plan["refused"] is True and plan["data"] == "refused" and plan["mapping"], plan
    assert any("--replace" in n for n in plan["notes"]), plan["notes"]  # type: ignore[union-attr]
    res = imp.zixly.run("import", "n8n", "--env", "imp", *imp.source, check=4, timeout=1800)
    assert "already holds other n8n data" in res.stderr and "--replace" in res.stderr, res.stderr
    assert "Nothing was changed" in res.stderr
    assert _psql(h2, TARGET_PG, "postgres", "n8n",
                 "SELECT name FROM workflow_entity WHERE id = 'oldWorkflow00001';") == "edited on h2"
    assert imp.store() == store

    done = imp.run("--replace")
    assert done["data"] == "replaced" and done["key"] == "unchanged", done
    assert _psql(h2, TARGET_PG, "postgres", "n8n",
                 "SELECT name FROM workflow_entity WHERE id = 'oldWorkflow00001';") == "Old workflow 1"
    _wait_ready(h2, TARGET_N8N)  # the key did not change: n8n was started again on the replaced data
