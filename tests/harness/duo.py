"""The run's ONE two-host SSH environment, ``duo``, on the shared pair of test hosts.

h1 runs the edge and Portainer, h2 the edge, MariaDB and Invoice Ninja; images reach the hosts
only through ``zixly images load`` (no registry). The hosts' own root file systems are
copy-on-write overlays, so ``/opt/zixly`` there is private to each host.

``duo`` is the FIRST environment deployed on the shared hosts: its tests check what a first
deploy does to a host (images loaded, host preparation, the firewall table it owns). Every
other module that deploys onto the shared hosts (``tests/backup/test_remote_e2e.py``) asks for
``duo`` first, whatever order the tests are collected in. One fixture definition for the whole
run, registered by ``tests/conftest.py`` (a copy in a directory's conftest would deploy twice).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import Zixly, make_root
from tests.harness.vps import VpsHost, VpsPool

CANARIES = {
    "invoiceninja.admin_password": "CANARY-duo-in-0f1e2d3c4b5a",
    "portainer.admin_password": "CANARY-duo-pt-a5b4c3d2e1f0",
}


@dataclass
class Duo:
    """The two-host SSH environment, deployed once by the fixture."""

    zixly: Zixly
    env: str
    hosts: list[VpsHost]
    pool_known_hosts: Path
    load_result: str = ""
    first_deploy: dict[str, Any] | None = None

    @property
    def env_file(self) -> Path:
        """``inventories/duo/environment.yaml`` of the test root."""
        return self.zixly.root / "inventories" / self.env / "environment.yaml"


DUO_ENV = """description: two VPS-like test hosts, services split across them
domain: duo.localhost
tls: {sni_strict: false}
images: {source: offline, allow_standins: true}
base_dir: /opt/zixly
services:
  traefik:
  socket-proxy:
  portainer:
  mariadb:
  invoiceninja:
    host: h2
backup:
  target: {type: local, path: /var/backups/zixly/duo}
"""


def duo_hosts_yaml(a: VpsHost, b: VpsHost) -> str:
    """hosts.yaml for the two test hosts (key auth as root)."""
    return (
        "hosts:\n"
        f"  h1:\n    address: {a.address}\n    user: root\n    ssh_key: {a.key_path}\n    roles: [edge, apps]\n"
        f"  h2:\n    address: {b.address}\n    user: root\n    ssh_key: {b.key_path}\n"
        "    roles: [edge, apps, stores]\n"
    )


@pytest.fixture(scope="session")
def duo(
    vps: list[VpsHost], vps_pool: VpsPool, tmp_path_factory: pytest.TempPathFactory, age_key_file: Path
) -> Iterator[Duo]:
    """The two-host environment, secrets initialised, images loaded, deployed once."""
    a, b = vps
    root = make_root(tmp_path_factory.mktemp("duo") / "repo", "duo", DUO_ENV, duo_hosts_yaml(a, b))
    env = {"ZIXLY_AGE_KEY_FILE": str(age_key_file), "ZIXLY_SSH_KNOWN_HOSTS": str(vps_pool.known_hosts_path)}
    zixly = Zixly(root, env)
    zixly.run("secrets", "init", "duo")
    for name, value in CANARIES.items():
        zixly.run("secrets", "set", "duo", name, input=value + "\n")
    duo = Duo(zixly, "duo", [a, b], vps_pool.known_hosts_path)
    loaded = zixly.run("images", "load", "duo", timeout=1800)
    duo.load_result = loaded.stderr
    duo.first_deploy = zixly.json("deploy", "duo", "--yes", "--no-hooks")
    yield duo
