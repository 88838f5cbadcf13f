"""``mode: swarm`` end to end on a real two-node Docker Swarm across two fresh test hosts.

Each test host has its own dockerd; ``zixly deploy`` (a subprocess, over SSH through pyinfra)
inits the swarm on h1 (advertising its LAN address), joins h2 as a worker, labels the nodes
and deploys the stacks: Traefik (swarm provider, via the socket proxy), Redis pinned to h2
(``zixly.redis``) and ``hello``, a replicated app whose nginx image runs as the offline kit's
labelled stand-in. Overlay networks span both hosts (VXLAN works between the namespaces).

The first deploy also prepares both hosts as swarm nodes (daemon.json, the deploy user, the
nftables firewall with the swarm ports open to the other node only). The everyday commands run
against the same swarm afterwards: ``status`` (tasks on both nodes), ``rollback`` (back to the
first release's spec hashes), ``images load`` (the warehouse's PostgreSQL image onto the node
its placement pins it to, h2, and nowhere else) and the hooks (``warehouse-migrate`` against a
real PostgreSQL on h2, run through the manager h1).

Then the real n8n 2.41.1 of the offline kit (its main container and its task runner, both
pinned to h2, the node of n8n's volume) with its PostgreSQL on h2: the deploy's hooks, run
through the manager h1, create the owner check and seed the business strategy's workflows
and credentials as compose mode does (``n8n import:*`` by ``docker exec`` on h2, n8n's REST
API through the SSH tunnel to the task's ``docker_gwbridge`` address); the test then asks n8n's
own REST API, inside the task's container, which workflows it has, and a second hook run
changes nothing. The n8n image (1.3 GB, one layer the runner image shares) is loaded onto h2
in the background from the start of the module (``docker save | ssh docker load``: ~90 s here
on overlay2, all of it hidden behind the tests before it), and onto h2 only.

Not proven here (no IPVS in this kernel): service VIPs and the ingress routing mesh; the
environment uses ``endpoint_mode: dnsrr`` and Traefik publishes in ``mode: host`` (what the
renderer does for every environment). Images arrive by ``docker save | ssh docker load``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import REPO, Zixly, wait_for
from tests.harness.local_engine import LocalEngine
from tests.harness.timing import figure
from tests.harness.vps import VpsHost, VpsPool

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

ENV = "sw"
KIT = ("traefik", "standin", "socket-proxy", "redis", "postgres-16", "n8n", "n8n-runners")
POSTGRES = "zixly-offline/postgres:16"  # the warehouse pins major 16: the kit maps it to its 16
N8N = ("zixly-offline/n8n:2.41.1", "zixly-offline/n8n-runners:2.41.1")  # one shared 1.3 GB layer
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
    first: dict[str, Any] | None = None  # the first release: id and services (set by the deploy test)
    n8n_load: Future[float] | None = None  # seconds the background load of n8n onto h2 took

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


def _load_images(host: VpsHost, images: tuple[str, ...]) -> float:
    """``docker save IMAGES | ssh HOST docker load``: one archive, so the kit's shared base layer
    travels and unpacks once per host (separate loads took minutes on vfs). Returns the seconds."""
    started = time.monotonic()
    save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
    assert save.stdout is not None
    try:
        load = subprocess.run(host.ssh_argv(["docker", "load"]), stdin=save.stdout, capture_output=True,
                              timeout=900, check=False)
    finally:
        save.stdout.close()
        save.wait(timeout=900)
    assert save.returncode == 0 and load.returncode == 0, load.stderr.decode(errors="replace")
    return time.monotonic() - started


def _make_root(dest: Path) -> Path:
    (dest / "services" / "hello").mkdir(parents=True)
    for name in ("traefik", "socket-proxy", "redis", "warehouse", "postgres", "n8n"):
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
    background = ThreadPoolExecutor(1)
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(_load_images, hosts, [IMAGES[0], IMAGES[1]]))
        # n8n runs on h2 only (pinned to its volume): its image travels while the tests before it run
        n8n_load = background.submit(_load_images, hosts[1], N8N)
        root = _make_root(tmp_path_factory.mktemp("swarm") / "repo")
        a, b = hosts
        (root / "inventories" / ENV / "hosts.yaml").write_text(
            "hosts:\n"
            f"  h1:\n    address: {a.address}\n    user: root\n    ssh_key: {a.key_path}\n"
            "    roles: [manager, edge, apps]\n"
            f"  h2:\n    address: {b.address}\n    user: root\n    ssh_key: {b.key_path}\n"
            "    roles: [worker, stores, apps]\n")
        env = {"ZIXLY_AGE_KEY_FILE": str(age_key_file), "ZIXLY_SSH_KNOWN_HOSTS": str(vps_pool.known_hosts_path)}
        s = SwarmEnv(Zixly(root, env), hosts, n8n_load=n8n_load)
        s.write_env()
        s.zixly.run("secrets", "init", ENV)
        yield s
    finally:
        background.shutdown(wait=True)  # never tear a host down under a running docker load
        vps_pool.destroy(hosts)


def test_plan_shows_setup_and_services_and_changes_nothing(swarm: SwarmEnv) -> None:
    plan = swarm.zixly.json("plan", ENV)
    a, b = (h.address for h in swarm.hosts)
    firewall = {p["host"]: p["rules"] for p in plan["prepare"] if p["step"] == "firewall" and p["rules"]}
    assert firewall == {  # the swarm ports from the other node only; SSH, HTTP, HTTPS from anywhere
        "h1": ["iif \"lo\" accept", "ct state established,related accept", "meta l4proto { icmp, ipv6-icmp } accept",
               'iifname { "docker0", "docker_gwbridge", "br-*" } accept', "tcp dport { 22, 80, 443 } accept",
               f"ip saddr {{ {b} }} tcp dport {{ 2377, 7946 }} accept",
               f"ip saddr {{ {b} }} udp dport {{ 7946, 4789 }} accept"],
        "h2": ["iif \"lo\" accept", "ct state established,related accept", "meta l4proto { icmp, ipv6-icmp } accept",
               'iifname { "docker0", "docker_gwbridge", "br-*" } accept', "tcp dport { 22, 80, 443 } accept",
               f"ip saddr {{ {a} }} tcp dport {{ 2377, 7946 }} accept",
               f"ip saddr {{ {a} }} udp dport {{ 7946, 4789 }} accept"]}, plan["prepare"]
    daemon = [p for p in plan["prepare"] if p["step"] == "daemon_json"]
    assert [p["host"] for p in daemon] == ["h1", "h2"] and all("no-new-privileges" in p["summary"] for p in daemon)
    human = swarm.zixly.run("plan", ENV).stdout
    assert f"rule: ip saddr {{ {b} }} tcp dport {{ 2377, 7946 }} accept" in human, human
    assert [(s["host"], s["kind"]) for s in plan["setup"]] == [("h1", "init"), ("h2", "join"), ("h1", "labels"),
                                                               ("h2", "labels")]
    assert {(s["service"], s["action"]) for s in plan["services"]} == {
        ("socket-proxy", "create"), ("traefik", "create"), ("hello", "create"), ("server", "create")}
    for h in swarm.hosts:  # a plan is read-only
        assert h.docker_info()["Swarm"]["LocalNodeState"] == "inactive"


def test_deploy_sets_up_the_swarm_converges_and_routes_to_replicas(swarm: SwarmEnv) -> None:
    res = swarm.zixly.json("deploy", ENV, "--yes")
    assert res["status"] == "changed" and res["ok"], res
    swarm.first = {"release": res["release"], "services": swarm.services()}
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
    assert "nothing to do" in plan.stdout and "prepare" not in plan.stdout  # the nodes' preparation is in place
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


def test_the_nodes_were_prepared(swarm: SwarmEnv) -> None:
    """daemon.json and the firewall the first deploy wrote (a second plan plans nothing: see
    test_redeploy_changes_nothing). Not exercised: installing the engine (the hosts have one)."""
    for host, peer in zip(swarm.hosts, reversed(swarm.hosts), strict=True):
        daemon = json.loads(host.ssh(["cat", "/etc/docker/daemon.json"], check=True).stdout)
        assert daemon == {"no-new-privileges": True, "log-opts": {"max-file": "5", "max-size": "10m"}}, daemon
        table = host.ssh(["nft", "list", "table", "inet", "zixly"], check=True).stdout
        swarm_rules = {(_proto(line), frozenset(_ports(line))) for line in table.splitlines() if "saddr" in line}
        assert swarm_rules == {("tcp", frozenset({2377, 7946})), ("udp", frozenset({7946, 4789}))}, table
        assert all(peer.address in line for line in table.splitlines() if "saddr" in line), table
        assert "policy drop" in table


def _proto(rule: str) -> str:
    return "tcp" if " tcp dport " in rule else "udp" if " udp dport " in rule else rule


def _ports(rule: str) -> list[int]:
    """Ports of an nft rule as ``nft list`` prints it (``dport 22`` or ``dport { 2377, 7946 }``)."""
    tail = rule.split("dport", 1)[1].split("accept")[0]
    return [int(p) for p in tail.replace("{", " ").replace("}", " ").replace(",", " ").split()]


def test_status_shows_every_service_and_the_tasks_on_both_nodes(swarm: SwarmEnv) -> None:
    status = swarm.zixly.json("status", ENV)
    h1, h2 = (h.name for h in swarm.hosts)
    services = {s["name"]: s for s in status["services"]}
    assert status["ok"] and status["release"] == swarm.hosts[0].ssh(
        ["readlink", f"/opt/zixly/{ENV}/current"], check=True).stdout.strip().rsplit("/", 1)[-1]
    hello = services[f"zixly-{ENV}-hello_hello"]
    assert (hello["running"], hello["desired"]) == (3, 3)
    assert {t["node"] for t in hello["tasks"]} == {h1, h2}, hello["tasks"]
    assert [t["node"] for t in services[f"zixly-{ENV}-redis_server"]["tasks"]] == [h2]
    assert {(n["host"], n["role"]) for n in status["nodes"]} == {("h1", "manager"), ("h2", "worker")}
    assert {s["spec_hash"] for s in status["services"]} == {s["hash"] for s in swarm.services().values()}
    human = swarm.zixly.run("status", ENV).stdout
    assert f"on {h2}: Running" in human and f"on {h1}: Running" in human, human


def test_rollback_returns_to_the_previous_release(swarm: SwarmEnv) -> None:
    assert swarm.first is not None
    res = swarm.zixly.json("rollback", ENV)
    assert res["status"] == "changed" and res["release"] == swarm.first["release"], res
    after = swarm.services()
    assert {k: v["hash"] for k, v in after.items()} == {k: v["hash"] for k, v in swarm.first["services"].items()}
    name = f"zixly-{ENV}-hello_hello"
    assert after[name]["replicas"] == 2 and len(swarm.running(name)) == 2
    assert swarm.hosts[0].ssh(["readlink", f"/opt/zixly/{ENV}/current"], check=True).stdout.strip() == \
        f"releases/{swarm.first['release']}"
    assert wait_for(lambda: swarm.get() == 200, 60)
    plan = swarm.zixly.json("plan", ENV)  # the environment still says 3 replicas: the next deploy goes there
    assert {(s["service"], s["action"]) for s in plan["services"] if s["action"] != "unchanged"} == {
        ("hello", "update")}


ENDPOINT = """
import sys
from pathlib import Path

