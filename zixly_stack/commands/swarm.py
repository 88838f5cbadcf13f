"""Docker Swarm command lines (pure argv builders; ``docker`` of the host they run on)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DOCKER = "docker"


def info_swarm() -> list[str]:
    """This engine's swarm membership as JSON (``LocalNodeState``, ``NodeID``, ``Cluster``...)."""
    return [DOCKER, "info", "--format", "{{json .Swarm}}"]


def client_version() -> list[str]:
    """The docker CLI's version (``stack deploy --detach`` exists from 26 on)."""
    return [DOCKER, "version", "--format", "{{.Client.Version}}"]


def swarm_init(advertise: str) -> list[str]:
    """Make this engine the first manager of a new swarm."""
    return [DOCKER, "swarm", "init", "--advertise-addr", advertise, "--listen-addr", f"{advertise}:2377",
            "--task-history-limit", "2"]  # old tasks keep their containers (and disk); 5 by default


def join_token(role: str) -> list[str]:
    """The join token for *role* (``worker``/``manager``): a credential, never printed."""
    return [DOCKER, "swarm", "join-token", "-q", role]


def swarm_join(token: str, manager: str, advertise: str) -> list[str]:
    """Join the swarm of *manager* (``addr``) with *token*."""
    return [DOCKER, "swarm", "join", "--token", token, "--advertise-addr", advertise,
            "--listen-addr", f"{advertise}:2377", f"{manager}:2377"]


def node_role(node_id: str, role: str) -> list[str]:
    """Promote or demote a node to *role*."""
    return [DOCKER, "node", "promote" if role == "manager" else "demote", node_id]


def node_labels(node_id: str, add: Mapping[str, str], remove: Sequence[str]) -> list[str]:
    """Add/change and remove node labels in one update."""
    argv = [DOCKER, "node", "update"]
    for k, v in sorted(add.items()):
        argv += ["--label-add", f"{k}={v}"]
    for k in sorted(remove):
        argv += ["--label-rm", k]
    return [*argv, node_id]


def network_create(name: str, env: str, *, internal: bool) -> list[str]:
    """An attachable overlay network shared by stacks (``--internal``: no route out)."""
    argv = [DOCKER, "network", "create", "--driver", "overlay", "--attachable", "--label", f"org.zixly.env={env}"]
    if internal:
        argv.append("--internal")
    return [*argv, name]


def stack_deploy(stack_file: str, name: str, *, detach_flag: bool) -> list[str]:
    """Deploy/update one stack; images are never resolved against a registry; stale services pruned."""
    argv = [DOCKER, "stack", "deploy", "--compose-file", stack_file, "--prune", "--resolve-image", "never"]
    if detach_flag:
        argv.append("--detach=true")
    return [*argv, name]


def stack_rm(name: str) -> list[str]:
    """Remove one stack."""
    return [DOCKER, "stack", "rm", name]


def service_ids(env: str) -> list[str]:
    """Ids of every service of environment *env*."""
    return [DOCKER, "service", "ls", "-q", "--filter", f"label=org.zixly.env={env}"]


def service_ls(env: str) -> list[str]:
    """Services of *env* with their replica counts, one JSON object a line."""
    return [DOCKER, "service", "ls", "--filter", f"label=org.zixly.env={env}", "--format", "{{json .}}"]


def service_rollback(name: str) -> list[str]:
    """Revert a service to its previous spec (what Swarm's failure_action: rollback does)."""
    return [DOCKER, "service", "rollback", "--detach", name]


def service_rm(name: str) -> list[str]:
    """Remove a service."""
    return [DOCKER, "service", "rm", name]


def service_tasks(name: str) -> list[str]:
    """A service's tasks, newest first, with their errors."""
    return [DOCKER, "service", "ps", "--no-trunc", "--format",
            "{{.Name}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}", name]


def service_logs(name: str, lines: int = 20) -> list[str]:
    """A service's last log lines (every task)."""
    return [DOCKER, "service", "logs", "--no-trunc", "--tail", str(lines), name]


def service_scale(name: str, replicas: int) -> list[str]:
    """Set a service's replicas (used by tests; deploy scales through the stack file)."""
    return [DOCKER, "service", "scale", "--detach", f"{name}={replicas}"]


def service_update_states(names: Sequence[str]) -> list[str]:
    """``name<TAB>update state`` of each service (empty state when it never updated)."""
    template = "{{.Spec.Name}}\t{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}"
    return [DOCKER, "service", "inspect", "--format", template, *names]
