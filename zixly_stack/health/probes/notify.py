"""Notifications that did not go out, as checks: one ``notify:<channel>`` result per channel.

Sources: the control machine's outbox (:mod:`zixly_stack.notify.outbox`: deploys, restores,
drills, ``zixly health --notify``, demos) and, per host, what the on-host agent reported as
pending in its ``last.json`` (its own messages and the backup script's). A channel with
something pending is a warning naming how many, since when and the last error; otherwise ok.
A host whose agent state cannot be read adds nothing (the agent may be switched off there).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from ...notify.outbox import Entry
from ..model import Result, Status
from .hostcmd import HostRunner, HostUnreachable, read_file

APP = "notifications"


@dataclass(frozen=True)
class Pending:
    """What one source holds for one channel."""

    where: str
    count: int
    since: str
    error: str


def from_outbox(entries: list[Entry], where: str = "this machine") -> dict[str, list[Pending]]:
    """Channel -> pending, from outbox entries."""
    out: dict[str, list[Pending]] = {}
    for e in entries:
        out.setdefault(e.channel, [])
    for channel in out:
        mine = [e for e in entries if e.channel == channel]
        out[channel] = [Pending(where, len(mine), min(e.created for e in mine), mine[-1].error)]
    return out


def from_agent(text: str, host: str) -> dict[str, list[Pending]]:
    """Channel -> pending, from an agent's ``last.json`` (its ``notify.pending`` section)."""
    try:
        pending = (json.loads(text).get("notify") or {}).get("pending") or {}
    except (ValueError, AttributeError):
        return {}
    out: dict[str, list[Pending]] = {}
    for channel, p in pending.items() if isinstance(pending, dict) else []:
        if isinstance(p, dict) and int(p.get("count") or 0) > 0:
            out[str(channel)] = [Pending(f"host {host}", int(p["count"]), str(p.get("since", "")),
                                         str(p.get("error", "")))]
    return out


async def read_agents(files: list[tuple[str, HostRunner, str]]) -> dict[str, list[Pending]]:
    """Channel -> pending from every host's agent state (unreadable ones skipped)."""

    async def one(host: str, runner: HostRunner, path: str) -> dict[str, list[Pending]]:
        try:
            text = await read_file(runner, path, 20.0)
        except (HostUnreachable, OSError):
            return {}
        return from_agent(text, host) if text else {}

    merged: dict[str, list[Pending]] = {}
    for part in await asyncio.gather(*(one(*f) for f in files)):
        for channel, items in part.items():
            merged.setdefault(channel, []).extend(items)
    return merged


def judge(channels: list[str], pending: dict[str, list[Pending]]) -> list[Result]:
    """One result per configured channel (pending for channels no longer configured is shown too)."""
    out = []
    for channel in [*channels, *sorted(set(pending) - set(channels))]:
        items = pending.get(channel, [])
        ident = f"notify:{channel}"
        if not items:
            out.append(Result(ident, APP, "notify", channel, Status.OK, "nothing pending"))
            continue
        count = sum(p.count for p in items)
        since = min(p.since for p in items)
        where = ", ".join(p.where for p in items)
        error = items[-1].error
        gone = "" if channel in channels else " (channel no longer configured)"
        out.append(Result(ident, APP, "notify", channel, Status.WARNING,
                          f"{count} notification(s) not delivered since {since} ({where}): {error}{gone}", None,
                          {"pending": count, "since": since, "last_error": error}))
    return out
