"""``mode: swarm`` end to end on a real two-node Docker Swarm across two fresh test hosts.

Each test host has its own dockerd; ``zixly deploy`` (a subprocess, over SSH through pyinfra)
inits the swarm on h1 (advertising its LAN address), joins h2 as a worker, labels the nodes
and deploys the stacks: Traefik (swarm provider, via the socket proxy), Redis pinned to h2
(``zixly.redis``) and ``hello``, a replicated app whose nginx image runs as the offline kit's
labelled stand-in. Overlay networks span both hosts (VXLAN works between the namespaces).

Not proven here (no IPVS in this kernel): service VIPs and the ingress routing mesh; the
environment uses ``endpoint_mode: dnsrr`` and Traefik publishes in ``mode: host`` (what the
renderer does for every environment). Images arrive by ``docker save | ssh docker load``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import REPO, Zixly, wait_for
from tests.harness.local_engine import LocalEngine
from tests.harness.vps import VpsHost, VpsPool

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

ENV = "sw"
KIT = ("traefik", "standin", "socket-proxy", "redis")
# only what each node runs (disk: vfs copies every layer and every container): h1 is the
# manager and edge (Traefik, the socket proxy), h2 holds Redis; hello replicas run on both
IMAGES = {0: ("zixly-offline/traefik:3.7.15", "zixly-offline/socket-proxy:1.0", "zixly-offline/standin:1.0"),
          1: ("zixly-offline/standin:1.0", "zixly-offline/redis:7.0")}
HELLO = Path(__file__).with_name("hello.service.yaml")
ENV_YAML = """description: swarm end-to-end test (two fresh test hosts)
domain: sw.localhost
mode: swarm
tls: {{sni_strict: false}}
edge: {{dashboard: false}}
images: {{source: offline, allow_standins: true}}
swarm: {{endpoint_mode: dnsrr, update_delay: 1s, monitor: 5s, converge_timeout: {timeout}}}
services:
  traefik:
  socket-proxy:
  redis:
  hello:
    replicas: {replicas}
{extra}"""


@dataclass
class SwarmEnv:
    """The test environment: its CLI runner and hosts (h1 manager + edge, h2 worker + stores)."""

    zixly: Zixly
    hosts: list[VpsHost]

    def write_env(self, replicas: int = 2, extra: str = "", timeout: int = 240) -> None:
        """Rewrite ``environment.yaml``."""
        path = self.zixly.root / "inventories" / ENV / "environment.yaml"
        path.write_text(ENV_YAML.format(replicas=replicas, extra=extra, timeout=timeout))

    def docker(self, *args: str) -> str:
        """``docker ARGS`` on the manager's engine (stdout; raises on failure)."""
        return self.hosts[0].docker(*args, check=True).stdout

    def services(self) -> dict[str, dict[str, Any]]:
        """Every service of the environment: name -> {version, updated, hash, replicas}."""
        ids = self.docker("service", "ls", "-q", "--filter", f"label=org.zixly.env={ENV}").split()
        docs = json.loads(self.docker("service", "inspect", *ids))
        return {d["Spec"]["Name"]: {"version": d["Version"]["Index"], "updated": d["UpdatedAt"],
                                    "hash": d["Spec"]["Labels"].get("org.zixly.spec-hash"),
                                    "replicas": (d["Spec"]["Mode"].get("Replicated") or {}).get("Replicas")}
                for d in docs}

    def running(self, service: str) -> list[str]:
        """Nodes of the running tasks of *service*."""
        out = self.docker("service", "ps", "--filter", "desired-state=running", "--format",
                          "{{.Node}} {{.CurrentState}}", service)
        return [line.split()[0] for line in out.splitlines() if " Running " in f" {line} "]

    def task_nodes(self, service: str) -> dict[str, str]:
        """``overlay address -> node hostname`` of each running task of *service*."""
        tasks = self.docker("service", "ps", "-q", "--filter", "desired-state=running", service).split()
        hostnames = {n["ID"]: n["Description"]["Hostname"]
                     for n in json.loads(self.docker("node", "inspect", *self.docker("node", "ls", "-q").split()))}
        out = {}
        for task in json.loads(self.docker("inspect", "--type", "task", *tasks)):
            for attachment in task.get("NetworksAttachments") or []:
                for address in attachment.get("Addresses") or []:
                    out[address.split("/")[0]] = hostnames[task["NodeID"]]
        return out

    def get(self, path: str = "/healthz") -> int:
        """GET https://hello.sw.localhost<path> through Traefik at h1's LAN address (from the root namespace)."""
        res = subprocess.run(["curl", "-sk", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "--resolve",
                              f"hello.sw.localhost:443:{self.hosts[0].address}", f"https://hello.sw.localhost{path}"],
                             capture_output=True, text=True, check=False)
        return int(res.stdout or 0)

    def upstreams(self) -> list[str]:
        """Backend URLs of Traefik's access log lines for the hello router (which replica answered)."""
        cid = self.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name=zixly-{ENV}-traefik_traefik")
        logs = self.hosts[0].docker("logs", cid.strip(), check=True)
        urls = []
        for line in (logs.stdout + logs.stderr).splitlines():
            if line.startswith("{") and '"RouterName":"hello@swarm"' in line:
                urls.append(str(json.loads(line).get("ServiceURL")))
        return urls


