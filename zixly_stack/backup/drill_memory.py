"""The restore drill's memory guard: refuse before anything starts when the scratch projects cannot fit.

What the drill host has left now: its capacity -- the ``memory`` hosts.yaml declares, else its
MemTotal -- minus ``memory_reserved`` minus the memory in use there now (MemTotal -
MemAvailable), and never more than its MemAvailable. The scratch projects count at their
memory limits: the data servers at the catalog's limits of the stores, each app container at
its rendered ``mem_limit``.

* The data servers plus the largest app (all its containers) must fit, else the drill is
  refused naming the figures and the largest consumers.
* When every app does not fit at once, the apps are started in groups that do (first fit,
  largest first), each group torn down before the next: every app is still started against
  the restored data, never more at once than the host can hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..render.backup.faults import BackupError
from ..render.budget import human, size_bytes
from .site import Site


@dataclass(frozen=True)
class Capacity:
    """What a host may give containers: its declared ``memory`` (else MemTotal) and ``memory_reserved``."""

    memory: int
    reserved: int
    source: str


def capacity_of(site: Site, memory: str | None, reserved: str) -> Capacity:
    """The host's declared memory (hosts.yaml), else its MemTotal read on the host."""
    if memory:
        return Capacity(size_bytes(memory) or 0, size_bytes(reserved) or 0, f"memory {memory} in hosts.yaml")
    total = site.meminfo().get("MemTotal", 0)
    return Capacity(total, size_bytes(reserved) or 0, f"MemTotal {human(total)} of {site.label}")


@dataclass(frozen=True)
class MemoryPlan:
    """The guard's verdict: a summary line and the groups of app services started together, in order."""

    summary: str
    groups: list[list[str]]


def room(site: Site, cap: Capacity) -> tuple[int, str]:
    """(bytes the host has left now, how that was derived) -- see the module doc."""
    info = site.meminfo()
    available = info.get("MemAvailable", 0)
    used = max(info.get("MemTotal", 0) - available, 0)
    left = max(min(available, cap.memory - cap.reserved - used), 0)
    return left, (f"{site.label} has {human(left)} left ({cap.source} minus memory_reserved {human(cap.reserved)} "
                  f"minus {human(used)} in use, at most its MemAvailable {human(available)})")


def pack(sizes: Mapping[str, int], limit: int) -> list[list[str]]:
    """Services in groups whose sizes each fit *limit* (first fit, largest first); PURE."""
    groups: list[tuple[int, list[str]]] = []
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        for i, (used, members) in enumerate(groups):
            if used + sizes[name] <= limit:
                groups[i] = (used + sizes[name], [*members, name])
                break
        else:
            groups.append((sizes[name], [name]))
    return [sorted(members) for _, members in groups]


def memory_plan(site: Site, cap: Capacity, data: Mapping[str, int], apps: Mapping[str, int]) -> MemoryPlan:
    """Refuse (BackupError, nothing started) or say how the scratch projects fit (module doc).

    *data*: scratch data server -> limit; *apps*: ``service.container`` -> limit.
    """
    left, where = room(site, cap)
    per_app: dict[str, int] = {}
    for name, size in apps.items():
        per_app[name.split(".", 1)[0]] = per_app.get(name.split(".", 1)[0], 0) + size
    need_data = sum(data.values())
    largest = max(per_app.values(), default=0)
    total = need_data + sum(per_app.values())
    if need_data + largest > left:
        consumers = {**data, **apps}
        top = ", ".join(f"{n} {human(b)}" for n, b in sorted(consumers.items(), key=lambda kv: (-kv[1], kv[0]))[:6])
        biggest = max(per_app, key=lambda n: (per_app[n], n)) if per_app else ""
        what = f" and the largest app ({biggest}, {human(largest)})" if per_app else ""
        raise BackupError(f"restore drill refused: the scratch data servers ({human(need_data)} of memory limits)"
                          f"{what} need {human(need_data + largest)}; {where}; largest: {top}. Nothing was started. "
                          "Verify the data only (--no-apps), on a host with more room (--on), or declare the host's "
                          "real memory")
    if total <= left:
        return MemoryPlan(f"the scratch projects need {human(total)} of memory limits; {where}",
                          [sorted(per_app)] if per_app else [])
    groups = pack(per_app, left - need_data)
    return MemoryPlan(f"the scratch projects need {human(total)} of memory limits, more than {where}: the apps start "
                      f"in {len(groups)} groups, each torn down before the next", groups)
