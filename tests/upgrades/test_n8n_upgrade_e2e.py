"""Real n8n upgraded by ``zixly deploy``: from the offline kit's older n8n (2.38.7, the real npm
package) to the catalog's 2.41.1, on PostgreSQL 16, on THIS machine's engine through the ``local``
target -- the path a user of the ``local`` environment takes (``zixly up``, ``zixly upgrade``,
``zixly plan``, ``zixly deploy``).

The environment is its own (``<e2e env>upg``, registered with the session's leak guard): n8n with
what it needs (its PostgreSQL, the warehouse it loads into) and the edge (Traefik and its socket
proxy) on the session's loopback address, in a repo whose ``hosts.yaml`` is the repo's
``inventories/local/hosts.yaml`` (``@local``, pyinfra's local connector). Not the session's shared
stack: its worker is the run's longest chain. ``zixly up`` builds the older n8n's images when the
engine lacks them (the kit's cache: an engine that has them, as CI's keeps between runs, builds
nothing) and nothing is copied to another engine.

n8n 2.41.1 runs its own database migrations on start (18 since 2.38.7). Before that, the deploy
takes the checkpoint of n8n's data (its database dump and volume, tagged
``upgrade:n8n:2.38.7->2.41.1``, proven readable). Data made with n8n's own CLI on 2.38.7 --
workflows, a credential encrypted with the environment's key, an execution -- is intact after the
upgrade: counted equal, and the credential decrypts in 2.41.1 with the same key (the key is never
rotated). ``zixly plan`` showed the move as an upgrade with its checkpoint; the upgraded n8n answers
a person through Traefik (its health path, its sign-in page, and public settings that offer the
sign-in form, not the first-run owner setup); a second deploy changes nothing. ``zixly down
--volumes`` removes the environment at the end.

CI group: pinned to ``vps`` (see tests/harness/schedule.py): it needs no test host, but the ``vps``
worker has the most room once this test stopped running there over SSH, and a group starts early
(an ungrouped one-test module would be handed out last).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.helpers import REPO, Zixly, make_root
from tests.harness.leaks import register_env
from tests.harness.local_engine import LocalEngine
from tests.harness.stack import E2E_BIND, E2E_ENV, env_resources
from tests.harness.timing import figure
from tests.importer.test_import_e2e import (
    CREDENTIAL_SECRET,
    CREDENTIALS,
    WORKFLOWS,
    _counts,
    _n8n_cli,
    _wait_ready,
)
from tests.importer.test_import_e2e import ENV as IMPORT_ENV

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("vps")]

NAME = f"{E2E_ENV}upg"
HTTPS_PORT = 8447


def _environment(base: Path) -> str:
    """The import test's environment (n8n on PostgreSQL, the warehouse, the edge) with n8n pinned
    older, on this machine: its own base directory, the edge on the session's loopback address."""
    text = IMPORT_ENV
    for old, new in (
        ("takes over an n8n that ran elsewhere", "an n8n pinned to an older version, upgraded by a deploy"),
        ("imp.localhost", "upg.localhost"), ("base_dir: /opt/zixly", f"base_dir: {base}"),
        ("http_port: 8083, https_port: 8446", f"bind: {E2E_BIND}, http_port: 8084, https_port: {HTTPS_PORT}"),
        ("/var/backups/zixly/imp", f"{base}/backups"), ("  n8n:\n", "  n8n:\n    version: 2.38.7\n"),
    ):
        assert text.count(old) == 1, f"the import test's environment drifted: {old!r}"
        text = text.replace(old, new)
    return text


N8N, PG = f"zixly-{NAME}-n8n-n8n-1", f"zixly-{NAME}-postgres-server-1"
TAG = "upgrade:n8n:2.38.7->2.41.1"


