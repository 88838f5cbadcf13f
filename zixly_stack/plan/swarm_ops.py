"""``mode: swarm`` everyday commands, the pure half: status facts, rollback and image placement.

* :func:`status_script` / :func:`parse_status` -- one read-only round trip to the first
  manager: the current release and the release log's last lines, the nodes, every service
  of the environment (mode, replicas running/desired, spec hash, update state) and each
  service's tasks that should run (node, state, error).
* :func:`rollback_target` -- the release to go back to: the newest release the log records
  as deployed (or rolled back to) that is not the current one and is still on the manager,
  else the newest older release directory.
* :func:`rollback_stacks` -- compares the target release's stack files with the deployed
  services by ``org.zixly.spec-hash``: the stacks to deploy again from that release (a
  service differs, is missing or is no longer in it) and the stacks it does not have.
* :func:`node_images` -- which images each node may run: a service's placement constraints
  (``node.labels.zixly.<x>==true``, ``node.role==manager``) evaluated against the nodes'
  labels and roles; a service without constraints may run anywhere, so every node gets it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..render.swarm import SPEC_HASH
from .swarm import MARK, ServiceFacts, _sections, parse_facts

TASK_FORMAT = "{{json .}}"


def status_script(env: str, root: str, current: str, facts: str) -> str:
    """The swarm facts (:func:`zixly_stack.plan.swarm.facts_script`) plus the release log's last
    lines and the tasks of every service of *env* that should be running."""
    lbl = f"label=org.zixly.env={env}"
    return "\n".join([
        facts.replace(f"echo '{MARK}end'", ""),
        f"echo '{MARK}log'; tail -n 5 '{root}/releases.log' 2>/dev/null || true",
        f"echo '{MARK}releases'; ls -1 '{root}/releases' 2>/dev/null || true",
        "if docker node ls -q >/dev/null 2>&1; then",
        f"  echo '{MARK}tasks'; ids=$(docker service ls -q --filter '{lbl}');"
        f" if [ -n \"$ids\" ]; then for s in $ids; do docker service ps --no-trunc --filter desired-state=running"
        f" --format '{TASK_FORMAT}' \"$s\"; done; fi",
        "fi",
        f"echo '{MARK}end'",
    ])


@dataclass(frozen=True)
class Task:
    """A task that should run: ``name`` is ``<service>.<slot>`` (or ``.<node id>`` for global services)."""

    name: str
    node: str
    state: str
    error: str
    image: str

    @property
    def running(self) -> bool:
        """Swarm calls a task with a healthcheck ``Running`` only once it is healthy."""
        return self.state.startswith("Running")


@dataclass
class ServiceStatus:
    """One service of the environment and its tasks."""

    name: str
    mode: str
    running: int
    desired: int
    spec_hash: str
    update_state: str
    tasks: list[Task] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every replica (global: every eligible node) runs and no update failed."""
        return self.running == self.desired and self.update_state in ("", "completed", "rollback_completed")


