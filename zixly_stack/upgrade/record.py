"""What a host's release log keeps of an upgrade, read back for a data rollback. Pure.

Each deploy appends one JSON line to ``<base_dir>/<env>/releases.log``; a deploy that upgraded
a service adds ``upgrades``: per service ``from``, ``to``, ``project``, ``hops`` (each ``[from, to]``),
``hops_healthy`` (how many came up healthy), ``checkpoint`` (``tag``, ``size``, the snapshot of each
item: one for the whole move), ``result`` (``ok`` | ``failed``) and, when it failed, ``failed_hop``
and ``error``. ``zixly status --json`` shows the last entries;
``zixly upgrade ENV --rollback SERVICE`` finds the service's last finished upgrade here
(:func:`last_upgrade`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class UpgradeRecord:
    """A finished upgrade of a service as its host's release log recorded it."""

    service: str
    src: str
    dst: str
    project: str
    tag: str  # the checkpoint's restic tag
    release: str  # the release the upgrade deployed
    previous: str  # the release it ran before: its images come back with a rollback
    at: str = ""


def last_upgrade(log_lines: Sequence[str], service: str) -> UpgradeRecord | None:
    """The newest entry of the log whose upgrade of *service* went through, if that release is still
    the newest one deployed ``ok`` (a later deploy or rollback makes the checkpoint stale: None)."""
    for line in reversed(log_lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        for up in entry.get("upgrades") or ():
            if isinstance(up, dict) and up.get("service") == service and up.get("result") == "ok" \
                    and entry.get("result") == "ok" and entry.get("previous"):
                cp = up.get("checkpoint") or {}
                return UpgradeRecord(service, str(up.get("from")), str(up.get("to")), str(up.get("project")),
                                     str(cp.get("tag") or ""), str(entry.get("release")), str(entry["previous"]),
                                     str(entry.get("at") or ""))
        if entry.get("result") == "ok" and (entry.get("new_files") or entry.get("command") == "rollback"):
            return None  # a later release: the checkpoint no longer belongs to what runs
    return None
