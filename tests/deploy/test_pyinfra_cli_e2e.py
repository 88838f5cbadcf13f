"""The repository's pyinfra project (``deploy/``) run by pyinfra's own CLI on the shared ``duo`` hosts.

Real parts: pyinfra's CLI (``python -m pyinfra``) with ``deploy/inventory.py`` (built from the
environment's ``hosts.yaml``) and ``deploy/deploy.py``, real SSH to the two VPS-like test hosts,
their real Docker engines and Compose, and ``zixly plan`` as the judge: what pyinfra's CLI left
must be what ``zixly deploy`` leaves, so the next plan shows no change.

The hosts are first made to differ from the deployed release in three ways, each planned by a
different deploy: h1's portainer gets a new env value (stack apply: a new release, upload,
switch, converge), h1 loses its health-agent cron line and h2 its backup cron line (schedules;
h2 has nothing else to do, so the two hosts run different operations). A deploy file of the
user's, named after ours, records what it finds on each host: it must run after ours. The
environment is then put back through pyinfra's CLI as well, with a deliberately divergent deploy
file after ours (it removes a cron line ours installs): the next plan must show exactly that, so
the check can fail. ``zixly deploy`` restores the cron line before the test ends.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.helpers import REPO
from tests.harness.duo import CANARIES, Duo

pytestmark = [pytest.mark.engine, pytest.mark.e2e]

MARKER = "/root/zixly-after-ours.txt"
DIVERGENT = """\
from pyinfra.operations import files

files.file(name="a deliberately divergent deploy", path="/etc/cron.d/zixly-health-duo", present=False)
"""
USER_DEPLOY = f'''\
"""A user's own deploy file: runs after zixly's and writes down what it finds."""
from pyinfra.operations import server

server.shell(
    name="after zixly: what is there",
    commands=["{{ ls /etc/cron.d; docker ps --format '{{{{.Names}}}} {{{{.Status}}}}'; }} > {MARKER}"],
)
'''


def _pyinfra(duo: Duo, *files: Path) -> subprocess.CompletedProcess[str]:
    env = duo.zixly.environ()
    env.update(ZIXLY_ENV=duo.env, ZIXLY_ROOT=str(duo.zixly.root), PYTHONPATH=str(REPO))
    argv = [sys.executable, "-m", "pyinfra", "-y", "--data", "zixly_hooks=false",
            str(REPO / "deploy" / "inventory.py"), *map(str, files)]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=duo.zixly.root, timeout=1200)
    duo.zixly.outputs += [res.stdout, res.stderr]
    return res


def test_pyinfra_cli_with_deploy_leaves_what_zixly_deploy_leaves(duo: Duo, tmp_path: Path) -> None:
    a, b = duo.hosts
    original = duo.env_file.read_text()
    user_file = tmp_path / "after_ours.py"
    user_file.write_text(USER_DEPLOY)
    duo.env_file.write_text(
        original.replace("  portainer:\n", "  portainer:\n    env: {portainer: {ZIXLY_PYINFRA_CLI: '1'}}\n")
    )
    try:
        a.ssh(["rm", "-f", "/etc/cron.d/zixly-health-duo"], check=True)
        b.ssh(["rm", "-f", "/etc/cron.d/zixly-backup-duo"], check=True)
        plan = duo.zixly.json("plan", "duo")
        by_host = {h["host"]: h for h in plan["hosts"]}
        assert [p["project"] for p in by_host["h1"]["projects"]] == ["zixly-duo-portainer"], plan
        assert {c["step"] for c in by_host["h1"]["prepare"]} == {"health_schedule"}, by_host["h1"]["prepare"]
        assert {c["step"] for c in by_host["h2"]["prepare"]} == {"backup_schedule"}, by_host["h2"]["prepare"]

        res = _pyinfra(duo, REPO / "deploy" / "deploy.py", user_file)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]

        after = duo.zixly.run("plan", "duo", "--detailed-exitcode", check=None)
        assert after.returncode == 0, "pyinfra's CLI left something zixly deploy would change:\n" + after.stdout
        env = a.docker("inspect", "--format", "{{json .Config.Env}}", "zixly-duo-portainer-portainer-1", check=True)
        assert "ZIXLY_PYINFRA_CLI=1" in env.stdout
        seen = {h.name: h.ssh(["cat", MARKER], check=True).stdout for h in (a, b)}
        assert "zixly-health-duo" in seen[a.name] and "zixly-backup-duo" in seen[b.name], seen
        assert "zixly-duo-portainer-portainer-1 Up" in seen[a.name], seen[a.name]
        for value in CANARIES.values():
            assert value not in res.stdout + res.stderr
        for h in (a, b):
            assert h.ssh(["test", "-e", "/opt/zixly/duo/.lock"]).returncode != 0, "the deploy lock is released"

        # Back to the original environment through pyinfra's CLI too, with a deliberately divergent
        # deploy file after ours (it removes a cron line ours keeps): the judge must see it.
        duo.env_file.write_text(original)
        divergent = tmp_path / "divergent.py"
        divergent.write_text(DIVERGENT)
        res = _pyinfra(duo, REPO / "deploy" / "deploy.py", divergent)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
        plan = duo.zixly.json("plan", "duo")
        by_host = {h["host"]: h for h in plan["hosts"]}
        for name in ("h1", "h2"):  # the divergent file ran on both hosts
            assert not by_host[name]["projects"] and not by_host[name]["files"], by_host[name]
            assert {c["step"] for c in by_host[name]["prepare"]} == {"health_schedule"}, by_host[name]["prepare"]
        env = a.docker("inspect", "--format", "{{json .Config.Env}}", "zixly-duo-portainer-portainer-1", check=True)
        assert "ZIXLY_PYINFRA_CLI" not in env.stdout
    finally:
        for h in (a, b):
            h.ssh(["rm", "-f", MARKER])
        duo.env_file.write_text(original)
        duo.zixly.run("deploy", "duo", "--yes", "--no-hooks", timeout=900)
