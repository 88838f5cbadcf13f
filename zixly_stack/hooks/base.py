"""Types every hook shares: results, errors, and the transport a hook reaches apps through.

A hook is a function ``hook(ctx: HookContext) -> HookResult`` (see :mod:`.context`). It
must be idempotent by construction: check, then act only on a difference, and report
``changed=False`` when it found everything in place. It raises :class:`HookError` (a
message safe to print: no secret values) when it cannot finish.

:class:`Transport` is the seam between hooks and machines: running an argv inside a
container and telling where an app's HTTP port is reachable. :mod:`.local` implements it
with the Docker engine on this machine; a remote implementation (SSH + ``docker exec``)
plugs into the same two methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import ZixlyError


class HookError(ZixlyError):
    """A hook could not finish. The message is shown to users: it never holds secret values."""


@dataclass(frozen=True)
class HookResult:
    """What a hook did: ``changed`` if it wrote anything; ``applied`` = item -> content hash."""

    changed: bool
    summary: str
    applied: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def done(cls, changes: Sequence[str], applied: Mapping[str, str], nothing: str = "already in place") -> HookResult:
        """``changed`` when *changes* lists anything; the summary names the changes."""
        if changes:
            return cls(True, "; ".join(changes), dict(applied))
        return cls(False, nothing, dict(applied))


@dataclass(frozen=True)
class ContainerRef:
    """A container of a catalog service: ``(service, container key)``, e.g. ``("n8n", "n8n")``."""

    service: str
    container: str

    def __str__(self) -> str:
        return f"{self.service}/{self.container}"


@dataclass(frozen=True)
class ExecResult:
    """Exit status and output of a command run in a container."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True for exit status 0."""
        return self.returncode == 0


@dataclass(frozen=True)
class Endpoint:
    """How to reach an app's HTTP port from here: a base URL, optionally a Host header (Traefik)."""

    base_url: str
    host_header: str | None = None
    verify_tls: bool = True


class Transport(Protocol):
    """Runs argv lists in containers and locates HTTP endpoints (local Docker, SSH, ...)."""

    def exec(
        self,
        ref: ContainerRef,
        argv: Sequence[str],
        *,
        user: str | None = None,
        stdin: bytes | None = None,
        timeout: float = 120.0,
    ) -> ExecResult:
        """Run *argv* (no shell) in *ref*'s running container; never raises for a non-zero exit."""
        ...

    def endpoint(self, ref: ContainerRef, port: int) -> Endpoint:
        """Where *ref*'s container port *port* answers HTTP from this process."""
        ...


def environ_lines(pairs: Mapping[str, str]) -> str:
    """``KEY=value`` lines (for stdin payloads; never argv)."""
    return "".join(f"{k}={v}\n" for k, v in pairs.items())
