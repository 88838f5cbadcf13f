"""``deploy/inventory.py`` under pyinfra's CLI: an environment's hosts.yaml, and no secret.

Real pyinfra CLI (``debug-inventory``: it builds the inventory and the hosts' data, with
``deploy/group_data/all.py``, and connects to nothing) on a throwaway repository whose secrets
store holds a canary. The inventory is built without the age key (it opens no store), and each
host's data is the connection settings, zixly's names and the group data: nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyrage

from tests.deploy.helpers import REPO, Zixly, make_root
from tests.harness.duo import DUO_ENV

CANARY = "CANARY-inventory-5e6f7a8b9c0d"
HOSTS = (
    "hosts:\n"
    "  h1:\n    address: 10.9.9.1\n    user: root\n    ssh_key: /keys/h1\n    roles: [edge, apps]\n"
    "  h2:\n    address: 10.9.9.2\n    user: admin\n    roles: [edge, apps, stores]\n"
)
CONNECTION = {"ssh_hostname", "ssh_user", "ssh_port", "ssh_allow_agent", "ssh_key", "ssh_look_for_keys", "_sudo"}
ZIXLY = {"zixly_host", "zixly_env", "zixly_root", "zixly_hooks", "zixly_force", "zixly_break_lock"}


def test_inventory_is_hosts_yaml_with_connection_data_only(tmp_path: Path) -> None:
    root = make_root(tmp_path / "repo", "duo", DUO_ENV, HOSTS)
    key = tmp_path / "age.key"
    key.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    zixly = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(key)})
    zixly.run("secrets", "init", "duo")
    zixly.run("secrets", "set", "duo", "portainer.admin_password", input=CANARY + "\n")

    env = zixly.environ()
    env.update(ZIXLY_ENV="duo", ZIXLY_ROOT=str(root), PYTHONPATH=str(REPO),
               ZIXLY_AGE_KEY_FILE=str(tmp_path / "no-such-key"))
    argv = [sys.executable, "-m", "pyinfra", str(REPO / "deploy" / "inventory.py"), "debug-inventory", "--json"]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert CANARY not in res.stdout + res.stderr
    hosts = {h["name"]: h for h in json.loads(res.stdout[res.stdout.index("["):])}
    h1, h2 = hosts["h1"], hosts["h2"]
    assert set(h1["groups"]) >= {"zixly", "edge", "apps"} and "stores" not in h1["groups"], h1["groups"]
    assert "stores" in h2["groups"], h2["groups"]
    for name, host in (("h1", h1), ("h2", h2)):
        data = host["data"]
        assert set(data) <= CONNECTION | ZIXLY, sorted(set(data) - CONNECTION - ZIXLY)
        assert data["zixly_host"] == name and data["zixly_env"] == "duo" and data["zixly_hooks"] is True
    assert h1["data"]["ssh_hostname"] == "10.9.9.1" and h1["data"]["ssh_key"] == "/keys/h1"
    assert h2["data"]["_sudo"] is True and h2["data"]["ssh_user"] == "admin"
