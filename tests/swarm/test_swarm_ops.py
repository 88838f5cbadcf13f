"""The pure half of the swarm everyday commands (``zixly_stack/plan/swarm_ops.py``), swarm host
preparation (``plan/prepare.py`` in swarm mode) and the swarm hook transport's decisions
(``hooks/swarm.py``) without a swarm. The real two-node swarm is in test_swarm_e2e.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zixly_stack.deploy.swarm_prepare import firewall_rules
from zixly_stack.hooks.base import ContainerRef, HookError
from zixly_stack.hooks.remote import SshDocker
from zixly_stack.hooks.swarm import SwarmDocker, gateway_address
from zixly_stack.plan.prepare import PrepareFacts, PrepareSpec, daemon_json, plan_prepare
from zixly_stack.plan.swarm import MARK, ServiceFacts
from zixly_stack.plan.swarm_ops import node_images, parse_status, rollback_stacks, rollback_target

SWARM = json.dumps({"LocalNodeState": "active", "NodeID": "n1", "ControlAvailable": True, "Cluster": {"ID": "c"}})


def _status_text(tasks: list[dict[str, str]]) -> str:
    nodes = [{"ID": "n1", "Description": {"Hostname": "vps-a"}, "Spec": {"Role": "manager"},
              "Status": {"Addr": "10.0.0.1", "State": "ready"}},
             {"ID": "n2", "Description": {"Hostname": "vps-b"}, "Spec": {"Role": "worker"},
              "Status": {"Addr": "10.0.0.2", "State": "ready"}}]
    services = [{"Spec": {"Name": "zixly-sw-hello_hello", "Labels": {"org.zixly.spec-hash": "aaa"},
                          "Mode": {"Replicated": {"Replicas": 2}}}, "Version": {"Index": 9}},
                {"Spec": {"Name": "zixly-sw-traefik_traefik", "Labels": {"org.zixly.spec-hash": "bbb"},
                          "Mode": {"Global": {}}}, "Version": {"Index": 3},
                 "UpdateStatus": {"State": "completed"}}]
    log = [json.dumps({"release": "r1", "status": "deployed"}), "not json", json.dumps({"release": "r2",
                                                                                        "status": "deployed"})]
    return "\n".join([f"{MARK}swarm", SWARM, f"{MARK}client", "20.10.24", f"{MARK}current", "releases/r2",
                      f"{MARK}nodes", json.dumps(nodes), f"{MARK}services", json.dumps(services),
                      f"{MARK}networks", "zixly-sw-proxy", f"{MARK}log", *log, f"{MARK}releases", "r2", "r1",
                      f"{MARK}tasks", *(json.dumps(t) for t in tasks), f"{MARK}end"])


def test_status_groups_tasks_by_service_and_names_the_hosts() -> None:
    tasks = [{"Name": "zixly-sw-hello_hello.1", "Node": "vps-a", "CurrentState": "Running 2 minutes ago"},
             {"Name": "zixly-sw-hello_hello.2", "Node": "vps-b", "CurrentState": "Starting 3 seconds ago"},
             {"Name": "zixly-sw-traefik_traefik.n1", "Node": "vps-a", "CurrentState": "Running 1 hour ago"}]
    st = parse_status(_status_text(tasks), "h1", {"10.0.0.1": "h1", "10.0.0.2": "h2"})
    assert st.release == "r2" and st.releases == ["r1", "r2"] and [e["release"] for e in st.log] == ["r1", "r2"]
    assert [(n["hostname"], n["host"], n["role"]) for n in st.nodes] == [("vps-a", "h1", "manager"),
                                                                         ("vps-b", "h2", "worker")]
    hello, traefik = st.services
    assert (hello.name, hello.running, hello.desired, hello.ok) == ("zixly-sw-hello_hello", 1, 2, False)
    assert [t.node for t in hello.tasks] == ["vps-a", "vps-b"]
    assert (traefik.mode, traefik.running, traefik.desired, traefik.ok) == ("global", 1, 1, True)
    assert not st.ok  # one replica is still starting (not healthy yet)
    tasks[1]["CurrentState"] = "Running 1 second ago"
    assert parse_status(_status_text(tasks), "h1", {}).ok


def test_rollback_target_is_the_newest_other_deployed_release_still_present() -> None:
    log = [{"release": "r1", "status": "deployed"}, {"release": "r2", "status": "deployed"},
           {"release": "r3", "status": "deployed"}]
    assert rollback_target("r3", ["r1", "r2", "r3"], log) == "r2"
    assert rollback_target("r3", ["r1", "r3"], log) == "r1"  # r2 was pruned
    assert rollback_target("r2", ["r1", "r2"], [*log[:2], {"release": "r1", "status": "rolled back to"}]) == "r1"
    assert rollback_target("r2", ["r1", "r2", "r3"], []) == "r1"  # no log: the newest older directory
    assert rollback_target("r1", ["r1"], log) is None
    assert rollback_target("r3", ["r1", "r2", "r3"], [log[0], {"release": "r2", "status": "failed"}]) == "r1"


def _stack(**hashes: str) -> dict[str, Any]:
    return {"services": {k: {"image": "x", "deploy": {"labels": {"org.zixly.spec-hash": v}}}
                         for k, v in hashes.items()}}


def _svc(name: str, spec: str) -> ServiceFacts:
    return ServiceFacts(name, name.split("_")[0], spec, 1, "", "", 1)


def test_rollback_redeploys_only_stacks_whose_hashes_differ() -> None:
    stacks = {"zixly-sw-hello": _stack(hello="old"), "zixly-sw-redis": _stack(server="same"),
              "zixly-sw-traefik": _stack(traefik="t")}
    deployed = [_svc("zixly-sw-hello_hello", "new"), _svc("zixly-sw-redis_server", "same"),
                _svc("zixly-sw-redis_extra", "e"), _svc("zixly-sw-n8n_n8n", "n")]
    plan = rollback_stacks("r1", stacks, deployed)
    assert plan.deploy == ("zixly-sw-hello", "zixly-sw-redis", "zixly-sw-traefik")
    assert plan.remove == ("zixly-sw-n8n",)
    assert dict(plan.changes) == {"zixly-sw-hello_hello": "spec new -> old", "zixly-sw-traefik_traefik": "create",
                                  "zixly-sw-redis_extra": "remove (not in that release)",
                                  "zixly-sw-n8n_n8n": "remove (its stack is not in that release)"}
    same = rollback_stacks("r1", {"zixly-sw-redis": _stack(server="same")}, [_svc("zixly-sw-redis_server", "same")])
    assert same.deploy == () and same.remove == () and same.changes == ()


def test_node_images_follow_placement_constraints() -> None:
    def svc(image: str, *constraints: str) -> dict[str, Any]:
        return {"image": image, "deploy": {"placement": {"constraints": list(constraints)}} if constraints else {}}

    stacks = {"a": {"services": {"app": svc("app:1"), "db": svc("pg:15", "node.labels.zixly.warehouse==true"),
                                 "edge": svc("traefik:3", "node.labels.zixly.edge==true"),
                                 "proxy": svc("proxy:1", "node.role==manager"),
                                 "agent": svc("agent:1", "node.platform.os==linux"),
                                 "notw": svc("w:1", "node.role!=worker")}}}
    labels = {"h1": {"zixly.edge": "true"}, "h2": {"zixly.warehouse": "true"}}
    assert node_images(stacks, labels, ["h1"]) == {
        "h1": ["agent:1", "app:1", "proxy:1", "traefik:3", "w:1"],
        "h2": ["agent:1", "app:1", "pg:15"]}


def _spec(**kw: Any) -> PrepareSpec:
    return PrepareSpec("h1", "sw", frozenset({"docker", "daemon_json", "firewall"}), 22, True, ("10.0.0.2",), **kw)


def test_swarm_daemon_json_sets_no_new_privileges_and_turns_live_restore_off() -> None:
    assert daemon_json({}, True) == {"no-new-privileges": True, "log-opts": {"max-file": "5", "max-size": "10m"}}
    assert daemon_json({"live-restore": True}, True)["live-restore"] is False
    assert "no-new-privileges" not in daemon_json({}, False)


def test_a_swarm_node_plans_its_firewall_with_the_swarm_ports_from_the_peers_and_no_compose() -> None:
    facts = PrepareFacts({"uid": "0", "dpkg": "yes", "docker_cli": "yes", "nft": "yes", "dockerd_pid": "7"})
    changes, warnings = plan_prepare(_spec(), facts)
    assert warnings == ()
    assert [c.step for c in changes] == ["daemon_json", "firewall"]  # no Compose plugin on a swarm node
    assert "live-restore stays off" in changes[0].summary
    rules = firewall_rules(changes[1])
    assert "ip saddr { 10.0.0.2 } tcp dport { 2377, 7946 } accept" in rules
    assert "ip saddr { 10.0.0.2 } udp dport { 7946, 4789 } accept" in rules
    assert "tcp dport { 22, 80, 443 } accept" in rules


def test_gateway_address_matches_full_or_short_container_ids() -> None:
    doc = json.dumps({"abcdef0123456789": {"Name": "gateway_x", "IPv4Address": "172.18.0.4/16"}})
    assert gateway_address(doc, "abcdef012345") == "172.18.0.4"
    assert gateway_address(doc, "ffff") is None and gateway_address("", "abc") is None


def test_the_swarm_transport_acts_on_the_node_running_the_task() -> None:
    calls: list[tuple[str, str]] = []

    def runner(name: str, answers: dict[str, str]) -> Any:
        def run(command: str, stdin: str | None, timeout: float) -> tuple[bool, str, str]:
            calls.append((name, command))
            for key, out in answers.items():
                if key in command:
                    return True, out, ""
            return True, "", ""
        return run

    manager = runner("h1", {"service ps": "running 10.0.0.2\nshutdown 10.0.0.1\n"})
    nodes = {"h1": SshDocker(runner("h1", {}), "zixly-sw", "h1"),
             "h2": SshDocker(runner("h2", {"com.docker.swarm.service.name=zixly-sw-warehouse_db": "c0ffee\n"}),
                             "zixly-sw", "h2")}
    t = SwarmDocker(manager, nodes, {"10.0.0.1": "h1", "10.0.0.2": "h2"}, "zixly-sw")
    ref = ContainerRef("warehouse", "db")
    t.exec(ref, ["psql", "-c", "select 1"])
    assert "zixly-sw-warehouse_db" in calls[0][1]
    assert calls[-1] == ("h2", "docker exec c0ffee psql -c 'select 1'")
    with pytest.raises(HookError, match="no address on h2's docker_gwbridge"):
        t.endpoint(ref, 5432)
    gone = SwarmDocker(runner("h1", {}), nodes, {}, "zixly-sw")
    with pytest.raises(HookError, match="no running task"):
        gone.exec(ref, ["true"])
