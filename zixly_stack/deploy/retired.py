"""``zixly upgrade ENV --prune``: remove the volumes a data-store major move retired, and only those.

A volume is removed when ALL of these hold on its host (read through the host's runner):

* a volume of the environment labelled by zixly's move (``org.zixly.data-move=<env>``) names it
  as the volume it took over (``org.zixly.retires``): zixly retired it, nobody else;
* it belongs to the same Compose project as that volume (its ``com.docker.compose.project``
  label): a name alone is never enough;
* no container mounts it, in any state, and a container mounts the volume that took over (the
  move finished and the new release runs on it).

Anything else is listed as kept, with the reason. Nothing here touches a volume in use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ..commands import datastore as ds
from ..commands import docker as dk
from ..runner.base import Runner

PROJECT = "com.docker.compose.project"


@dataclass(frozen=True)
class Pruned:
    """One retired volume: removed (with its size) or kept (with the reason)."""

    host: str
    volume: str
    successor: str
    removed: bool
    bytes: int = 0
    why: str = ""


def _labels(runner: Runner, volume: str) -> dict[str, str] | None:
    res = runner.run(ds.volume_labels(volume), read=True)
    if not res.ok:
        return None
    found = json.loads(res.out or "null")
    return {str(k): str(v) for k, v in (found or {}).items()}


def _users(runner: Runner, volume: str) -> list[str]:
    return runner.run(ds.volume_users(volume), read=True).out.split()


def _size(runner: Runner, volume: str) -> int:
    where = runner.run(dk.volume_mountpoint(volume), read=True).out.strip()
    res = runner.run(ds.volume_size(where), read=True) if where else None
    return int(res.out.split()[0]) if res is not None and res.ok and res.out.split() else 0


def why_kept(old: dict[str, str] | None, new: dict[str, str], old_users: list[str], new_users: list[str]) -> str:
    """Why a retired volume must stay ("" when it may go). Pure."""
    if old is None:
        return "gone already"
    if not new.get(PROJECT) or old.get(PROJECT) != new.get(PROJECT):
        return f"its Compose project {old.get(PROJECT)!r} is not {new.get(PROJECT)!r}'s: not the volume zixly retired"
    if old_users:
        return f"mounted by {', '.join(old_users)}"
    if not new_users:
        return "the volume that took over is not in use yet (the move's deploy did not finish)"
    return ""


def prune_host(host: str, runner: Runner, env: str, say: Callable[[str], None] = lambda text: None) -> list[Pruned]:
    """Remove the volumes of *env* on *host* that a finished move retired (module doc)."""
    out: list[Pruned] = []
    rows = runner.run(ds.volumes_retired(env), read=True)
    if not rows.ok:
        raise RuntimeError(f"{host}: list volumes: {rows.tail()}")
    for line in sorted(rows.out.splitlines()):
        new, _, old = line.partition("\t")
        if not old:
            continue
        new_labels = _labels(runner, new) or {}
        old_labels = _labels(runner, old)
        if old_labels is None:
            continue  # pruned before
        why = why_kept(old_labels, new_labels, _users(runner, old), _users(runner, new))
        if why:
            out.append(Pruned(host, old, new, False, why=why))
            continue
        size = _size(runner, old)
        res = runner.run(dk.volume_remove(old))
        if not res.ok:
            out.append(Pruned(host, old, new, False, why=f"docker volume rm: {res.tail()}"))
            continue
        say(f"{host}: removed {old} ({size >> 20} MiB), retired by {new}")
        out.append(Pruned(host, old, new, True, size))
    return out
