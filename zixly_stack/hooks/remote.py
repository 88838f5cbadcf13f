"""The SSH transport: hooks of remote hosts run through the deploy's own connection.

Contract:

* :class:`SshDocker` implements :class:`~zixly_stack.hooks.base.Transport` with a
  *runner* -- ``(command line, stdin text or None, timeout) -> (ok, stdout, stderr)`` --
  which the deploy builds from its connected pyinfra host
  (:func:`zixly_stack.runner.connect.run`). Every command line is an argv list quoted with
  :func:`shlex.join` (the same pure ``docker exec``/``docker ps`` builders as the local
  transport); payloads and secrets travel on the SSH channel's stdin, never in an argv.
* Containers are found by their Compose labels on the remote engine, as locally.
* HTTP endpoints of remote containers are reached through the same SSH connection: with a
  *tunnel* (``(address, port) -> local base URL``, :class:`~zixly_stack.hooks.tunnel.Forwarder`)
  :meth:`SshDocker.endpoint` returns a ``127.0.0.1`` URL forwarded to the container's address
  on its Docker network as the remote host sees it; without one it raises :class:`HookError`,
  so the hook ends ``degraded`` with that reason instead of hanging.
* :class:`RemoteStateFile` keeps the hook records on the remote host, in
  ``<base_dir>/<env>/state/hooks.json`` (0600, written atomically), as the local run does.
* A non-zero exit of a remote command is reported as exit status 1 (the connection layer
  says only whether a command succeeded).
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..commands.docker import DOCKER, exec_argv, find_argv, find_swarm_argv
from ..commands.docker import inspect_format as _inspect
from ..runner.connect import run
from .base import ContainerRef, Endpoint, ExecResult, HookError
from .local import NETWORKS_FORMAT, STANDIN_FORMAT, container_address
from .state import HookRecord, dumps, loads

Runner = Callable[[str, str | None, float], tuple[bool, str, str]]


@dataclass
class SshDocker:
    """:class:`~zixly_stack.hooks.base.Transport` over SSH (module contract)."""

    run: Runner
    prefix: str
    host: str = "remote"
    docker: Sequence[str] = (DOCKER,)
    tunnel: Callable[[str, int], str] | None = None
    _found: dict[ContainerRef, str] = field(default_factory=dict)

    def _exec(self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 60.0) -> ExecResult:
        text = stdin.decode("utf-8") if stdin is not None else None
        ok, out, err = self.run(shlex.join(argv), text, timeout)
        return ExecResult(0 if ok else 1, out, err)

    def container(self, ref: ContainerRef) -> str:
        """The id of *ref*'s running container on the remote engine (HookError when none runs)."""
        if ref in self._found:
            return self._found[ref]
        project = f"{self.prefix}-{ref.service}"
        for argv in (find_argv(self.docker, project, ref.container),
                     find_swarm_argv(self.docker, project, ref.container)):
            found = self._exec(argv).stdout.split()
            if found:
                self._found[ref] = found[0]
                return found[0]
        raise HookError(f"{ref}: no running container on {self.host} (project {project})")

    def standin(self, ref: ContainerRef) -> bool | None:
        """True when *ref* runs the offline kit's labelled stand-in image; None when no container runs."""
        try:
            cid = self.container(ref)
        except HookError:
            return None
        res = self._exec([*self.docker, *_inspect(STANDIN_FORMAT, cid)[1:]])
        return res.ok and res.stdout.strip().startswith("true")  # image: "true"; compose: "true: stand-in for ..."

    def exec(self, ref: ContainerRef, argv: Sequence[str], *, user: str | None = None, stdin: bytes | None = None,
             timeout: float = 120.0) -> ExecResult:
        """``docker exec`` on the remote host; *stdin* goes over the SSH channel."""
        full = exec_argv(self.docker, self.container(ref), argv, user=user, interactive=stdin is not None)
        return self._exec(full, stdin=stdin, timeout=timeout)

    def endpoint(self, ref: ContainerRef, port: int) -> Endpoint:
        """A local URL tunnelled to *ref*'s *port* on the remote host (module contract)."""
        if self.tunnel is None:
            raise HookError(f"{ref}: its HTTP port {port} on {self.host} is not reachable from here "
                            "(no SSH tunnel given); run this hook on the host")
        res = self._exec([*self.docker, *_inspect(NETWORKS_FORMAT, self.container(ref))[1:]])
        address = container_address(res.stdout) if res.ok else None
        if address is None:
            raise HookError(f"{ref}: has no address on {self.host}'s Docker networks")
        return Endpoint(self.tunnel(address, port))


@dataclass
class RemoteStateFile:
    """Hook records in a JSON file on the remote host (module contract)."""

    run: Runner
    path: str

    def load(self) -> dict[str, HookRecord]:
        """Records, or ``{}`` when the file does not exist."""
        q = shlex.quote(self.path)
        ok, out, err = self.run(f"if [ -f {q} ]; then cat {q}; fi", None, 60.0)
        if not ok:
            raise HookError(f"cannot read the hook state {self.path}: {err.strip()[-300:]}")
        return loads(out, self.path) if out.strip() else {}

    def save(self, records: Mapping[str, HookRecord]) -> None:
        """Write atomically (0600 in a 0700 directory)."""
        directory = posixpath.dirname(self.path)
        tmp = posixpath.join(directory, ".hooks.json.tmp")
        cmd = (f"umask 077 && mkdir -p {shlex.quote(directory)} && cat > {shlex.quote(tmp)} && "
               f"mv -f {shlex.quote(tmp)} {shlex.quote(self.path)}")
        ok, _, err = self.run(cmd, dumps(records), 60.0)
        if not ok:
            raise HookError(f"cannot write the hook state {self.path}: {err.strip()[-300:]}")


def pyinfra_runner(host: object) -> Runner:
    """A :data:`Runner` over a connected pyinfra host (the deploy's connection)."""
    def runner(command: str, stdin: str | None, timeout: float) -> tuple[bool, str, str]:
        res = run(host, command, timeout=timeout, stdin=stdin)
        return res.ok, res.stdout, res.stderr

    return runner
