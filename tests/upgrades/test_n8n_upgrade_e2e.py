"""Real n8n upgraded by ``zixly deploy``: from the offline kit's older n8n (2.38.7, the real npm
package) to the catalog's 2.41.1, on PostgreSQL 16, on a shared test host reached over real SSH.

n8n 2.41.1 runs its own database migrations on start (18 since 2.38.7). Before that, the deploy
takes the checkpoint of n8n's data (its database dump and volume, tagged
``upgrade:n8n:2.38.7->2.41.1``, proven readable). Data made with n8n's own CLI on 2.38.7 --
workflows, a credential encrypted with the environment's key, an execution -- is intact after the
upgrade: counted equal, and the credential decrypts in 2.41.1 with the same key (the key is never
rotated). ``zixly plan`` showed the move as an upgrade with its checkpoint; a second deploy
changes nothing. Everything of the environment is removed from the host at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backup.remote_env import HostData
from tests.deploy.helpers import Zixly, make_root
from tests.harness.vps import VpsHost, VpsPool
from tests.importer.test_import_e2e import (
    CREDENTIAL_SECRET,
    CREDENTIALS,
    WORKFLOWS,
    _counts,
    _n8n_cli,
    _wait_ready,
)
from tests.importer.test_import_e2e import ENV as IMPORT_ENV

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

# The import test's environment (n8n on PostgreSQL, the warehouse, the edge) with n8n pinned older.
EDITS = (("takes over an n8n that ran elsewhere", "an n8n pinned to an older version, upgraded by a deploy"),
         ("imp.localhost", "upg.localhost"), ("http_port: 8083, https_port: 8446", "http_port: 8084, https_port: 8447"),
         ("/var/backups/zixly/imp", "/var/backups/zixly/upg"), ("  n8n:\n", "  n8n:\n    version: 2.38.7\n"))


def _env() -> str:
    text = IMPORT_ENV
    for old, new in EDITS:
        assert text.count(old) == 1, f"the import test's environment drifted: {old!r}"
        text = text.replace(old, new)
    return text


ENV = _env()
N8N, PG = "zixly-upg-n8n-n8n-1", "zixly-upg-postgres-server-1"
TAG = "upgrade:n8n:2.38.7->2.41.1"


def _decrypted(host: VpsHost) -> list[str]:
    """The passwords of every credential, decrypted by the running n8n with its key."""
    _n8n_cli(host, N8N, "export:credentials", "--all", "--decrypted", "--output=/tmp/zixly-upgrade-check.json")
    exported = host.docker("exec", N8N, "cat", "/tmp/zixly-upgrade-check.json").stdout
    host.docker("exec", N8N, "rm", "-f", "/tmp/zixly-upgrade-check.json")
    return [c["data"]["password"] for c in json.loads(exported)]


@pytest.fixture(scope="module")
def upg(vps_hosts: Callable[[int], list[VpsHost]], vps_pool: VpsPool, age_key_file: Path,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Zixly, VpsHost]]:
    """n8n 2.38.7 deployed on a shared test host, with workflows, a credential and an execution."""
    host = vps_hosts(2)[1]
    root = make_root(tmp_path_factory.mktemp("upg") / "repo", "upg", ENV,
                     f"hosts:\n  upg1:\n    address: {host.address}\n    user: root\n    ssh_key: {host.key_path}\n"
                     "    roles: [edge, apps, stores]\n    prepare: {firewall: false}\n")
    z = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(age_key_file), "ZIXLY_SSH_KNOWN_HOSTS": str(vps_pool.known_hosts_path)})
    try:
        z.run("secrets", "init", "upg")
        z.run("images", "load", "upg", timeout=1800)
        report = z.json("deploy", "upg", "--yes", "--no-hooks")
        assert report["ok"], json.dumps(report, indent=2)[-3000:]
        _wait_ready(host, N8N)
        assert host.docker("exec", N8N, "n8n", "--version").stdout.strip() == "2.38.7"
        _n8n_cli(host, N8N, "import:workflow", "--input=/dev/stdin", input=json.dumps(WORKFLOWS))
        _n8n_cli(host, N8N, "import:credentials", "--input=/dev/stdin", input=json.dumps(CREDENTIALS))
        res = host.docker("exec", "-i", "-e", "N8N_RUNNERS_BROKER_PORT=5690", N8N, "n8n", "execute",
                          f"--id={WORKFLOWS[0]['id']}", timeout=300)
        assert res.returncode in (0, 139) and '"status": "success"' in res.stdout, res.stdout[-1500:] + res.stderr
        yield z, host
    finally:
        HostData(host).remove_env("upg")
        host.ssh(["rm", "-rf", "/var/backups/zixly/upg"])


def test_real_n8n_is_upgraded_behind_its_checkpoint_with_its_data_and_key_intact(upg: tuple[Zixly, VpsHost]) -> None:
    z, host = upg
    counts, key = _counts(host, PG, "postgres"), host.docker("exec", N8N, "printenv", "N8N_ENCRYPTION_KEY").stdout
    assert counts == {"workflow_entity": 3, "credentials_entity": 1, "execution_entity": 1}, counts
    assert _decrypted(host) == [CREDENTIAL_SECRET]
    z.run("upgrade", "upg", "n8n", "--to", "2.41.1")
    [move] = z.json("plan", "upg")["hosts"][0]["upgrades"]
    assert (move["direction"], move["from"], move["to"], move["checkpoint"], move["deploy_refuses"]) == (
        "upgrade", "2.38.7", "2.41.1", TAG, None)
    assert f"checkpoint: {TAG}" in z.run("plan", "upg").stdout
    started = time.monotonic()
    report = z.json("deploy", "upg", "--yes", "--no-hooks")
    print(f"n8n upgrade deploy: {time.monotonic() - started:.0f}s")
    assert report["ok"], json.dumps(report, indent=2)[-3000:]
    _wait_ready(host, N8N)
    assert host.docker("exec", N8N, "n8n", "--version").stdout.strip() == "2.41.1"
    assert host.docker("exec", N8N, "printenv", "N8N_ENCRYPTION_KEY").stdout == key, "the key is never rotated"
    assert _counts(host, PG, "postgres") == counts, "workflows, credentials and executions intact"
    assert _decrypted(host) == [CREDENTIAL_SECRET], "the credential decrypts with the same key"
    log = json.loads(host.ssh(["tail", "-n", "1", "/opt/zixly/upg/releases.log"], check=True).stdout)
    [up] = log["upgrades"]
    assert (up["service"], up["from"], up["to"], up["result"], up["checkpoint"]["tag"]) == (
        "n8n", "2.38.7", "2.41.1", "ok", TAG)
    assert any(item.startswith("n8n.db.") for item in up["checkpoint"]["snapshots"]), up
    again = z.json("deploy", "upg", "--yes", "--no-hooks")
    assert [r["status"] for r in again["hosts"]] == ["unchanged"], again
    z.run("plan", "upg", "--detailed-exitcode")  # exit 0: nothing left to change
