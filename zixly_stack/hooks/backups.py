"""``backup-schedule``: install the environment's nightly backup on this machine.

Contract: the release on the host (``<base_dir>/<env>/current/backup/``, rendered by
:mod:`zixly_stack.backup.script`) holds ``backup.sh``, a systemd service+timer, a cron line
and the 0600 repository password. On a host whose PID 1 is systemd the hook copies the two
units to ``/etc/systemd/system`` and enables the timer; elsewhere it installs the cron line
in ``/etc/cron.d`` (``ZIXLY_CRON_DIR`` overrides the directory, for tests). Then it makes
sure the restic repository exists (``restic init`` when it does not). Idempotent: unchanged
files are not rewritten and nothing is reloaded. It runs where the hook runner runs -- this
machine (the local Docker transport); remote hosts are refused with a clear message.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import ApplyError
from ..timers import install_timer
from .base import HookError, HookResult
from .context import HookContext


def _ensure_repository(ctx: HookContext, release: Path) -> str | None:
    from ..backup.faults import RepoMissingError, classify
    from ..backup.repo import repository

    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update(RESTIC_REPOSITORY=repository(ctx.env, ctx.stack.environment),
               RESTIC_PASSWORD_FILE=str(release / "secrets" / "restic_password"))
    res = subprocess.run(["restic", "cat", "config"], env=env, capture_output=True, text=True, timeout=120)
    if res.returncode == 0:
        return None
    cls, message = classify(res.stderr)
    if cls is not RepoMissingError:
        raise HookError(ctx.redact(f"backup repository: {message or res.stderr.strip()[-300:]}"))
    init = subprocess.run(["restic", "init"], env=env, capture_output=True, text=True, timeout=300)
    if init.returncode != 0:
        raise HookError(ctx.redact(f"restic init: {init.stderr.strip()[-300:]}"))
    return "initialised the restic repository"


def install_schedule(ctx: HookContext) -> HookResult:
    """See the module docstring."""
    from ..backup.script import unit_name
    from .local import LocalDocker

    env = ctx.stack.environment
    if not env.backup.enabled:
        return HookResult(False, "backups are disabled (backup.enabled: false)")
    if not isinstance(ctx.transport, LocalDocker):
        raise HookError("backup-schedule installs the timer on this machine only; on remote hosts install "
                        "backup/*.timer from the release by hand (not automated yet)")
    release = Path(env.base_dir) / ctx.env / "current" / "backup"
    if not (release / "backup.sh").is_file():
        raise HookError(f"{release}/backup.sh is missing: deploy the environment first")
    name = unit_name(ctx.env)
    try:
        texts = [(release / f"{name}.{suffix}").read_text() for suffix in ("service", "timer", "cron")]
        changes = install_timer(name, *texts)
    except ApplyError as exc:
        raise HookError(str(exc)) from None
    initialised = _ensure_repository(ctx, release)
    if initialised:
        changes.append(initialised)
    nothing = f"nightly backup at {env.backup.schedule} in place"
    return HookResult.done(changes, {"schedule": env.backup.schedule}, nothing)
