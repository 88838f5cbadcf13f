"""The backup status file: ONE contract for whoever backs up and whoever judges freshness.

Written by the rendered backup script (:mod:`.script`) at the end of every run -- the nightly
timer and ``zixly backup`` run that same script -- and read by ``zixly health`` (on every host
of the environment, here or over SSH) and by the on-host health agent (:mod:`zixly_stack.health.agent`,
which parses the same format with the standard library).

Where: ``<base_dir>/<env>/backup/status.json`` on each host that runs backups (the script's
state directory, ``ZIXLY_BACKUP_STATE`` overrides it). Format (``version`` 1)::

    {"version": 1, "environment": "production", "host": "vps1",
     "last_run": {"run": "20261126T031500Z", "finished": "2026-11-26T03:19:02Z", "exit_code": 0},
     "services": {"n8n": {"last_success": "2026-11-26T03:16:40Z", "run": "20261126T031500Z"}}}

``services`` holds every service whose items were ALL saved at least once, with the time of
its latest such run (a run restricted to some services leaves the others' entries alone; a
failed service keeps its previous ``last_success``). ``last_run`` is the latest run, failed or not.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath

STATUS_FILE = "status.json"
VERSION = 1


def state_dir(base_dir: str, env: str) -> str:
    """The backup script's state directory on a host (logs, manifests, the status file)."""
    return posixpath.join(base_dir, env, "backup")


def status_path(base_dir: str, env: str) -> str:
    """Where the status file is on every host that runs backups."""
    return posixpath.join(state_dir(base_dir, env), STATUS_FILE)


def parse_time(stamp: str) -> dt.datetime:
    """An ISO-8601 UTC time (``Z`` accepted) as an aware datetime; ValueError otherwise."""
    when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def parse_status(text: str) -> dict[str, dt.datetime]:
    """Service name -> its latest successful backup, from a status file's text.

    Raises ValueError for text that is not such a document (the caller names the file).
    """
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    services = data.get("services") or {}
    if not isinstance(services, dict):
        raise ValueError("'services' is not an object")
    out: dict[str, dt.datetime] = {}
    for name, entry in services.items():
        stamp = entry.get("last_success") if isinstance(entry, dict) else None
        if stamp:
            out[str(name)] = parse_time(str(stamp))
    return out
