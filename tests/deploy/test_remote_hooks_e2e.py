"""Hooks on remote hosts over SSH (the deploy's pyinfra connection, ``docker exec`` there).

Real parts: the ``duo`` environment on two VPS-like test hosts (own network namespace,
sshd and dockerd each), real SSH (paramiko via pyinfra), the real MariaDB 10.11 of the
offline kit on h2, Invoice Ninja as the kit's labelled stand-in.

* ``zixly hooks run duo``: Invoice Ninja's hook is found to run on a stand-in by asking
  h2's engine over SSH (``n/a``, nothing to set up), and the hook state is written on h2
  (``/opt/zixly/duo/state/hooks.json``, 0600), not here.
* A hook that really changes something remotely: a check-then-act hook (in a subprocess:
  SSH monkey-patches the process with gevent) creates a database in h2's MariaDB through
  :class:`~zixly_stack.hooks.remote.SshDocker` -- the root password from the secrets
  store travels on the SSH channel's stdin -- then a rerun finds it and changes nothing.
  The database and state files are removed at the end (the environment is shared).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.deploy.helpers import REPO
from tests.harness.duo import Duo

pytestmark = [pytest.mark.engine, pytest.mark.e2e]
STATE = "/opt/zixly/duo/state/hooks.json"
PROBE_STATE = "/opt/zixly/duo/state/hooks-probe-test.json"
DB = "zixly_remote_hook_probe"

SCRIPT = r'''
import json, sys
from pathlib import Path
from zixly_stack.runner.connect import open_session
from zixly_stack.hooks.base import HookResult
from zixly_stack.hooks.local_run import context_factory, open_secrets
from zixly_stack.hooks.remote import RemoteStateFile, SshDocker, pyinfra_runner
from zixly_stack.hooks.runner import PlannedHook, run_hooks
from zixly_stack.models.service import Hook
from zixly_stack.project import load

root, host, db, state_path = sys.argv[1:5]
LOGIN = 'IFS= read -r MYSQL_PWD; export MYSQL_PWD; exec mariadb -uroot -N -e "$1"'


def probe(ctx):
    pw = ctx.secret("mariadb.admin_password").reveal() + "\n"
    sql = f"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db}'"
    found = ctx.exec("server", ["sh", "-c", LOGIN, "sh", sql], service="mariadb", stdin=pw).stdout.split()
    if found == [db]:
        return HookResult(False, f"database {db} exists", {"db": db})
    ctx.exec("server", ["sh", "-c", LOGIN, "sh", f"CREATE DATABASE {db}"], service="mariadb", stdin=pw)
    return HookResult(True, f"created database {db}", {"db": db})


loaded = load(Path(root), "duo")
session = open_session({host: loaded.config.hosts.hosts[host]})
try:
    conn = session.hosts[host]
    runner = pyinfra_runner(conn)
    transport = SshDocker(runner, prefix=loaded.stack.prefix, host=host)
    planned = [PlannedHook("mariadb", Hook(name="probe-db", run="zixly_stack.hooks.probe:run", retries=0))]
    report = run_hooks(planned, context_factory(loaded, open_secrets(loaded), transport, lambda _: None),
                       RemoteStateFile(runner, state_path), resolver=lambda _: probe)
    print(json.dumps([[o.name, o.status, o.summary] for o in report.outcomes]))
finally:
    session.close()
'''


TUNNEL_SCRIPT = r'''
import json, sys
from pathlib import Path
import httpx
from zixly_stack.runner.connect import open_session
from zixly_stack.hooks.base import ContainerRef
from zixly_stack.hooks.remote import SshDocker, pyinfra_runner
from zixly_stack.hooks.tunnel import pyinfra_forwarder
from zixly_stack.project import load

root, host = sys.argv[1:3]
loaded = load(Path(root), "duo")
session = open_session({host: loaded.config.hosts.hosts[host]})
try:
    conn = session.hosts[host]
    with pyinfra_forwarder(conn) as fwd:
        transport = SshDocker(pyinfra_runner(conn), prefix=loaded.stack.prefix, host=host, tunnel=fwd.url)
        ep = transport.endpoint(ContainerRef("invoiceninja", "nginx"), 80)
        with httpx.Client(base_url=ep.base_url, timeout=30) as client:
            got = [client.get("/health") for _ in range(3)]  # kept alive and fresh connections alike
        fresh = httpx.get(ep.base_url + "/health", timeout=30)
    print(json.dumps([ep.base_url, [r.status_code for r in got], got[0].text, fresh.status_code]))
finally:
    session.close()
'''


def test_a_remote_containers_http_port_is_reached_through_the_ssh_connection(duo: Duo) -> None:
    """Hooks that call an app's HTTP API (n8n, Metabase, ...) work on remote hosts: the endpoint is a
    127.0.0.1 port here, forwarded over the deploy's SSH connection (direct-tcpip) to the container's
    address on h2's Docker network (inside h2's own network namespace)."""
    res = subprocess.run([sys.executable, "-c", TUNNEL_SCRIPT, str(duo.zixly.root), "h2"], capture_output=True,
                         text=True, env=duo.zixly.environ(), cwd=REPO, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    url, codes, body, fresh = json.loads(res.stdout.strip().splitlines()[-1])
    assert url.startswith("http://127.0.0.1:"), url
    assert codes == [200, 200, 200] and fresh == 200
    assert json.loads(body) == {"status": "ok"}, body


def _probe(duo: Duo, host: str) -> list[list[str]]:
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(duo.zixly.root), host, DB, PROBE_STATE],
                         capture_output=True, text=True, env=duo.zixly.environ(), cwd=REPO, timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    out: list[list[str]] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def _databases(duo: Duo) -> str:
    h2 = duo.hosts[1]
    res = h2.docker("exec", "zixly-duo-mariadb-server-1", "sh", "-c",
                    'MYSQL_PWD="$(cat "$MARIADB_ROOT_PASSWORD_FILE")" exec mariadb -uroot -N -e "SHOW DATABASES"')
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_hooks_run_over_ssh_detects_standins_and_keeps_state_on_the_host(duo: Duo) -> None:
    h2 = duo.hosts[1]
    try:
        doc = duo.zixly.json("hooks", "run", "duo")
        by_name = {h["name"]: h for h in doc["hooks"]}
        assert by_name["invoiceninja-setup"]["status"] == "n/a", doc
        assert "stand-in" in by_name["invoiceninja-setup"]["summary"], doc
        stat = h2.ssh(["stat", "-c", "%a", STATE], check=True).stdout.strip()
        assert stat == "600", stat
        state = json.loads(h2.ssh(["cat", STATE], check=True).stdout)
        assert state["hooks"]["invoiceninja-setup"]["status"] == "n/a", state
        again = duo.zixly.json("hooks", "run", "duo")
        assert again["hooks"] == [{**h, "seconds": again["hooks"][i]["seconds"]} for i, h in enumerate(doc["hooks"])]
    finally:
        h2.ssh(["rm", "-f", STATE])


def test_a_remote_hook_changes_once_then_is_a_noop(duo: Duo) -> None:
    assert DB not in _databases(duo).split()
    try:
        first = _probe(duo, "h2")
        assert first == [["probe-db", "ok", f"created database {DB}"]], first
        assert DB in _databases(duo).split()
        second = _probe(duo, "h2")
        assert second == [["probe-db", "unchanged", f"database {DB} exists"]], second
        state = json.loads(duo.hosts[1].ssh(["cat", PROBE_STATE], check=True).stdout)
        assert state["hooks"]["probe-db"]["applied"] == {"db": DB}
        for text in duo.zixly.outputs:
            assert "CANARY" not in text
    finally:
        duo.hosts[1].docker("exec", "zixly-duo-mariadb-server-1", "sh", "-c",
                            f'MYSQL_PWD="$(cat "$MARIADB_ROOT_PASSWORD_FILE")" exec mariadb -uroot -e '
                            f'"DROP DATABASE IF EXISTS {DB}"')
        duo.hosts[1].ssh(["rm", "-f", PROBE_STATE])