@dataclass(frozen=True)
class ThisMachine:
    """This machine's engine, named for the n8n helpers' failure messages."""

    engine: LocalEngine
    name: str = "this machine"

    def docker(self, *args: str, input: str | None = None, timeout: float = 600.0,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.engine.docker(*args, input=input, timeout=timeout, check=check)


@dataclass
class Upg:
    zixly: Zixly
    here: ThisMachine
    base: Path
    up_s: float  # `zixly up` on 2.38.7: the kit's build when the engine lacks the older n8n, and the deploy


def _decrypted(here: ThisMachine) -> list[str]:
    """The passwords of every credential, decrypted by the running n8n with its key."""
    _n8n_cli(here, N8N, "export:credentials", "--all", "--decrypted", "--output=/tmp/zixly-upgrade-check.json")
    exported = here.docker("exec", N8N, "cat", "/tmp/zixly-upgrade-check.json").stdout
    here.docker("exec", N8N, "rm", "-f", "/tmp/zixly-upgrade-check.json")
    return [c["data"]["password"] for c in json.loads(exported)]


def _through_traefik(path: str) -> httpx.Response:
    """GET https://n8n.upg.localhost<path> as a browser would, through the environment's Traefik."""
    with httpx.Client(verify=False, timeout=30) as client:
        return client.get(f"https://{E2E_BIND}:{HTTPS_PORT}{path}", headers={"Host": "n8n.upg.localhost"})


@pytest.fixture(scope="module")
def upg(engine: LocalEngine, age_key_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upg]:
    """n8n 2.38.7 up on this machine (``zixly up``), with workflows, a credential and an execution."""
    register_env(NAME)
    work = tmp_path_factory.mktemp("upg")
    base = work / "opt"
    hosts = (REPO / "inventories" / "local" / "hosts.yaml").read_text()
    root = make_root(work / "repo", NAME, _environment(base), hosts)
    z, here = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(age_key_file)}), ThisMachine(engine)
    try:
        started = time.monotonic()
        z.run("up", "--env", NAME, "--no-hooks", "--no-probe", timeout=3600)
        up_s = time.monotonic() - started
        _wait_ready(here, N8N)
        assert here.docker("exec", N8N, "n8n", "--version").stdout.strip() == "2.38.7"
        _n8n_cli(here, N8N, "import:workflow", "--input=/dev/stdin", input=json.dumps(WORKFLOWS))
        _n8n_cli(here, N8N, "import:credentials", "--input=/dev/stdin", input=json.dumps(CREDENTIALS))
        # n8n's CLI sometimes ends with SIGSEGV (139) AFTER a successful run (tests/importer/test_import_e2e.py)
        res = here.docker("exec", "-i", "-e", "N8N_RUNNERS_BROKER_PORT=5690", N8N, "n8n", "execute",
                          f"--id={WORKFLOWS[0]['id']}", timeout=300)
        assert res.returncode in (0, 139) and '"status": "success"' in res.stdout, res.stdout[-1500:] + res.stderr
        yield Upg(z, here, base, up_s)
    finally:
        down = z.run("down", "--env", NAME, "--volumes", check=None, timeout=900)
        assert down.returncode == 0, f"zixly down {NAME} failed:\n{down.stdout}\n{down.stderr}"
        left = env_resources(engine, NAME)
        assert not any(left.values()), f"zixly down --volumes left {left}"


def test_real_n8n_is_upgraded_behind_its_checkpoint_with_its_data_and_key_intact(
    upg: Upg, request: pytest.FixtureRequest,
) -> None:
    z, here = upg.zixly, upg.here
    figure(request, "up_2.38.7_s", round(upg.up_s))
    counts, key = _counts(here, PG, "postgres"), here.docker("exec", N8N, "printenv", "N8N_ENCRYPTION_KEY").stdout
    assert counts == {"workflow_entity": 3, "credentials_entity": 1, "execution_entity": 1}, counts
    assert _decrypted(here) == [CREDENTIAL_SECRET]
    z.run("upgrade", NAME, "n8n", "--to", "2.41.1")
    [move] = z.json("plan", NAME)["hosts"][0]["upgrades"]
    assert (move["direction"], move["from"], move["to"], move["checkpoint"], move["deploy_refuses"]) == (
        "upgrade", "2.38.7", "2.41.1", TAG, None)
    assert f"checkpoint: {TAG}" in z.run("plan", NAME).stdout
    started = time.monotonic()
    report = z.json("deploy", NAME, "--yes", "--no-hooks")
    figure(request, "upgrade_deploy_s", round(time.monotonic() - started))
    assert report["ok"], json.dumps(report, indent=2)[-3000:]
    _wait_ready(here, N8N)
    assert here.docker("exec", N8N, "n8n", "--version").stdout.strip() == "2.41.1"
    assert here.docker("exec", N8N, "printenv", "N8N_ENCRYPTION_KEY").stdout == key, "the key is never rotated"
    assert _counts(here, PG, "postgres") == counts, "workflows, credentials and executions intact"
    assert _decrypted(here) == [CREDENTIAL_SECRET], "the credential decrypts with the same key"
    log = json.loads((upg.base / NAME / "releases.log").read_text().splitlines()[-1])
    [up] = log["upgrades"]
    assert (up["service"], up["from"], up["to"], up["result"], up["checkpoint"]["tag"]) == (
        "n8n", "2.38.7", "2.41.1", "ok", TAG)
    assert any(item.startswith("n8n.db.") for item in up["checkpoint"]["snapshots"]), up

    # What a person opening https://n8n.upg.localhost sees, through the environment's Traefik.
    health = _through_traefik("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"}), health.text[:500]
    page = _through_traefik("/signin")
    assert page.status_code == 200 and "<title>n8n.io" in page.text, page.text[:500]
    # What the page's script asks before anyone signs in (n8n's public settings: no version in them):
    # the owner the environment set up is still there, so a person gets the sign-in form, not n8n's
    # first-run "set up owner" form.
    settings = _through_traefik("/rest/settings")
    assert settings.status_code == 200, settings.text[:500]
    public = settings.json()["data"]
    assert (public["settingsMode"], public["userManagement"]["showSetupOnFirstLoad"]) == ("public", False), public

    again = z.json("deploy", NAME, "--yes", "--no-hooks")
    assert [r["status"] for r in again["hosts"]] == ["unchanged"], again
    z.run("plan", NAME, "--detailed-exitcode")  # exit 0: nothing left to change