@dataclass
class SwarmStatus:
    """What the first manager reports about the environment."""

    release: str = ""
    releases: list[str] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, str]] = field(default_factory=list)
    services: list[ServiceStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the swarm has services and every one of them is ok."""
        return bool(self.services) and all(s.ok for s in self.services)


def parse_status(text: str, host: str, addresses: Mapping[str, str]) -> SwarmStatus:
    """Parse :func:`status_script` output; *addresses* maps a node's address to its ``hosts.yaml`` name."""
    node, cluster = parse_facts(text, host)
    sec = _sections(text)
    out = SwarmStatus(release=node.current.rsplit("/", 1)[-1] if node.current else "",
                      releases=sorted(sec.get("releases", "").split()))
    for line in sec.get("log", "").splitlines():
        try:
            out.log.append(json.loads(line))
        except ValueError:
            continue
    for n in cluster.nodes:
        out.nodes.append({"hostname": n.hostname, "host": addresses.get(n.addr, ""), "role": n.role,
                          "state": n.state, "addr": n.addr})
    tasks: dict[str, list[Task]] = {}
    for line in sec.get("tasks", "").splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        name = str(doc.get("Name", ""))
        tasks.setdefault(name.rsplit(".", 1)[0], []).append(Task(
            name, str(doc.get("Node", "")), str(doc.get("CurrentState", "")), str(doc.get("Error", "")),
            str(doc.get("Image", ""))))
    for s in cluster.services:
        mine = sorted(tasks.get(s.name, []), key=lambda t: t.name)
        running = sum(t.running for t in mine)
        desired = s.replicas if s.replicas is not None else len(mine)
        out.services.append(ServiceStatus(s.name, "replicated" if s.replicas is not None else "global", running,
                                          desired, s.spec_hash, s.update_state, mine))
    out.services.sort(key=lambda s: s.name)
    return out


def rollback_target(current: str, releases: Sequence[str], log: Sequence[dict[str, Any]]) -> str | None:
    """The release to roll back to (module doc), or None when there is none."""
    present = set(releases)
    for entry in reversed(log):
        rid = str(entry.get("release") or "")
        if entry.get("status") in ("deployed", "rolled back to") and rid and rid != current and rid in present:
            return rid
    older = sorted(r for r in releases if not current or r < current)
    return older[-1] if older else None


@dataclass(frozen=True)
class RollbackPlan:
    """Stacks to deploy again from the target release, stacks to remove, and what differs."""

    release: str
    deploy: tuple[str, ...]
    remove: tuple[str, ...]
    changes: tuple[tuple[str, str], ...]  # (service, what differs)
    hashes: Mapping[str, str]  # service -> the spec hash it has in the target release


def release_hashes(stacks: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    """``<stack>_<service> -> spec hash`` of rendered stack files (``project -> stack doc``)."""
    return {f"{p}_{k}": str(((s.get("deploy") or {}).get("labels") or {}).get(SPEC_HASH, ""))
            for p, doc in stacks.items() for k, s in (doc.get("services") or {}).items()}


def rollback_stacks(release: str, stacks: Mapping[str, dict[str, Any]],
                    deployed: Sequence[ServiceFacts]) -> RollbackPlan:
    """What going back to *release* (its stacks, ``project -> stack doc``) changes (module doc)."""
    want = release_hashes(stacks)
    have = {s.name: s for s in deployed}
    changes: list[tuple[str, str]] = []
    deploy: list[str] = []
    for project, doc in stacks.items():
        differs = False
        for key in doc.get("services") or {}:
            name = f"{project}_{key}"
            got = have.get(name)
            if got is None:
                changes.append((name, "create"))
                differs = True
            elif got.spec_hash != want[name]:
                changes.append((name, f"spec {got.spec_hash or '?'} -> {want[name]}"))
                differs = True
        extra = [s.name for s in deployed if (s.stack or s.name.split("_", 1)[0]) == project and s.name not in want]
        changes += [(n, "remove (not in that release)") for n in extra]
        if differs or extra:
            deploy.append(project)
    remove = sorted({s.stack or s.name.split("_", 1)[0] for s in deployed} - set(stacks))
    changes += [(s.name, "remove (its stack is not in that release)") for s in deployed
                if (s.stack or s.name.split("_", 1)[0]) in remove]
    return RollbackPlan(release, tuple(deploy), tuple(remove), tuple(changes), want)


def _eligible(constraints: Sequence[str], labels: Mapping[str, str], manager: bool) -> bool:
    for c in constraints:
        key, op, value = _split(c)
        if key == "node.role":
            have = "manager" if manager else "worker"
        elif key.startswith("node.labels."):
            have = labels.get(key.removeprefix("node.labels."), "")
        else:
            continue  # node.platform.os==linux and the like: every node of ours
        if (have == value) != (op == "=="):
            return False
    return True


def _split(constraint: str) -> tuple[str, str, str]:
    op = "!=" if "!=" in constraint else "=="
    key, _, value = constraint.partition(op)
    return key.strip(), op, value.strip()


def node_images(stacks: Mapping[str, dict[str, Any]], labels: Mapping[str, Mapping[str, str]],
                managers: Sequence[str]) -> dict[str, list[str]]:
    """``host -> images`` its node may run (module doc); *labels* are each host's node labels."""
    out: dict[str, set[str]] = {h: set() for h in labels}
    for doc in stacks.values():
        for s in (doc.get("services") or {}).values():
            image = s.get("image")
            if not image:
                continue
            constraints = ((s.get("deploy") or {}).get("placement") or {}).get("constraints") or []
            for host, have in labels.items():
                if _eligible(constraints, have, host in managers):
                    out[host].add(str(image))
    return {h: sorted(refs) for h, refs in out.items()}


__all__ = ["RollbackPlan", "ServiceStatus", "SwarmStatus", "Task", "node_images", "parse_status",
           "release_hashes", "rollback_stacks", "rollback_target", "status_script"]
