"""``mode: swarm`` planning. Pure: (rendered stack files, hosts, facts) -> what to change.

Two parts:

* **setup** — the swarm itself: ``docker swarm init`` on the first manager (advertise
  address = its ``hosts.yaml`` address), join the other hosts as managers/workers from
  their roles, promote/demote, node labels (``render.swarm.node_labels``). Each step is
  derived from facts, so a second run on a set-up swarm has no step (idempotent);
* **services** — per stack service: ``create`` (absent), ``update`` (its
  ``org.zixly.spec-hash`` label differs from the rendered one), ``remove`` (deployed for this
  environment, no longer rendered), else unchanged; shared overlay networks to create.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..commands import swarm as cmd
from ..errors import PlanError
from ..models.environment import Host
from ..render.swarm import SPEC_HASH
from .upgrade import manifest_versions

MARK = "@@zixly-swarm "
SECTIONS = ("swarm", "client", "current", "versions", "nodes", "services", "networks")


@dataclass(frozen=True)
class NodeFacts:
    """One host's engine as the swarm sees it."""

    state: str = "inactive"  # inactive | pending | active | error | locked
    node_id: str = ""
    cluster_id: str = ""
    manager: bool = False
    client: str = ""
    current: str = ""
    # service -> version the current release records (its manifest's ``versions``; empty: none recorded)
    versions: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Node:
    """A swarm node (from ``docker node inspect`` on a manager)."""

    id: str
    hostname: str
    role: str
    addr: str
    labels: dict[str, str]
    state: str


@dataclass(frozen=True)
class ServiceFacts:
    """A deployed service (from ``docker service inspect``)."""

    name: str
    stack: str
    spec_hash: str
    version: int
    updated_at: str
    update_state: str
    replicas: int | None


@dataclass
class ClusterFacts:
    """What the first manager knows about the swarm (empty before ``swarm init``)."""

    nodes: list[Node] = field(default_factory=list)
    services: list[ServiceFacts] = field(default_factory=list)
    networks: set[str] = field(default_factory=set)


def facts_script(env: str, current: str) -> str:
    """One round trip: swarm state, client version, current release, and (on a manager) nodes,
    services of *env* and overlay networks, in marked sections."""
    lbl = f"label=org.zixly.env={env}"
    return "\n".join([
        f"echo '{MARK}swarm'; docker info --format '{{{{json .Swarm}}}}'",
        f"echo '{MARK}client'; docker version --format '{{{{.Client.Version}}}}'",
        f"echo '{MARK}current'; readlink '{current}' || true",
        f"echo '{MARK}versions'; cat '{current}/manifest.json' 2>/dev/null || true",
        "if docker node ls -q >/dev/null 2>&1; then",
        f"  echo '{MARK}nodes'; docker node inspect $(docker node ls -q)",
        f"  echo '{MARK}services'; ids=$(docker service ls -q --filter '{lbl}');"
        " if [ -n \"$ids\" ]; then docker service inspect $ids; else echo '[]'; fi",
        f"  echo '{MARK}networks'; docker network ls --filter driver=overlay --format '{{{{.Name}}}}'",
        "fi",
        f"echo '{MARK}end'",
    ])


def _sections(text: str) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARK):
            cur = out.setdefault(line[len(MARK):].strip(), [])
        elif cur is not None:
            cur.append(line)
    return {k: "\n".join(v).strip() for k, v in out.items()}


def _versions(manifest: str) -> dict[str, str]:
    """The ``versions`` a manifest records (none when it is missing, unreadable or older than them)."""
    try:
        doc = json.loads(manifest) if manifest.strip() else None
    except ValueError:
        return {}
    return manifest_versions(doc if isinstance(doc, dict) else None)


def parse_facts(text: str, host: str) -> tuple[NodeFacts, ClusterFacts]:
    """Parse :func:`facts_script` output; raises PlanError when it is incomplete."""
    sec = _sections(text)
    if "end" not in sec or not sec.get("swarm"):
        raise PlanError(f"{host}: could not read the engine's swarm state: {text.strip()[-300:] or 'no output'}")
    sw = json.loads(sec["swarm"])
    node = NodeFacts(
        state=str(sw.get("LocalNodeState") or "inactive"),
        node_id=str(sw.get("NodeID") or ""),
        cluster_id=str((sw.get("Cluster") or {}).get("ID") or ""),
        manager=bool(sw.get("ControlAvailable")),
        client=sec.get("client", ""),
        current=sec.get("current", ""),
        versions=_versions(sec.get("versions", "")),
    )
    cluster = ClusterFacts()
    if "nodes" in sec:
        for n in json.loads(sec["nodes"] or "[]"):
            spec = n.get("Spec") or {}
            cluster.nodes.append(Node(
                id=n["ID"], hostname=(n.get("Description") or {}).get("Hostname", ""),
                role=spec.get("Role", "worker"), addr=(n.get("Status") or {}).get("Addr", ""),
                labels=dict(spec.get("Labels") or {}), state=(n.get("Status") or {}).get("State", "")))
    if "services" in sec:
        for s in json.loads(sec["services"] or "[]"):
            spec = s.get("Spec") or {}
            labels = spec.get("Labels") or {}
            mode = spec.get("Mode") or {}
            cluster.services.append(ServiceFacts(
                name=spec.get("Name", ""), stack=labels.get("com.docker.stack.namespace", ""),
                spec_hash=labels.get(SPEC_HASH, ""), version=int((s.get("Version") or {}).get("Index", 0)),
                updated_at=str(s.get("UpdatedAt", "")),
                update_state=str((s.get("UpdateStatus") or {}).get("State", "")),
                replicas=(mode.get("Replicated") or {}).get("Replicas")))
    cluster.networks = set(sec.get("networks", "").split())
    return node, cluster


