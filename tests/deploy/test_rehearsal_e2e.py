"""The staging rehearsal: plan staging -> deploy staging -> healthy -> plan production shows the same change.

Two environments shaped like ``staging`` and ``production`` (same services, one VPS-like
test host each, edge on 8080/8443 so they sit beside the ``duo`` environment) share one
catalog copy. A catalog change (a new env var of Portainer) is planned and deployed on
staging first; production's plan must then show exactly the change set staging got.
Production's images arrive from a ``zixly images save`` file (``images load --from``),
staging's straight from this machine's engine. Real engines, real SSH; Portainer is the
kit's labelled stand-in.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import REPO, Zixly, make_root
from tests.harness.vps import VpsHost, VpsPool

pytestmark = [pytest.mark.engine, pytest.mark.e2e]

ENV = """description: {what}
domain: {name}.localhost
tls: {{sni_strict: false}}
images: {{source: offline, allow_standins: true}}
edge: {{http_port: 8080, https_port: 8443}}
base_dir: /opt/zixly
services:
  traefik:
  socket-proxy:
  portainer:
backup:
  target: {{type: local, path: /var/backups/zixly/{name}}}
"""


def _hosts(host: VpsHost, name: str) -> str:
    return f"hosts:\n  {name}1:\n    address: {host.address}\n    user: root\n    ssh_key: {host.key_path}\n"


def change_set(plan: dict[str, Any], env: str) -> list[Any]:
    """What a plan changes, with the environment's name taken out (hosts in order)."""
    out = []
    for host in plan["hosts"]:
        out.append(
            {
                "files": sorted((f["path"], f["change"], f["secret"]) for f in host["files"]),
                "projects": [
                    (
                        p["project"].replace(f"zixly-{env}-", ""),
                        p["action"],
                        sorted((s["service"], s["action"]) for s in p["services"]),
                    )
                    for p in host["projects"]
                ],
                "images": sorted(i["ref"] for i in host["images"]),
                "networks": [n.replace(f"zixly-{env}-", "") for n in host["networks"]],
            }
        )
    return out


@pytest.fixture(scope="module")
def rehearsal(vps_pool: VpsPool, tmp_path_factory: pytest.TempPathFactory, age_key_file: Path) -> Iterator[Zixly]:
    """Two fresh hosts with the baseline deployed; destroyed after the module."""
    hosts = vps_pool.fresh(2)
    try:
        root = tmp_path_factory.mktemp("rehearsal") / "repo"
        make_root(root, "stg", ENV.format(name="stg", what="staging-like"), _hosts(hosts[0], "stg"))
        make_root(root, "prd", ENV.format(name="prd", what="production-like"), _hosts(hosts[1], "prd"))
        (root / "services").unlink()
        shutil.copytree(REPO / "services", root / "services")
        env = {"ZIXLY_AGE_KEY_FILE": str(age_key_file), "ZIXLY_SSH_KNOWN_HOSTS": str(vps_pool.known_hosts_path)}
        zixly = Zixly(root, env)
        kit = root.parent / "prd-images.tar.gz"
        zixly.run("images", "save", "prd", "--out", str(kit), timeout=1800)
        for name in ("stg", "prd"):
            zixly.run("secrets", "init", name)
            # staging gets its images from this machine's engine, production from the saved file
            extra = ("--from", str(kit)) if name == "prd" else ()
            zixly.run("images", "load", name, *extra, timeout=1800)
            zixly.run("deploy", name, "--yes", "--no-hooks", timeout=1800)
        yield zixly
    finally:
        vps_pool.destroy(hosts)


def test_staging_rehearsal_predicts_production(rehearsal: Zixly) -> None:
    for env in ("stg", "prd"):
        assert rehearsal.run("plan", env, "--detailed-exitcode", check=None).returncode == 0, "baseline converged"
    spec = rehearsal.root / "services" / "portainer" / "service.yaml"
    text = spec.read_text()
    assert "    env:\n" in text
    spec.write_text(text.replace("    env:\n", '    env:\n      ZIXLY_REHEARSAL: "1"\n', 1))
    staging = change_set(rehearsal.json("plan", "stg"), "stg")
    assert staging[0]["projects"] == [("portainer", "up", [("portainer", "recreate")])], staging
    report = rehearsal.json("deploy", "stg", "--yes", "--no-hooks")
    assert report["ok"] and report["hosts"][0]["status"] == "changed"
    status = rehearsal.json("status", "stg")
    assert all(c["ok"] for c in status["hosts"][0]["containers"]), "staging is healthy"
    production = change_set(rehearsal.json("plan", "prd"), "prd")
    assert production == staging, "production's plan is the change staging rehearsed"
    rehearsal.run("deploy", "prd", "--yes", "--no-hooks")
    assert rehearsal.run("plan", "prd", "--detailed-exitcode", check=None).returncode == 0