def _address(url: str) -> str:
    """The host part of a Traefik ``ServiceURL`` (``http://10.0.1.5:80`` -> ``10.0.1.5``)."""
    return url.split("://", 1)[-1].rsplit(":", 1)[0]


def _load_images(host: VpsHost, images: tuple[str, ...]) -> None:
    """``docker save IMAGES | ssh HOST docker load``: one archive, so the kit's shared base layer
    travels and unpacks once per host (separate loads took minutes on vfs)."""
    save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
    assert save.stdout is not None
    try:
        load = subprocess.run(host.ssh_argv(["docker", "load"]), stdin=save.stdout, capture_output=True,
                              timeout=900, check=False)
    finally:
        save.stdout.close()
        save.wait(timeout=900)
    assert save.returncode == 0 and load.returncode == 0, load.stderr.decode(errors="replace")


def _make_root(dest: Path) -> Path:
    (dest / "services" / "hello").mkdir(parents=True)
    for name in ("traefik", "socket-proxy", "redis"):
        (dest / "services" / name).symlink_to(REPO / "services" / name)
    (dest / "services" / "hello" / "service.yaml").write_text(HELLO.read_text())
    for part in ("templates", "images"):
        (dest / part).symlink_to(REPO / part)
    (dest / "inventories" / ENV).mkdir(parents=True)
    return dest


@pytest.fixture(scope="module")
def swarm(vps_pool: VpsPool, engine: LocalEngine, age_key_file: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmEnv]:
    """Two fresh hosts with the four small kit images loaded, and a repo root for ``sw``."""
    from zixly_stack.images import kit

    kit.build(list(KIT), verbose=False)
    hosts = vps_pool.fresh(2)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(_load_images, hosts, [IMAGES[0], IMAGES[1]]))
        root = _make_root(tmp_path_factory.mktemp("swarm") / "repo")
        a, b = hosts
        (root / "inventories" / ENV / "hosts.yaml").write_text(
            "hosts:\n"
            f"  h1:\n    address: {a.address}\n    user: root\n    ssh_key: {a.key_path}\n"
            "    roles: [manager, edge, apps]\n"
            f"  h2:\n    address: {b.address}\n    user: root\n    ssh_key: {b.key_path}\n"
            "    roles: [worker, stores, apps]\n")
        env = {"ZIXLY_AGE_KEY_FILE": str(age_key_file), "ZIXLY_SSH_KNOWN_HOSTS": str(vps_pool.known_hosts_path)}
        s = SwarmEnv(Zixly(root, env), hosts)
        s.write_env()
        s.zixly.run("secrets", "init", ENV)
        yield s
    finally:
        vps_pool.destroy(hosts)


def test_plan_shows_setup_and_services_and_changes_nothing(swarm: SwarmEnv) -> None:
    plan = swarm.zixly.json("plan", ENV)
    assert [(s["host"], s["kind"]) for s in plan["setup"]] == [("h1", "init"), ("h2", "join"), ("h1", "labels"),
                                                               ("h2", "labels")]
    assert {(s["service"], s["action"]) for s in plan["services"]} == {
        ("socket-proxy", "create"), ("traefik", "create"), ("hello", "create"), ("server", "create")}
    for h in swarm.hosts:  # a plan is read-only
        assert h.docker_info()["Swarm"]["LocalNodeState"] == "inactive"