import httpx

from zixly_stack.hooks.base import ContainerRef
from zixly_stack.hooks.remote import SshDocker, pyinfra_runner
from zixly_stack.hooks.swarm import SwarmDocker
from zixly_stack.hooks.tunnel import pyinfra_forwarder
from zixly_stack.project import load
from zixly_stack.runner.connect import open_session

loaded = load(Path(sys.argv[1]), sys.argv[2])
hosts = loaded.config.hosts.hosts
session = open_session(dict(hosts))
prefix = loaded.stack.prefix
nodes = {n: SshDocker(pyinfra_runner(c), prefix, n, tunnel=pyinfra_forwarder(c).url) for n, c in session.hosts.items()}
transport = SwarmDocker(pyinfra_runner(session.hosts["h1"]), nodes, {hosts[n].address: n for n in nodes}, prefix)
ref = ContainerRef("hello", "hello")
url = transport.endpoint(ref, 8080).base_url
print(transport.node(ref).host, url, httpx.get(url + "/healthz", timeout=20).status_code)
"""


def test_an_api_hook_reaches_a_task_through_the_ssh_connection_of_its_node(swarm: SwarmEnv) -> None:
    """The transport API hooks use (:class:`zixly_stack.hooks.swarm.SwarmDocker`): the manager
    names the node of a hello task, and a local port is tunnelled over that node's SSH connection
    to the task's ``docker_gwbridge`` address."""
    res = subprocess.run([sys.executable, "-c", ENDPOINT, str(swarm.zixly.root), ENV], capture_output=True,
                         text=True, env=swarm.zixly.environ(), timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    host, url, code = res.stdout.split()
    assert host in ("h1", "h2") and url.startswith("http://127.0.0.1:") and code == "200", res.stdout


def test_images_load_and_hooks_seed_the_warehouse(swarm: SwarmEnv) -> None:
    """The warehouse (real PostgreSQL) pinned to h2: ``images load`` brings its image to h2 only,
    the deploy runs ``warehouse-migrate`` through the manager h1 on the node of its task."""
    h1, h2 = swarm.hosts
    swarm.write_env(replicas=3, extra="  warehouse:\n    host: h2\n")
    assert h2.docker("image", "inspect", POSTGRES).returncode != 0
    loaded = swarm.zixly.run("images", "load", ENV)
    assert h2.docker("image", "inspect", POSTGRES).returncode == 0, loaded.stderr
    assert h1.docker("image", "inspect", POSTGRES).returncode != 0, "h1 cannot run the warehouse"
    assert "h1: nothing to load" in loaded.stderr, loaded.stderr
    res = swarm.zixly.json("deploy", ENV, "--yes")
    assert res["status"] == "changed", res
    assert [(h["name"], h["status"]) for h in res["hooks"]] == [("warehouse-migrate", "ok")], res["hooks"]
    db = f"zixly-{ENV}-warehouse_db"
    assert swarm.running(db) == [h2.name]
    cid = h2.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={db}", check=True).stdout.strip()
    roles = h2.docker("exec", "-u", "postgres", cid, "psql", "-d", "warehouse", "-tAc",
                      "select string_agg(rolname, ',' order by rolname) from pg_roles "
                      "where rolname in ('loader', 'reader')", check=True).stdout.strip()
    assert roles == "loader,reader"
    tables = h2.docker("exec", "-u", "postgres", cid, "psql", "-d", "warehouse", "-tAc",
                       "select count(*) from information_schema.tables where table_schema not in "
                       "('pg_catalog', 'information_schema')", check=True).stdout.strip()
    assert int(tables) > 5, tables
    again = swarm.zixly.json("hooks", "run", ENV)
    assert [(h["name"], h["status"]) for h in again["hooks"]] == [("warehouse-migrate", "unchanged")], again


# n8n's own REST API, asked inside the task's container (node 24's fetch): signs in as the owner
# (password on stdin) and prints every workflow as [id, name, active, versionId, updatedAt].
N8N_WORKFLOWS = """
let pw = '';
process.stdin.on('data', d => { pw += d; }).on('end', async () => {
  const base = 'http://127.0.0.1:5678', h = {'content-type': 'application/json', 'browser-id': 'zixly-e2e'};
  const login = await fetch(base + '/rest/login', {method: 'POST', headers: h,
    body: JSON.stringify({emailOrLdapLoginId: process.argv[1], password: pw.trim()})});
  if (login.status !== 200) { console.error('sign-in: HTTP ' + login.status); process.exit(1); }
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const got = await (await fetch(base + '/rest/workflows', {headers: {...h, cookie}})).json();
  console.log(JSON.stringify(got.data.map(w => [w.id, w.name, w.active, w.versionId, w.updatedAt])));
});
"""


def _seed_workflows() -> dict[str, tuple[str, bool]]:
    """The business strategy's seed workflows: id -> (name, declared active state)."""
    out = {}
    for path in sorted((REPO / "services" / "n8n" / "seeds" / "workflows").glob("*.json")):
        doc = json.loads(path.read_text())
        out[doc["id"]] = (doc["name"], bool(doc["active"]))
    return out


def test_n8n_runs_on_its_node_and_the_hooks_seed_its_workflows(swarm: SwarmEnv,
                                                               request: pytest.FixtureRequest) -> None:
    """The real n8n (main + task runner) and its PostgreSQL pinned to h2; the deploy's hooks seed
    the workflows through the manager h1; n8n's API lists them; a second hook run changes nothing."""
    h1, h2 = swarm.hosts
    assert swarm.n8n_load is not None
    figure(request, "n8n_image_load_s", round(swarm.n8n_load.result(timeout=1200)))  # the background load
    swarm.write_env(replicas=3, timeout=480, extra="  warehouse:\n    host: h2\n  postgres:\n    host: h2\n"
                                                   "  n8n:\n    host: h2\n")
    loaded = swarm.zixly.run("images", "load", ENV)  # the placement asks for n8n on h2 only: there already
    assert "h1: nothing to load" in loaded.stderr and "h2: nothing to load" in loaded.stderr, loaded.stderr
    assert all(h1.docker("image", "inspect", ref).returncode != 0 for ref in N8N), "h1 cannot run n8n"
    started = time.monotonic()
    res = swarm.zixly.json("deploy", ENV, "--yes")
    figure(request, "n8n_deploy_and_hooks_s", round(time.monotonic() - started))
    assert res["status"] == "changed", res
    hooks = {h["name"]: h["status"] for h in res["hooks"]}
    # n8n-owner only checks: n8n made the owner from its environment before the first request
    assert hooks == {"warehouse-migrate": "unchanged", "n8n-owner": "unchanged", "n8n-workflows": "ok"}, res["hooks"]
    for service in ("n8n_n8n", "n8n_runner", "postgres_server"):
        assert swarm.running(f"zixly-{ENV}-{service}") == [h2.name], service  # pinned with n8n's volume

    sign_in = swarm.zixly.json("credentials", ENV, "n8n", "--reveal")
    cid = h2.docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name=zixly-{ENV}-n8n_n8n",
                    check=True).stdout.strip()

    def workflows() -> dict[str, list[Any]]:
        got = h2.docker("exec", "-i", cid, "node", "-e", N8N_WORKFLOWS, sign_in["user"], input=sign_in["password"],
                        check=True)
        return {w[0]: w[1:] for w in json.loads(got.stdout)}

    seeded = workflows()
    wanted = _seed_workflows()
    assert {wid: (w[0], w[1]) for wid, w in seeded.items() if wid in wanted} == wanted, seeded
    assert len(wanted) == 3

    again = swarm.zixly.json("hooks", "run", ENV)
    assert {h["name"]: h["status"] for h in again["hooks"]} == {
        "warehouse-migrate": "unchanged", "n8n-owner": "unchanged", "n8n-workflows": "unchanged"}, again["hooks"]
    assert workflows() == seeded  # same versions, same update times: nothing imported or toggled