# --- setup ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupStep:
    """One setup action: ``kind`` init|join|role|labels on ``host``; ``argv`` empty for join
    (the executor fetches the token on the manager and builds it then)."""

    host: str
    kind: str
    why: str
    argv: tuple[str, ...] = ()
    role: str = ""


def managers(hosts: dict[str, Host]) -> list[str]:
    """Hosts with the ``manager`` role (the first host when none has it)."""
    named = [n for n, h in hosts.items() if "manager" in h.roles]
    return named or [next(iter(hosts))]


def advertise_address(name: str, host: Host) -> str:
    """The address a node advertises to the swarm (its ``hosts.yaml`` address)."""
    if host.address == "@local":
        return "127.0.0.1"
    return host.address


def membership_steps(hosts: dict[str, Host], facts: dict[str, NodeFacts]) -> list[SetupStep]:
    """init / join / promote-demote steps so every host is in one swarm with its role."""
    mgrs = managers(hosts)
    first = mgrs[0]
    steps: list[SetupStep] = []
    lead = facts[first]
    if lead.state == "inactive":
        steps.append(SetupStep(first, "init", "first manager: docker swarm init",
                               tuple(cmd.swarm_init(advertise_address(first, hosts[first])))))
    elif lead.state != "active" or not lead.manager:
        raise PlanError(f"{first}: is the first manager but its engine is swarm {lead.state!r}"
                        + ("" if lead.manager else " as a worker") + "; fix it by hand (docker swarm leave)")
    for name in hosts:
        if name == first:
            continue
        f = facts[name]
        role = "manager" if name in mgrs else "worker"
        if f.state == "inactive":
            steps.append(SetupStep(name, "join", f"join the swarm as a {role}", role=role))
        elif f.state != "active":
            raise PlanError(f"{name}: engine is swarm {f.state!r}; fix it by hand (docker swarm leave --force)")
        elif lead.cluster_id and f.cluster_id and f.cluster_id != lead.cluster_id:
            raise PlanError(f"{name}: belongs to another swarm ({f.cluster_id[:12]}); leave it first")
        elif f.manager != (role == "manager"):
            steps.append(SetupStep(name, "role", f"{'promote to' if role == 'manager' else 'demote to'} {role}",
                                   tuple(cmd.node_role(f.node_id, role)), role=role))
    return steps


def label_steps(wanted: dict[str, dict[str, str]], facts: dict[str, NodeFacts], nodes: list[Node]) -> list[SetupStep]:
    """``docker node update`` for nodes whose ``zixly.*`` (and hosts.yaml) labels differ."""
    by_id = {n.id: n for n in nodes}
    steps: list[SetupStep] = []
    for host, labels in wanted.items():
        nid = facts[host].node_id if host in facts else ""
        node = by_id.get(nid)
        have = node.labels if node else {}
        add = {k: v for k, v in labels.items() if have.get(k) != v}
        remove = [k for k in have if k.startswith("zixly.") and k not in labels]
        if not (add or remove):
            continue
        why = ", ".join([*(f"+{k}={v}" for k, v in sorted(add.items())), *(f"-{k}" for k in sorted(remove))])
        steps.append(SetupStep(host, "labels", f"node labels {why}", tuple(cmd.node_labels(nid or "<after join>",
                                                                                             add, remove))))
    return steps


# --- services -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceChange:
    """A stack service to create/update/remove (``unchanged`` ones are listed too)."""

    stack: str
    service: str
    action: str  # create | update | remove | unchanged
    detail: str = ""

    @property
    def full(self) -> str:
        """Swarm's service name ``<stack>_<service>``."""
        return f"{self.stack}_{self.service}"


def service_changes(stacks: dict[str, dict[str, Any]], deployed: list[ServiceFacts]) -> list[ServiceChange]:
    """Compare rendered stacks (``project -> stack doc``) with the deployed services of the env."""
    have = {s.name: s for s in deployed}
    out: list[ServiceChange] = []
    for project, doc in stacks.items():
        for key, svc in doc["services"].items():
            full = f"{project}_{key}"
            want = svc["deploy"]["labels"][SPEC_HASH]
            d = svc["deploy"]
            got = have.get(full)
            if got is None:
                out.append(ServiceChange(project, key, "create", _replicas_text(d)))
            elif got.spec_hash != want:
                extra = ""
                if d.get("mode") == "replicated" and got.replicas != d.get("replicas"):
                    extra = f" (replicas {got.replicas} -> {d.get('replicas')})"
                out.append(ServiceChange(project, key, "update", f"spec {got.spec_hash or '?'} -> {want}{extra}"))
            else:
                out.append(ServiceChange(project, key, "unchanged"))
    wanted = {f"{p}_{k}" for p, doc in stacks.items() for k in doc["services"]}
    for s in deployed:
        if s.name not in wanted:
            stack = s.stack or s.name.split("_", 1)[0]
            out.append(ServiceChange(stack, s.name[len(stack) + 1:], "remove", "no longer rendered"))
    return out


def _replicas_text(d: dict[str, Any]) -> str:
    if d.get("mode") == "replicated":
        return f"{d.get('replicas')} replica(s)"
    return str(d.get("mode"))


def missing_networks(meta: dict[str, Any], have: set[str]) -> list[tuple[str, bool]]:
    """Shared overlays from the manifest that do not exist yet: ``(name, internal)``."""
    internal = set(meta.get("internal_networks", []))
    return [(n, n in internal) for n in meta.get("networks", []) if n not in have]


__all__ = ["SECTIONS", "ClusterFacts", "Node", "NodeFacts", "ServiceChange", "ServiceFacts", "SetupStep",
           "advertise_address", "facts_script", "label_steps", "managers", "membership_steps", "missing_networks",
           "parse_facts", "service_changes"]
