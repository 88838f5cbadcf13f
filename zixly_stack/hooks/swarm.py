"""Hooks of ``mode: swarm`` environments: run through the first manager, on the node each task runs on.

Contract:

* :class:`SwarmDocker` implements :class:`~zixly_stack.hooks.base.Transport`. For a
  :class:`~zixly_stack.hooks.base.ContainerRef` it asks the first manager which node runs
  the service's task (``docker service ps`` -> ``docker inspect --type task`` -> the node's
  address -> the ``hosts.yaml`` host with that address), then acts on that node through its
  own SSH connection (:class:`~zixly_stack.hooks.remote.SshDocker`): ``docker exec`` there,
  payloads and secrets on the channel's stdin.
* HTTP endpoints: a swarm task is not reachable from the host's network on its overlay
  address, but every task attached to a non-internal overlay also has an address on its
  node's ``docker_gwbridge``; :meth:`SwarmDocker.endpoint` tunnels a local port to that
  address and port through the SSH connection of the task's node. A service attached only
  to internal overlays has no such address: :class:`HookError` says so.
* The hook records live on the first manager (``<base_dir>/<env>/state/hooks.json``), next
  to the releases.
"""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..commands.docker import DOCKER
from ..secrets.value import Secret
from .base import ContainerRef, Endpoint, ExecResult, HookError
from .context import Log
from .remote import Runner, SshDocker
from .runner import HookOutcome, HooksReport, plan_hooks, run_hooks

if TYPE_CHECKING:
    from ..project import Loaded

GWBRIDGE = "docker_gwbridge"


def locate_script(service: str) -> str:
    """Shell (argv-quoted parts) printing ``<task state> <node address>`` of each task of *service* that should run."""
    return (f"ids=$({DOCKER} service ps -q --no-trunc --filter desired-state=running {shlex.quote(service)}) && "
            f"[ -n \"$ids\" ] && {DOCKER} inspect --type task --format '{{{{.Status.State}}}} {{{{.NodeID}}}}' $ids"
            f" | while read -r state node; do echo \"$state $({DOCKER} node inspect --format "
            "'{{.Status.Addr}}' \"$node\")\"; done")


def gateway_address(containers_json: str, container_id: str) -> str | None:
    """A container's address on ``docker_gwbridge`` from ``docker network inspect --format '{{json .Containers}}'``."""
    doc: dict[str, dict[str, str]] = json.loads(containers_json or "{}") or {}
    for cid, entry in doc.items():
        if cid.startswith(container_id) or container_id.startswith(cid):
            address = entry.get("IPv4Address", "").split("/")[0]
            return address or None
    return None


@dataclass
class SwarmDocker:
    """:class:`~zixly_stack.hooks.base.Transport` for a swarm (module contract)."""

    manager: Runner
    nodes: Mapping[str, SshDocker]  # hosts.yaml name -> that node's SSH transport
    addresses: Mapping[str, str]  # node address -> hosts.yaml name
    prefix: str
    _where: dict[ContainerRef, str] = field(default_factory=dict)

    def node(self, ref: ContainerRef) -> SshDocker:
        """The transport of the node running *ref*'s task (HookError when none runs)."""
        if ref not in self._where:
            service = f"{self.prefix}-{ref.service}_{ref.container}"
            ok, out, err = self.manager(locate_script(service), None, 60.0)
            running = [line.split()[1] for line in out.splitlines() if line.startswith("running ") and
                       len(line.split()) == 2]
            if not ok or not running:
                raise HookError(f"{ref}: no running task of {service} in the swarm"
                                + (f" ({err.strip()[-200:]})" if err.strip() else ""))
            host = self.addresses.get(running[0])
            if host is None or host not in self.nodes:
                raise HookError(f"{ref}: its task runs on node {running[0]}, which is not a host of hosts.yaml")
            self._where[ref] = host
        return self.nodes[self._where[ref]]

    def standin(self, ref: ContainerRef) -> bool | None:
        """True when *ref* runs the offline kit's labelled stand-in image; None when no task runs."""
        try:
            return self.node(ref).standin(ref)
        except HookError:
            return None

    def exec(self, ref: ContainerRef, argv: Sequence[str], *, user: str | None = None, stdin: bytes | None = None,
             timeout: float = 120.0) -> ExecResult:
        """``docker exec`` on the node running *ref*'s task."""
        return self.node(ref).exec(ref, argv, user=user, stdin=stdin, timeout=timeout)

    def endpoint(self, ref: ContainerRef, port: int) -> Endpoint:
        """A local URL tunnelled to *ref*'s port at its ``docker_gwbridge`` address (module contract)."""
        node = self.node(ref)
        cid = node.container(ref)
        ok, out, _ = node.run(f"{DOCKER} network inspect --format '{{{{json .Containers}}}}' {GWBRIDGE}", None, 60.0)
        address = gateway_address(out, cid) if ok else None
        if address is None or node.tunnel is None:
            raise HookError(f"{ref}: has no address on {node.host}'s {GWBRIDGE} (a service only on internal "
                            "overlays cannot be reached from its node)")
        return Endpoint(node.tunnel(address, port))


def run_swarm(
    loaded: Loaded,
    manager: str,
    connections: Mapping[str, Any],
    *,
    only: Iterable[str] = (),
    secrets: Mapping[str, Secret] | None = None,
    log: Log = lambda _: None,
    on_outcome: Callable[[HookOutcome], None] | None = None,
) -> HooksReport:
    """Run the environment's hooks (or *only* these) in a swarm: *connections* are the nodes'
    connected (pyinfra) hosts by ``hosts.yaml`` name, *manager* the first manager's name."""
    # lazy: keeps the CLI start-up fast
    from .local_run import context_factory, open_secrets, standin_check, state_path
    from .remote import RemoteStateFile, pyinfra_runner
    from .tunnel import pyinfra_forwarder

    planned = plan_hooks(loaded.stack, only)
    if not planned:
        return HooksReport()
    values = dict(secrets) if secrets is not None else open_secrets(loaded)
    runners = {n: pyinfra_runner(c) for n, c in connections.items()}
    env = loaded.config.environment
    store = RemoteStateFile(runners[manager], str(state_path(env.base_dir, loaded.stack.env_name)))
    hosts = loaded.config.hosts.hosts
    with contextlib.ExitStack() as stack:
        nodes = {n: SshDocker(runners[n], prefix=loaded.stack.prefix, host=n,
                              tunnel=stack.enter_context(pyinfra_forwarder(c)).url) for n, c in connections.items()}
        transport = SwarmDocker(runners[manager], nodes, {hosts[n].address: n for n in connections},
                                loaded.stack.prefix)
        return run_hooks(planned, context_factory(loaded, values, transport, log), store, on_outcome=on_outcome,
                         applicable=standin_check(loaded, transport))
