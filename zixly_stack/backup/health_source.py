"""The health report's restic-backed backup-freshness source.

Implements :class:`zixly_stack.health.probes.backup.BackupSource`: the newest snapshot per
service, read from ``restic snapshots --json --tag env:<env>`` (the ``service:`` tags the
backup script writes). Any restic failure becomes :class:`BackupSourceError`, which the
health report shows as "unknown" for every backed-up service (never as fresh).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ..health.probes.backup import BackupSourceError
from .faults import BackupError
from .local import Env
from .restore import snapshots
from .snapshots import latest_by_service


@dataclass(frozen=True)
class ResticSnapshots:
    """Latest snapshot time per service from the environment's restic repository."""

    env: Env

    def latest(self) -> dict[str, dt.datetime]:
        """See ``BackupSource``."""
        try:
            return latest_by_service(snapshots(self.env))
        except BackupError as exc:
            raise BackupSourceError(str(exc)) from None
