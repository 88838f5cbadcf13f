"""PLACEHOLDER -- ``backup-schedule``: install the nightly backup schedule on each host.

Owned by the backup engineer (backups issue): this hook will render/enable the timer that
runs the environment's backup (restic + database dumps) at ``backup.schedule`` and check
that the repository is initialised. Until then it fails on purpose, so declaring it in a
service definition before it is implemented shows up as a degraded deploy instead of a
silent no-op.
"""

from __future__ import annotations

from .base import HookError, HookResult
from .context import HookContext


def install_schedule(ctx: HookContext) -> HookResult:
    """Not implemented yet: see the module docstring."""
    raise HookError("backup-schedule is a placeholder: the nightly backup schedule is not installed by hooks yet")