def test_plan_shows_a_version_move_and_deploy_refuses_what_it_cannot_carry_out(swarm: SwarmEnv) -> None:
    """The current release records n8n 2.41.1; pinning 2.38.7 (the kit's older n8n: offline mode
    refuses a version the kit cannot build) is a downgrade that needs ``n8n db:revert``: the plan
    shows the move, the deploy refuses it at the pin, exit 2, nothing changed."""
    before = swarm.services()
    swarm.write_env(replicas=3, timeout=480, extra="  warehouse:\n    host: h2\n  postgres:\n    host: h2\n"
                                                   "  n8n:\n    host: h2\n    version: 2.38.7\n")
    try:
        plan = swarm.zixly.json("plan", ENV)
        assert [(u["service"], u["direction"], u["from"], u["to"]) for u in plan["upgrades"]] == [
            ("n8n", "downgrade", "2.41.1", "2.38.7")], plan["upgrades"]
        human = swarm.zixly.run("plan", ENV).stdout
        assert "downgrade n8n: 2.41.1 -> 2.38.7 (1 hop)" in human and "zixly deploy refuses this move" in human, human
        res = swarm.zixly.run("deploy", ENV, "--yes", check=2)
        assert "environment.yaml:" in res.stderr and "services.n8n.version: the host runs 2.41.1: downgrade" in \
            res.stderr, res.stderr
        assert swarm.services() == before
    finally:
        swarm.write_env(replicas=3, extra="  warehouse:\n    host: h2\n  postgres:\n    host: h2\n"
                                          "  n8n:\n    host: h2\n")
