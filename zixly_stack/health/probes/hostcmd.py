"""Running read-only commands on a stack host: this machine, or (later) a remote one over SSH.

Contract: :meth:`HostRunner.run` takes an argv list (never a shell string), returns
``(exit code, stdout, stderr)`` and raises :class:`HostUnreachable` only when the host (or
the command's program) cannot be reached at all. Implementations must be safe to call
concurrently from asyncio.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass
from typing import Protocol

from ...models.environment import Host


class HostUnreachable(Exception):
    """The host, or the program asked for, could not be reached."""


class HostRunner(Protocol):
    """Runs argv on one host."""

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        """Run ``argv``; return (returncode, stdout, stderr)."""
        ...


@dataclass(frozen=True)
class LocalRunner:
    """This machine."""

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        """Run ``argv`` as a subprocess (no shell)."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            raise HostUnreachable(f"{argv[0]}: {exc.strerror or exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise HostUnreachable(f"{argv[0]} did not answer within {timeout:g}s") from None
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


@dataclass(frozen=True)
class SshRunner:
    """A remote host through the ``ssh`` client (BatchMode; keys from the inventory).

    Tested against the VPS-like test hosts (own sshd and dockerd). Deploy's connection layer
    may replace it once it exposes a read-only command API.
    """

    host: Host
    options: tuple[str, ...] = ()  # extra ssh options, e.g. ("-o", "UserKnownHostsFile=...")

    def argv(self, argv: list[str]) -> list[str]:
        """The local ssh argv that runs ``argv`` remotely (quoted for the remote shell)."""
        cmd = ["ssh", *self.options, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", str(self.host.port)]
        if self.host.ssh_key:
            cmd += ["-i", self.host.ssh_key]
        return [*cmd, f"{self.host.user}@{self.host.address}", "--", shlex.join(argv)]

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        """Run ``argv`` on the remote host; exit 255 (ssh's own failure) means unreachable."""
        code, out, err = await LocalRunner().run(self.argv(argv), timeout)
        if code == 255:
            raise HostUnreachable(err.strip() or f"ssh {self.host.address} failed")
        return code, out, err


def runner_for(host: Host) -> HostRunner:
    """The runner for an inventory host: ``@local`` runs here, anything else over SSH."""
    return LocalRunner() if host.address == "@local" else SshRunner(host)


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
