"""PURE: the rendered nightly backup -- a self-contained bash script, systemd units, a cron line.

The script needs bash, docker and restic on the host, no Python. It is the ONE backup
implementation: the systemd timer (or cron) runs it nightly and ``zixly backup`` runs the
same script on this machine, so what the tests execute is what hosts run.

Contract of ``backup.sh`` (environment variables, all optional):
``ZIXLY_BACKUP_ONLY`` services to back up (space separated; default all, plus the release,
secrets store and retention/check), ``ZIXLY_BACKUP_MAINT=0`` skips forget/prune/check,
``ZIXLY_BACKUP_STATE`` state/log dir (default ``<base_dir>/<env>/backup``), ``ZIXLY_RELEASE_DIR`` the
release to back up, ``ZIXLY_SECRETS_STORE`` the encrypted secrets file, ``RESTIC_REPOSITORY``/``RESTIC_PASSWORD_FILE``.
stdout: one ``ITEM <name> <snapshot> <data_added> <bytes_processed>`` line per snapshot;
stderr: a timestamped log. Exit status: 0 only when every item was saved; otherwise the
code of the first failure (see :mod:`.faults`). Post steps and restarts always run.
Every run ends by rewriting the status file ``$STATE/status.json`` (:mod:`.status`: the
contract the health report and the on-host agent read): a service is recorded as backed up
when all its items were saved. A failed run sends ``backup.failed`` through the ``apprise`` CLI
to the channels that take it (``ZIXLY_NOTIFY_CONFIG``: the channel file, default the release's
``notify/apprise.txt``; ``ZIXLY_APPRISE``: the CLI), once per fault until a run succeeds; what
does not go out waits in ``$STATE/outbox`` for the next run (and the health agent).
"""

from __future__ import annotations

from collections.abc import Collection

from ...catalog.stack import Stack
from ...models.environment import Environment
from ...notify.channels import accepts, declared
from ..hostfiles import render_host_file
from ..schedule import Calendar, Schedule, schedule_files
from ..tree import RenderedFile
from .faults import (
    FAULTS,
    BackupError,
    ContainerDownError,
    DumpError,
    RepoFullError,
    RepoLockedError,
    RepoMissingError,
    RepoPasswordError,
)
from .plan import BackupPlan, plan_backup
from .repo import CHECKPOINT_TAG, checkpoint_retention_args, host_tag, repository, retention_args
from .status import state_dir

# The perl filter that zeroes a pg_dump archive's creation time (backup.sh's pg_stable).
PG_STABLE_PERL = render_host_file("backup/pg_stable.pl.j2")


def backup_script(plan: BackupPlan, env: Environment) -> str:
    """The bash script of *plan* (see the module docstring for its contract):
    ``templates/backup/backup.sh.j2``."""
    fatal = "|".join(str(c.exit_code) for c in (RepoPasswordError, RepoLockedError, RepoFullError, RepoMissingError))
    return render_host_file(
        "backup/backup.sh.j2",
        env=plan.env, host=plan.host, repo=repository(plan.env, env).replace('"', ""),
        state=state_dir(env.base_dir, plan.env), release=f"{env.base_dir}/{plan.env}/current",
        notify_to=" ".join(notify_to(env)), rhost=host_tag(plan.env, plan.host),
        faults=[{"code": f.error.exit_code, "pattern": f.pattern, "message": f"{f.message} ({f.hint}); "}
                for f in FAULTS],
        generic=BackupError.exit_code, fatal=fatal, pg_stable=PG_STABLE_PERL,
        down=ContainerDownError.exit_code, dump=DumpError.exit_code, missing=RepoMissingError.exit_code,
        services=plan.services, keep=retention_args(env), keep_checkpoints=checkpoint_retention_args(env),
        checkpoint_tag=CHECKPOINT_TAG, uses=_uses(plan),
    )


def _uses(plan: BackupPlan) -> set[str]:
    """The script's optional helpers *plan* calls: its item engines, ``stream`` (any database dump),
    ``stop`` (stopped containers), ``step`` (pre/post commands); the others are left out."""
    uses: set[str] = {i.engine for sp in plan.services for i in sp.items}
    if uses - {"volume"}:
        uses.add("stream")
    if any(sp.stop for sp in plan.services):
        uses.add("stop")
    if any(sp.pre or sp.post for sp in plan.services):
        uses.add("step")
    return uses


def notify_to(env: Environment) -> list[str]:
    """``channel:timeout_s`` of every channel that takes ``backup.failed`` (names and filters only: the
    URLs stay in the rendered ``notify/apprise.txt``)."""
    return [f"{ch.name}:{max(1, round(ch.timeout_s))}" for ch in declared(env)
            if accepts(ch.events, ch.min_severity, "backup.failed", "critical")]


def unit_name(env_name: str) -> str:
    """``zixly-backup-<env>``: the systemd service/timer name."""
    return f"zixly-backup-{env_name}"


def backup_schedule(env_name: str, schedule: str, script_path: str) -> Schedule:
    """The nightly job: the script at the environment's ``HH:MM`` (``Persistent`` catches up a run
    missed while the host was off), niced, after the engine; the cron form logs to ``/var/log``."""
    return Schedule(
        name=unit_name(env_name), description=f"zixly nightly restic backup of {env_name}",
        argv=("/bin/bash", script_path), calendar=Calendar.at(schedule),
        wants=("network-online.target",), after=("network-online.target", "docker.service"),
        requires=("docker.service",),
        options=(("Nice", "10"), ("IOSchedulingClass", "best-effort"), ("IOSchedulingPriority", "7"),
                 ("TimeoutStartSec", "6h")),
        log=f"/var/log/zixly-backup-{env_name}.log",
    )


def render_backup(stack: Stack, host: str, password: str, standins: Collection[str]) -> list[RenderedFile]:
    """The host's ``backup/`` directory of the rendered tree (empty when backups are disabled)."""
    env = stack.environment
    if not env.backup.enabled:
        return []
    plan = plan_backup(stack, host, standins)
    base = f"{host}/backup"
    script_path = f"{env.base_dir}/{stack.env_name}/current/backup/backup.sh"
    name = unit_name(stack.env_name)
    units = schedule_files(backup_schedule(stack.env_name, env.backup.schedule, script_path))
    return [
        RenderedFile(f"{base}/backup.sh", backup_script(plan, env), 0o755),
        *(RenderedFile(f"{base}/{name}.{kind}", units[kind]) for kind in ("service", "timer", "cron")),
        RenderedFile(f"{base}/secrets/restic_password", password + "\n", 0o600, secret=True),
    ]
