"""The pure half of ``mode: swarm``: facts parsing, setup steps, service changes, convergence."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from zixly_stack.deploy.swarm import converged, parse_replicas, release_tar
from zixly_stack.errors import PlanError
from zixly_stack.models.environment import Host
from zixly_stack.plan.swarm import (
    MARK,
    Node,
    NodeFacts,
    ServiceFacts,
    label_steps,
    membership_steps,
    missing_networks,
    parse_facts,
    service_changes,
)
from zixly_stack.render.tree import RenderedFile

HOSTS = {
    "m1": Host(address="10.0.0.1", roles=["manager", "edge"]),
    "w1": Host(address="10.0.0.2", roles=["worker", "stores"]),
    "w2": Host(address="10.0.0.3", roles=["apps"]),
}


def _out(swarm: dict[str, object], nodes: list[object] | None = None, services: list[object] | None = None) -> str:
    parts = [f"{MARK}swarm", json.dumps(swarm), f"{MARK}client", "28.2.2", f"{MARK}current", "releases/r1"]
    if nodes is not None:
        parts += [f"{MARK}nodes", json.dumps(nodes), f"{MARK}services", json.dumps(services or []),
                  f"{MARK}networks", "ingress\nzixly-sw-proxy"]
    return "\n".join([*parts, f"{MARK}end"]) + "\n"


def test_parse_facts_of_a_manager() -> None:
    node = {"ID": "n1", "Description": {"Hostname": "m1"},
            "Spec": {"Role": "manager", "Labels": {"zixly.edge": "true"}},
            "Status": {"Addr": "10.0.0.1", "State": "ready"}}
    svc = {"Spec": {"Name": "zixly-sw-hello_hello", "Labels": {"com.docker.stack.namespace": "zixly-sw-hello",
                                                                 "org.zixly.spec-hash": "abc"},
                    "Mode": {"Replicated": {"Replicas": 2}}},
           "Version": {"Index": 42}, "UpdatedAt": "2026-11-26T00:00:00Z", "UpdateStatus": {"State": "completed"}}
    facts, cluster = parse_facts(_out({"LocalNodeState": "active", "NodeID": "n1", "ControlAvailable": True,
                                       "Cluster": {"ID": "c1"}}, [node], [svc]), "m1")
    assert facts == NodeFacts("active", "n1", "c1", True, "28.2.2", "releases/r1")
    assert cluster.nodes == [Node("n1", "m1", "manager", "10.0.0.1", {"zixly.edge": "true"}, "ready")]
    assert cluster.services == [ServiceFacts("zixly-sw-hello_hello", "zixly-sw-hello", "abc", 42,
                                             "2026-11-26T00:00:00Z", "completed", 2)]
    assert cluster.networks == {"ingress", "zixly-sw-proxy"}


def test_parse_facts_refuses_cut_output() -> None:
    with pytest.raises(PlanError, match="m1: could not read"):
        parse_facts(f"{MARK}swarm\n", "m1")


def test_setup_from_nothing_then_nothing_to_do() -> None:
    inactive = {h: NodeFacts() for h in HOSTS}
    steps = membership_steps(HOSTS, inactive)
    assert [(s.host, s.kind, s.role) for s in steps] == [("m1", "init", ""), ("w1", "join", "worker"),
                                                         ("w2", "join", "worker")]
    assert steps[0].argv[:3] == ("docker", "swarm", "init") and "10.0.0.1" in steps[0].argv
    done = {"m1": NodeFacts("active", "n1", "c1", True), "w1": NodeFacts("active", "n2", "c1", False),
            "w2": NodeFacts("active", "n3", "c1", False)}
    assert membership_steps(HOSTS, done) == []


def test_setup_promotes_and_refuses_foreign_swarms() -> None:
    hosts = {**HOSTS, "w1": Host(address="10.0.0.2", roles=["manager", "stores"])}
    facts = {"m1": NodeFacts("active", "n1", "c1", True), "w1": NodeFacts("active", "n2", "c1", False),
             "w2": NodeFacts("active", "n3", "c1", False)}
    steps = membership_steps(hosts, facts)
    assert [(s.host, s.kind, s.argv) for s in steps] == [("w1", "role", ("docker", "node", "promote", "n2"))]
    with pytest.raises(PlanError, match="another swarm"):
        membership_steps(HOSTS, {**facts, "w2": NodeFacts("active", "n3", "c9", False)})
    with pytest.raises(PlanError, match="first manager"):
        membership_steps(HOSTS, {**facts, "m1": NodeFacts("active", "n1", "c1", False)})


def test_label_steps_add_change_remove_only_what_differs() -> None:
    facts = {"m1": NodeFacts("active", "n1"), "w1": NodeFacts("active", "n2")}
    nodes = [Node("n1", "m1", "manager", "", {"zixly.edge": "true"}, "ready"),
             Node("n2", "w1", "worker", "", {"zixly.redis": "true", "zixly.old": "true", "other": "x"}, "ready")]
    wanted = {"m1": {"zixly.edge": "true"}, "w1": {"zixly.redis": "true", "zixly.postgres": "true"}}
    steps = label_steps(wanted, facts, nodes)
    assert [(s.host, s.argv) for s in steps] == [
        ("w1", ("docker", "node", "update", "--label-add", "zixly.postgres=true", "--label-rm", "zixly.old", "n2"))]


def test_service_changes() -> None:
    def svc(h: str, replicas: int = 1) -> dict[str, object]:
        return {"deploy": {"mode": "replicated", "replicas": replicas, "labels": {"org.zixly.spec-hash": h}}}

    stacks = {"zixly-sw-hello": {"services": {"hello": svc("new", 3)}},
              "zixly-sw-redis": {"services": {"server": svc("same")}},
              "zixly-sw-traefik": {"services": {"traefik": svc("t")}}}
    deployed = [ServiceFacts("zixly-sw-hello_hello", "zixly-sw-hello", "old", 1, "", "", 2),
                ServiceFacts("zixly-sw-redis_server", "zixly-sw-redis", "same", 1, "", "", 1),
                ServiceFacts("zixly-sw-gone_web", "zixly-sw-gone", "x", 1, "", "", 1)]
    got = {(c.stack, c.service): (c.action, c.detail) for c in service_changes(stacks, deployed)}
    assert got == {("zixly-sw-hello", "hello"): ("update", "spec old -> new (replicas 2 -> 3)"),
                   ("zixly-sw-redis", "server"): ("unchanged", ""),
                   ("zixly-sw-traefik", "traefik"): ("create", "1 replica(s)"),
                   ("zixly-sw-gone", "web"): ("remove", "no longer rendered")}
    meta = {"networks": ["a", "b"], "internal_networks": ["b"]}
    assert missing_networks(meta, {"a"}) == [("b", True)]


def test_replicas_and_convergence() -> None:
    assert parse_replicas("2/3") == (2, 3, None)
    assert parse_replicas("0/1 (1/1 completed)") == (0, 1, 1)
    ok = {"running": 2, "desired": 2, "completed": None, "update_state": "completed"}
    assert converged(ok)
    assert not converged({**ok, "running": 1})
    assert not converged({**ok, "update_state": "updating"})
    assert not converged({**ok, "update_state": "rollback_completed"})
    assert converged({**ok, "update_state": "rollback_completed"}, ("", "completed", "rollback_completed"))
    assert converged({"running": 0, "desired": 1, "completed": 1, "update_state": ""})
    assert not converged(None)


def test_release_tar_keeps_secrets_private() -> None:
    files = (RenderedFile("m1/a/stack.yaml", "x"), RenderedFile("m1/a/secrets/s", "v", 0o444, secret=True),
             RenderedFile("w1/manifest.json", "{}"))
    with tarfile.open(fileobj=io.BytesIO(release_tar(files, "m1")), mode="r:gz") as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes == {"a/stack.yaml": 0o644, "a/secrets/s": 0o600}
