"""Connections to an environment's hosts through pyinfra's API, and running commands on them.

Contract
--------
* :func:`open_session` builds one pyinfra ``State`` for the chosen hosts (``@local`` for
  an ``address: "@local"`` host, SSH otherwise), connects to all of them in parallel and
  sets ``TCP_NODELAY`` on every SSH transport (paramiko leaves Nagle on: a 25-operation
  no-op went from 3.7 s to 1.0 s here). Hosts that cannot be reached are reported in
  ``Session.errors``; the others are usable.
* SSH settings come from ``hosts.yaml`` (address, user, port, ssh_key); the environment
  variables ``ZIXLY_SSH_KNOWN_HOSTS`` (a known_hosts file) and ``ZIXLY_SSH_STRICT``
  (``yes``/``accept-new``/``no``) override host-key handling, e.g. for test hosts.
  Non-root users run everything through sudo.
* :func:`run` executes one shell command (built by the caller from argv lists) and
  returns its status and output; it never raises for a non-zero exit. It goes through the
  host's :class:`~zixly_stack.runner.Runner` (:func:`runner_for`): a channel of the session's
  SSH transport, or this machine for ``@local``.
* pyinfra's own logging is silenced: every line shown to users goes through zixly's
  reporter, which redacts secret values.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..models.environment import Host as HostModel
from . import LocalRunner, SshRunner, pyinfra_transport
from .base import Runner
from .green import ensure_patched

T = TypeVar("T")
CONNECT_TIMEOUT = 15


@dataclass(frozen=True)
class CommandResult:
    """What a command printed and whether it exited 0."""

    ok: bool
    stdout: str
    stderr: str


@dataclass
class Session:
    """A connected pyinfra state: our host names -> pyinfra hosts."""

    state: Any
    hosts: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        """Disconnect every host (errors ignored)."""
        for host in self.hosts.values():
            with contextlib.suppress(Exception):
                host.disconnect()


def is_local(host: HostModel) -> bool:
    """True for the ``@local`` address."""
    return host.address == "@local"


def pyinfra_host(name: str, host: HostModel) -> tuple[str, dict[str, Any]]:
    """*host* as a pyinfra inventory entry: ``(pyinfra host name, host data)`` -- the connection
    settings of ``hosts.yaml`` (see module doc) and ``zixly_host``, our name of the host. Used for
    zixly's own sessions and for the inventory of pyinfra's CLI (``deploy/inventory.py``); it holds
    no secret (a key file's path, never a key)."""
    return ("@local" if is_local(host) else name), _host_data(name, host)


def _host_data(name: str, host: HostModel) -> dict[str, Any]:
    data: dict[str, Any] = {"zixly_host": name}
    if is_local(host):
        return data
    data.update(
        ssh_hostname=host.address,
        ssh_user=host.user,
        ssh_port=host.port,
        ssh_allow_agent=True,
    )
    if host.ssh_key:
        data["ssh_key"] = os.path.expanduser(host.ssh_key)
        data["ssh_allow_agent"] = False
        data["ssh_look_for_keys"] = False
    known = os.environ.get("ZIXLY_SSH_KNOWN_HOSTS")
    if known:
        data["ssh_known_hosts_file"] = known
    strict = os.environ.get("ZIXLY_SSH_STRICT")
    if strict:
        data["ssh_strict_host_key_checking"] = strict
    if host.user != "root":
        data["_sudo"] = True
    return data


def _quiet_pyinfra() -> None:
    for name in ("pyinfra", "paramiko"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 10)
        logging.getLogger(name).propagate = False


def _nodelay(host: Any) -> None:
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def open_session(hosts: dict[str, HostModel], *, patch: bool = True) -> Session:
    """Connect to *hosts* (name -> model) in parallel; see module doc.

    ``patch=False`` skips gevent's monkey-patching (an asyncio caller: the health report);
    connections are then made one after the other and only runners use them (no pyinfra
    operations).
    """
    if patch and not all(is_local(h) for h in hosts.values()):
        ensure_patched()
    _quiet_pyinfra()
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.api.config import Config
    from pyinfra.api.inventory import Inventory
    from pyinfra.api.state import State

    names = [pyinfra_host(n, h) for n, h in hosts.items()]
    inventory = Inventory((names, {}))  # type: ignore[no-untyped-call]
    config = Config(CONNECT_TIMEOUT=CONNECT_TIMEOUT, FAIL_PERCENT=None)  # type: ignore[no-untyped-call]
    state = State(inventory, config)
    session = Session(state)
    by_name = {h.data.get("zixly_host"): h for h in inventory}

    def connect(name: str) -> str | None:
        host = by_name[name]
        try:
            host.connect(show_errors=False, raise_exceptions=True)
        except Exception as exc:
            return _connect_error(exc)
        return None if host.connected else "not connected"

    for name, err in zip(hosts, parallel(connect, list(hosts)), strict=True):
        host = by_name[name]
        if err is None:
            _nodelay(host)
            state.activate_host(host)
            session.hosts[name] = host
        else:
            session.errors[name] = err
    return session


def _connect_error(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text or type(exc).__name__


def parallel(fn: Callable[[str], T], items: Sequence[str]) -> list[T]:
    """``[fn(x) for x in items]`` run concurrently in greenlets (results in order)."""
    if len(items) <= 1:
        return [fn(x) for x in items]
    # lazy: gevent only where hosts run in greenlets (runner/green.py patches the process first)
    import gevent  # type: ignore[import-untyped]

    jobs = [gevent.spawn(fn, x) for x in items]
    gevent.joinall(jobs)
    return [j.get() for j in jobs]


def run(host: Any, command: str, *, timeout: float | None = None, stdin: str | None = None) -> CommandResult:
    """Run *command* (an ``sh`` command line built from quoted argv lists) on *host* through its runner."""
    res = runner_for(host).run(["sh", "-c", command], stdin=None if stdin is None else stdin.encode(),
                               timeout=timeout or 3600.0)
    return CommandResult(res.ok, res.out, res.err)


def runner_for(host: Any, name: str = "") -> Runner:
    """The :class:`~zixly_stack.runner.Runner` of a connected pyinfra host: a channel of its SSH
    transport per command (``sudo -n`` for non-root logins), this machine for ``@local``."""
    if getattr(host.connector, "client", None) is None:
        return LocalRunner()
    return SshRunner(name or str(host.data.get("zixly_host") or host.name), pyinfra_transport(host),
                     sudo=bool(host.data.get("_sudo")))


def joined(argvs: Iterable[Sequence[str]], sep: str = " && ") -> str:
    """Quoted argv lists joined into one command line."""
    return sep.join(shlex.join(list(a)) for a in argvs)
