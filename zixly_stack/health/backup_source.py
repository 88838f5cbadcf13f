"""The health report's restic-backed backup-freshness source.

Implements :class:`zixly_stack.health.probes.backup.BackupSource`: the newest snapshot per
service, read from ``restic snapshots --json --tag env:<env>`` run on a host of the
environment that backs up (this machine, or a remote one through the report's connection) (the ``service:`` tags the
backup script writes). Any restic failure becomes :class:`BackupSourceError`, which the
health report shows as "unknown" for every backed-up service (never as fresh).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..backup.local import Env
from ..backup.restore import snapshots
from ..backup.site import Site
from ..backup.snapshots import latest_by_service
from ..render.backup.faults import BackupError
from .probes.backup import BackupSourceError


@dataclass(frozen=True)
class ResticSnapshots:
    """Latest snapshot time per service from the environment's restic repository."""

    env: Env
    site: Site | None = None  # where restic reads the repository (default: this machine)

    def latest(self) -> dict[str, dt.datetime]:
        """See ``BackupSource``."""
        try:
            return latest_by_service(snapshots(self.env, self.site))
        except BackupError as exc:
            raise BackupSourceError(str(exc)) from None
