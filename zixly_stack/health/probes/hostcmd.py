"""Running read-only commands on a stack host from the health report's asyncio loop.

Contract: :meth:`HostRunner.run` takes an argv list (never a shell string), returns
``(exit code, stdout, stderr)`` and raises :class:`HostUnreachable` only when the host (or
the command's program) cannot be reached at all. Implementations must be safe to call
concurrently from asyncio.

:class:`RunnerHost` adapts the one :class:`~zixly_stack.runner.Runner` of every other command
(this machine, or a remote host over the deploy's SSH connection) to that contract: the
runner's blocking call runs in a worker thread. :func:`runner_for` gives this machine's;
remote hosts get theirs from the connections the report opens
(:func:`zixly_stack.health.service.report_for`), and a host without one is unreachable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from ...models.environment import Host
from ...runner import LocalRunner as _Local
from ...runner import Runner

UNREACHABLE = (124, 127, 255)  # timed out, no such program, connection lost


class HostUnreachable(Exception):
    """The host, or the program asked for, could not be reached."""


class HostRunner(Protocol):
    """Runs argv on one host."""

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        """Run ``argv``; return (returncode, stdout, stderr)."""
        ...


@dataclass(frozen=True)
class RunnerHost:
    """A :class:`~zixly_stack.runner.Runner` as a :class:`HostRunner` (module contract)."""

    runner: Runner

    @property
    def name(self) -> str:
        """The host's name for messages."""
        return self.runner.host

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        """Run ``argv`` in a worker thread; unreachable hosts and missing programs raise :class:`HostUnreachable`."""
        res = await asyncio.to_thread(self.runner.run, argv, timeout=timeout, read=True)
        if res.code in UNREACHABLE:
            raise HostUnreachable(res.err.strip() or f"{argv[0]} on {self.runner.host} exited {res.code}")
        return res.code, res.out, res.err


def LocalRunner() -> RunnerHost:
    """This machine."""
    return RunnerHost(_Local())


@dataclass(frozen=True)
class Unconnected:
    """A remote host the report has no connection to."""

    host: Host
    why: str = "no connection to this host"

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        """Always unreachable."""
        raise HostUnreachable(f"{self.host.address}: {self.why}")


def runner_for(host: Host) -> HostRunner:
    """This machine for ``@local``; other hosts need a connection (see the module contract)."""
    return LocalRunner() if host.address == "@local" else Unconnected(host)


async def read_file(runner: HostRunner, path: str, timeout: float = 30.0) -> str | None:
    """The text of *path* on the runner's host; None when there is no such file.

    Raises :class:`HostUnreachable` when the host cannot be reached and :class:`OSError` when
    the file exists but cannot be read.
    """
    code, out, err = await runner.run(["cat", "--", path], timeout)
    if code == 0:
        return out
    if "No such file" in err:
        return None
    raise OSError(f"{path}: {err.strip()[-200:] or f'cat exited {code}'}")
