"""Client demos in the health report: the ``demo:<client>`` checks each demo host's agent wrote.

The on-host agent (:mod:`zixly_stack.health.agent`) judges every demo of its host from the
registry there (a warning within a day of its expiry, and it sends ``demo.expiring`` once);
the report shows those verdicts as they are in each host's ``last.json``, after its own
delivery (the agent, not the report, notifies about demos). A host whose agent state cannot
be read adds nothing.
"""

from __future__ import annotations

import asyncio
import json

from ..model import Result, Status
from .hostcmd import HostRunner, HostUnreachable, read_file

APP = "demos"


def from_agent(text: str, host: str) -> list[Result]:
    """The ``demo:`` checks of an agent's ``last.json``."""
    try:
        checks = json.loads(text).get("checks") or []
    except (ValueError, AttributeError):
        return []
    out = []
    for c in checks if isinstance(checks, list) else []:
        if not isinstance(c, dict) or not str(c.get("id", "")).startswith("demo:"):
            continue
        try:
            status = Status(c.get("status"))
        except ValueError:
            status = Status.UNKNOWN
        client = str(c["id"]).split(":", 1)[1]
        out.append(Result(str(c["id"]), APP, "demo", f"{host}/{client}", status, f"{c.get('summary', '')} (on {host})"))
    return out


async def read_demos(files: list[tuple[str, HostRunner, str]]) -> list[Result]:
    """``demo:`` results from every host's agent state, by id (unreadable ones skipped)."""

    async def one(host: str, runner: HostRunner, path: str) -> list[Result]:
        try:
            text = await read_file(runner, path, 20.0)
        except (HostUnreachable, OSError):
            return []
        return from_agent(text, host) if text else []

    found = [r for part in await asyncio.gather(*(one(*f) for f in files)) for r in part]
    return sorted(found, key=lambda r: r.check_id)
