"""Fixtures of the deploy tests: ONE local stack and ONE two-host SSH environment per session.

* ``local_stack`` (session): the whole ``local`` environment's services, renamed ``e2e``,
  brought up by ``zixly up --env e2e`` on this machine's engine, with its own base
  directory (a temp dir) and Traefik on 127.0.0.3 so it never collides with a
  developer's own ``zixly up`` (127.0.0.1, /opt/zixly). Torn down (volumes too) at the end.
* ``duo`` (session): an environment on the two shared ``vps`` test hosts: h1 runs the
  edge and Portainer, h2 the edge, MariaDB and Invoice Ninja; images reach the hosts only
  through ``zixly images load`` (no registry). The hosts' own root file systems are
  copy-on-write overlays, so ``/opt/zixly`` there is private to each host.

Tests that change an environment restore it before they end, so the order of tests does
not matter.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest

from tests.deploy.helpers import REPO, Zixly, make_root
from tests.harness.local_engine import LocalEngine
from tests.harness.local_engine import local_engine as _local_engine
from tests.harness.vps import VpsHost, VpsPool

E2E_ENV = "e2e"
E2E_BIND = "127.0.0.3"


@pytest.fixture(scope="session")
def age_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One age identity for every environment of the session (ZIXLY_AGE_KEY_FILE)."""
    path = tmp_path_factory.mktemp("age") / "key.txt"
    path.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    path.chmod(0o600)
    return path


def local_environment_yaml(base_dir: Path, overrides: str = "") -> str:
    """The repo's ``local`` environment with its own base dir and edge address (see module doc)."""
    text = (REPO / "inventories" / "local" / "environment.yaml").read_text()
    text = re.sub(r"(?m)^base_dir: .*$", f"base_dir: {base_dir}", text)
    text = re.sub(r"(?m)^(\s+bind: ).*$", rf"\g<1>{E2E_BIND}", text)
    text = re.sub(r"(?m)^(\s+target: ).*$", rf"\g<1>{{type: local, path: {base_dir}/backups}}", text)
    return text + overrides


@dataclass
class LocalStack:
    """The session's local stack."""

    zixly: Zixly
    env: str
    base_dir: Path
    engine: LocalEngine
    up_stdout: str
    up_stderr: str

    @property
    def env_file(self) -> Path:
        """``inventories/e2e/environment.yaml`` of the test root."""
        return self.zixly.root / "inventories" / self.env / "environment.yaml"

    def set_overrides(self, overrides: str) -> None:
        """Rewrite the environment file: the repo's local environment plus *overrides* (YAML under services)."""
        self.env_file.write_text(local_environment_yaml(self.base_dir) if not overrides else _with(self, overrides))


def _with(stack: LocalStack, overrides: str) -> str:
    text = local_environment_yaml(stack.base_dir)
    for line in overrides.strip().splitlines():
        service = line.split(":", 1)[0].strip()
        text = re.sub(rf"(?m)^  {re.escape(service)}:\s*$", f"  {line.strip()}", text)
    return text


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory, age_key_file: Path) -> Iterator[LocalStack]:
    """The whole stack up on this machine (``zixly up``), once per session; torn down at the end."""
    engine = _local_engine()
    work = tmp_path_factory.mktemp("e2e")
    base = work / "opt"
    hosts = (REPO / "inventories" / "local" / "hosts.yaml").read_text()
    root = make_root(work / "repo", E2E_ENV, local_environment_yaml(base), hosts)
    zixly = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(age_key_file)})
    res = zixly.run("up", "--env", E2E_ENV, "--no-hooks", check=None, timeout=5400)
    stack = LocalStack(zixly, E2E_ENV, base, engine, res.stdout, res.stderr)
    try:
        hint = ""
        if "non-overlapping IPv4 address pool" in res.stderr:
            hint = (
                "\nthe engine ran out of network address pools (the stack needs ~24 networks; Docker's defaults"
                " give ~30): stop other stacks (`zixly down`) or give dockerd --default-address-pool"
            )
        assert res.returncode == 0, f"zixly up failed:{hint}\n{res.stdout}\n{res.stderr}"
        yield stack
    finally:
        stack.set_overrides("")
        zixly.run("down", "--env", E2E_ENV, "--volumes", check=None, timeout=900)
        shutil.rmtree(work, ignore_errors=True)


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


@pytest.fixture(scope="session")
def local_engine_fixture() -> LocalEngine:
    """This machine's engine (fail under CI / skip elsewhere when none answers)."""
    return _local_engine()
