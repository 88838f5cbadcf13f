"""The local transport: hooks reach containers through the Docker engine on this machine.

Contract:

* A service's container is found by the labels Compose (or ``docker stack``) puts on it:
  project ``zixly-<env>-<service>`` and service = the container key; ``names`` overrides
  that with explicit container names (tests, ad-hoc containers).
* The ``docker exec`` argv is :func:`zixly_stack.commands.docker.exec_argv` (``-i`` only
  when there is stdin, ``-u`` for a user); secrets go on stdin, never into that argv.
  Commands run through this machine's :class:`~zixly_stack.runner.LocalRunner`.
* Endpoints are the container's address on the environment's ``proxy`` network (what
  Traefik itself uses), or -- for tests with stand-ins -- an explicit ``endpoints`` map.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..commands.docker import exec_argv, find_argv, find_swarm_argv
from ..commands.docker import inspect_format as _inspect
from .base import ContainerRef, Endpoint, ExecResult, HookError

STANDIN_FORMAT = '{{index .Config.Labels "org.zixly.standin"}}'
NETWORKS_FORMAT = "{{json .NetworkSettings.Networks}}"


def container_address(networks_json: str) -> str | None:
    """A container's address from ``docker inspect {{json .NetworkSettings.Networks}}``: the proxy network's first."""
    networks: dict[str, dict[str, str]] = json.loads(networks_json or "{}") or {}
    ranked = sorted(networks.items(), key=lambda kv: (not kv[0].endswith("-proxy"), kv[0]))
    return next((net["IPAddress"] for _, net in ranked if net.get("IPAddress")), None)


@dataclass
class LocalDocker:
    """:class:`~zixly_stack.hooks.base.Transport` over this machine's engine."""

    prefix: str
    names: Mapping[tuple[str, str], str] = field(default_factory=dict)
    endpoints: Mapping[tuple[str, str, int], Endpoint] = field(default_factory=dict)
    docker: Sequence[str] | None = None
    env: Mapping[str, str] | None = None

    def _docker(self) -> list[str]:
        if self.docker is not None:
            return list(self.docker)
        # lazy: keeps the CLI start-up fast
        from ..engine import docker_argv

        return docker_argv()

    def _env(self) -> dict[str, str]:
        if self.env is not None:
            return dict(self.env)
        # lazy: keeps the CLI start-up fast
        from ..engine import docker_env

        return docker_env()

    def _run(self, argv: list[str], *, stdin: bytes | None = None, timeout: float = 60.0) -> ExecResult:
        # lazy: keeps the CLI start-up fast
        from ..runner import LocalRunner

        res = LocalRunner(self._env()).run(argv, stdin=stdin, timeout=timeout)
        return ExecResult(res.code, res.out, res.err)

    def container(self, ref: ContainerRef) -> str:
        """The running container's name or id for *ref* (HookError when none runs)."""
        named = self.names.get((ref.service, ref.container))
        if named:
            return named
        project = f"{self.prefix}-{ref.service}"
        for argv in (find_argv(self._docker(), project, ref.container),
                     find_swarm_argv(self._docker(), project, ref.container)):
            found = self._run(argv).stdout.split()
            if found:
                return found[0]
        raise HookError(f"{ref}: no running container (project {project}); is the stack up?")

    def standin(self, ref: ContainerRef) -> bool | None:
        """True when *ref* runs the offline kit's labelled stand-in image; None when no container runs."""
        try:
            cid = self.container(ref)
        except HookError:
            return None
        res = self._run([*self._docker(), *_inspect(STANDIN_FORMAT, cid)[1:]])
        return res.ok and res.stdout.strip().startswith("true")  # image: "true"; compose: "true: stand-in for ..."

    def exec(self, ref: ContainerRef, argv: Sequence[str], *, user: str | None = None, stdin: bytes | None = None,
             timeout: float = 120.0) -> ExecResult:
        """``docker exec`` (see :func:`exec_argv`)."""
        full = exec_argv(self._docker(), self.container(ref), argv, user=user, interactive=stdin is not None)
        return self._run(full, stdin=stdin, timeout=timeout)

    def endpoint(self, ref: ContainerRef, port: int) -> Endpoint:
        """Explicit endpoint, else ``http://<address on the proxy network>:port``."""
        explicit = self.endpoints.get((ref.service, ref.container, port))
        if explicit:
            return explicit
        cid = self.container(ref)
        res = self._run([*self._docker(), *_inspect(NETWORKS_FORMAT, cid)[1:]])
        if not res.ok:
            raise HookError(f"{ref}: cannot inspect its networks")
        address = container_address(res.stdout)
        if address is None:
            raise HookError(f"{ref}: has no address this machine can reach")
        return Endpoint(f"http://{address}:{port}")
