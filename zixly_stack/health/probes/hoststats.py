"""Disk and memory use of a stack host, read with ``df -P -k PATH...`` and ``/proc/meminfo``.

Both commands run through a :class:`~.hostcmd.HostRunner`, so the same probe works here and
over SSH. Parsing and judging are pure. Memory use is ``1 - MemAvailable / MemTotal``.
"""

from __future__ import annotations

from ..checks import HostCheck
from ..model import Result, Status
from .hostcmd import HostRunner, HostUnreachable


def parse_df(text: str) -> dict[str, float]:
    """Mount point -> percent used, from ``df -P -k`` output (POSIX format)."""
    out: dict[str, float] = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6:
            continue
        size, used = int(parts[1]), int(parts[2])
        out[parts[5]] = 0.0 if size == 0 else 100.0 * used / size
    return out


def parse_meminfo(text: str) -> float:
    """Percent of memory in use (``MemAvailable`` against ``MemTotal``)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if rest.strip():
            values[key] = int(rest.split()[0])
    total = values.get("MemTotal", 0)
    avail = values.get("MemAvailable", values.get("MemFree", 0))
    return 0.0 if total == 0 else 100.0 * (total - avail) / total


def judge(check: HostCheck, disks: dict[str, float], mem_pct: float) -> Result:
    """One result for the host: the worst of each disk and memory (pure)."""
    status = Status.OK
    notes: list[str] = []

    def level(pct: float, warn: float, crit: float) -> Status:
        return Status.CRITICAL if pct >= crit else Status.WARNING if pct >= warn else Status.OK

    over: list[str] = []  # what is above its threshold (notifications tell disk from memory by it)
    for mount, pct in disks.items():
        s = level(pct, check.disk_warn, check.disk_critical)
        status = max(status, s, key=lambda x: x.rank)
        notes.append(f"disk {mount} {pct:.0f}%")
        over += [f"disk {mount}"] if s is not Status.OK else []
    s = level(mem_pct, check.mem_warn, check.mem_critical)
    status = max(status, s, key=lambda x: x.rank)
    notes.append(f"memory {mem_pct:.0f}%")
    over += ["memory"] if s is not Status.OK else []
    details = {"disk_used_pct": {k: round(v, 1) for k, v in disks.items()}, "memory_used_pct": round(mem_pct, 1),
               "over": over}
    return Result(check.check_id, f"host:{check.host}", "host", check.host, status, ", ".join(notes), None, details)


async def probe_host(runner: HostRunner, check: HostCheck) -> Result:
    """Read disk and memory use on the host and judge them."""
    try:
        code, df_out, err = await runner.run(["df", "-P", "-k", *check.paths])
        if code != 0:
            raise HostUnreachable(err.strip() or f"df exited {code}")
        code, mem_out, err = await runner.run(["cat", "/proc/meminfo"])
        if code != 0:
            raise HostUnreachable(err.strip() or f"cat /proc/meminfo exited {code}")
    except HostUnreachable as exc:
        return Result(check.check_id, f"host:{check.host}", "host", check.host, Status.UNKNOWN,
                      f"cannot read host stats: {exc}")
    return judge(check, parse_df(df_out), parse_meminfo(mem_out))
