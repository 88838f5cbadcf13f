"""A memory budget per host: the sum of the rendered memory limits must fit the machine.

Judged on the rendered output (``mem_limit`` of every compose service, or the swarm
``deploy.resources.limits.memory``) so that every source of a limit -- catalog default,
environment override, dedicated store copies, generated jobs -- counts. What a host may
give its containers is ``hosts.<name>.memory`` minus ``memory_reserved`` (the OS, the
engine and its per-container shims, sshd, the nightly backup), else the environment's
``memory_budget``; a host that declares neither is not checked.

Long-running containers all count; of the one-shot jobs (migrations, provisioning) only
the largest, since a deploy runs them one project at a time next to everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..catalog.stack import Stack
from .findings import Finding, finding

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([bkmg]?)b?\s*$", re.IGNORECASE)
_FACTOR = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
TOP = 5


def size_bytes(value: Any) -> int | None:
    """A Compose/Docker memory size (``512m``, ``1g``, ``1.5gb``, a byte count) in bytes; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    m = _SIZE.match(str(value)) if value is not None else None
    return int(float(m.group(1)) * _FACTOR[m.group(2).lower()]) if m else None


def human(n: int) -> str:
    """Bytes as ``768 MiB`` or ``1.50 GiB``."""
    return f"{n / 1024**3:.2f} GiB" if n >= 1024**3 else f"{n // 1024**2} MiB"


@dataclass(frozen=True)
class Consumer:
    """One rendered container's memory limit on a host."""

    name: str      # <project service>.<compose key>
    memory: int
    job: bool


Budget = tuple[int, str, tuple[str | int, ...] | None, tuple[str | int, ...] | None]


def _budget(stack: Stack, host: str) -> Budget | None:
    """(bytes, how it was derived, hosts.yaml key, environment.yaml key); None when not declared."""
    h = stack.hosts[host]
    if h.memory:
        mem, reserved = size_bytes(h.memory) or 0, size_bytes(h.memory_reserved) or 0
        return (mem - reserved, f"memory {h.memory} minus memory_reserved {h.memory_reserved}",
                ("hosts", host, "memory"), None)
    env = stack.environment
    if env.memory_budget:
        return size_bytes(env.memory_budget) or 0, f"the environment's memory_budget {env.memory_budget}", None, (
            "memory_budget",)
    return None


def check_budget(stack: Stack, host: str, consumers: list[Consumer], rendered: str) -> list[Finding]:
    """A finding when ``host``'s containers may use more than its budget (figures and top consumers)."""
    declared = _budget(stack, host)
    if declared is None:
        return []
    budget, source, hosts_key, env_key = declared
    long = sum(c.memory for c in consumers if not c.job)
    jobs = sorted((c for c in consumers if c.job), key=lambda c: (-c.memory, c.name))
    need = long + (jobs[0].memory if jobs else 0)
    if need <= budget:
        return []
    budget = max(budget, 0)
    top = sorted((c for c in consumers if not c.job), key=lambda c: (-c.memory, c.name))[:TOP]
    job = f" + {human(jobs[0].memory)} for the largest one-shot job, {jobs[0].name}" if jobs else ""
    message = (f"the containers on {host} may use {human(need)} ({human(long)} of memory limits of "
               f"{len(consumers) - len(jobs)} long-running containers{job}), {human(need - budget)} more than "
               f"its budget of {human(budget)} ({source}); largest: "
               + ", ".join(f"{c.name} {human(c.memory)}" for c in top))
    why = ("lower services.<name>.resources.<container>.memory in environment.yaml, place services on "
           "another host, or declare the host's real memory")
    return [finding("memory_budget", None, (), message, why, rendered, exemptable=False, hosts_key=hosts_key,
                    env_key=env_key)]