def test_deploy_sets_up_the_swarm_converges_and_routes_to_replicas(swarm: SwarmEnv) -> None:
    res = swarm.zixly.json("deploy", ENV, "--yes")
    assert res["status"] == "changed" and res["ok"], res
    nodes = {n["Description"]["Hostname"]: n for n in json.loads(swarm.docker("node", "inspect", *swarm.docker(
        "node", "ls", "-q").split()))}
    h1, h2 = (h.name for h in swarm.hosts)
    assert nodes[h1]["Spec"]["Role"] == "manager" and nodes[h2]["Spec"]["Role"] == "worker"
    assert nodes[h1]["Status"]["Addr"] == swarm.hosts[0].address
    assert nodes[h1]["Spec"]["Labels"] == {"zixly.edge": "true"}
    assert nodes[h2]["Spec"]["Labels"] == {"zixly.redis": "true"}
    assert swarm.running(f"zixly-{ENV}-redis_server") == [h2]  # pinned to the node holding its volume
    hello = f"zixly-{ENV}-hello_hello"
    assert sorted(swarm.running(hello)) == sorted([h1, h2]), "one replica on each node (Swarm spreads them)"
    assert wait_for(lambda: swarm.get() == 200, 60), "Traefik never routed hello.sw.localhost"
    codes = [swarm.get() for _ in range(12)]
    assert codes == [200] * 12

    nodes_by_address = swarm.task_nodes(hello)
    assert set(nodes_by_address.values()) == {h1, h2}, nodes_by_address  # each task: an address per network

    def both_nodes() -> bool:  # the swarm provider polls every 15 s: a replica healthy late joins then
        assert [swarm.get() for _ in range(4)] == [200] * 4
        answered = {nodes_by_address.get(_address(u), f"unknown {u}") for u in swarm.upstreams()}
        assert not [a for a in answered if a.startswith("unknown")], answered
        return answered == {h1, h2}

    assert wait_for(both_nodes, 90, interval=3), f"answers came only from {set(swarm.upstreams())}"


def test_redeploy_changes_nothing(swarm: SwarmEnv) -> None:
    before = swarm.services()
    plan = swarm.zixly.run("plan", ENV, "--detailed-exitcode", check=0)
    assert "nothing to do" in plan.stdout
    res = swarm.zixly.json("deploy", ENV, "--yes")
    assert res["status"] == "unchanged" and res["release"] == "", res
    assert swarm.services() == before  # same versions and update timestamps


def test_scaling_a_service(swarm: SwarmEnv) -> None:
    before = swarm.services()
    swarm.write_env(replicas=3)
    plan = swarm.zixly.json("plan", ENV)
    changed = {s["service"]: s for s in plan["services"] if s["action"] != "unchanged"}
    assert set(changed) == {"hello"} and "replicas 2 -> 3" in changed["hello"]["detail"]
    res = swarm.zixly.json("deploy", ENV, "--yes")
    assert res["status"] == "changed", res
    after = swarm.services()
    name = f"zixly-{ENV}-hello_hello"
    assert after[name]["replicas"] == 3 and len(swarm.running(name)) == 3
    assert {k: v for k, v in after.items() if k != name} == {k: v for k, v in before.items() if k != name}
    assert swarm.get() == 200


def test_a_failing_update_is_rolled_back(swarm: SwarmEnv) -> None:
    """The new spec's tasks never get healthy: Swarm rolls the update back (failure_action),
    zixly reports the service with its task errors and exits 1; the old spec serves on."""
    before = swarm.services()
    current = swarm.hosts[0].ssh(["readlink", f"/opt/zixly/{ENV}/current"], check=True).stdout
    swarm.write_env(replicas=3, extra="    env: {hello: {ZIXLY_STANDIN_FAIL: '1'}}\n", timeout=150)
    try:
        res = swarm.zixly.run("deploy", ENV, "--yes", check=1)
        assert "rolled back" in res.stdout + res.stderr
        assert f"zixly-{ENV}-hello_hello" in res.stderr and "task:" in res.stderr
        name = f"zixly-{ENV}-hello_hello"
        assert wait_for(lambda: swarm.services()[name]["hash"] == before[name]["hash"], 120)
        assert wait_for(lambda: len(swarm.running(name)) == 3, 120)
        assert swarm.get() == 200
        assert swarm.hosts[0].ssh(["readlink", f"/opt/zixly/{ENV}/current"], check=True).stdout == current
    finally:
        swarm.write_env(replicas=3)
    assert swarm.zixly.run("plan", ENV, "--detailed-exitcode", check=None).returncode == 0
