"""One health run for an environment: load -> derive -> probe -> history -> (notify).

Contract: :func:`report_for` reads the repo and probes the environment's hosts; it writes only
under the state directory (history database, notification state). Paths in the settings
may use ``~`` and are relative to the repo root otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import clock
from ..backup.status import status_path
from ..project import load
from .checks import derive
from .history import History
from .model import Report
from .notify import Channel, Delivery, Email, Webhook, deliver
from .probes.backup import BackupSource, HostStatusFiles, JsonStatusFile
from .probes.hostcmd import runner_for
from .run import Probes, run_suite
from .settings import Settings, load_settings


@dataclass(frozen=True)
class Options:
    """Command-line choices for one run."""

    offline: bool = False
    skip: tuple[str, ...] = ()
    state_dir: Path | None = None
    backup_status: Path | None = None
    history: bool = True  # record this run (stored history is shown either way)
    notify: bool = False
    restic: bool = False  # backup freshness from the restic repository (this machine's environments)


def resolve_path(root: Path, text: str, env: str) -> Path:
    """``{env}`` substituted, ``~`` expanded, relative to ``root``."""
    path = Path(text.replace("{env}", env)).expanduser()
    return path if path.is_absolute() else root / path


@dataclass(frozen=True)
class Outcome:
    """A finished run: the report and what notifications did (None when not asked)."""

    report: Report
    delivery: Delivery | None
    state_dir: Path


def channels_for(loaded_notifications: object, smtp: object) -> list[Channel]:
    """Webhook and email channels configured for the environment (either may be absent)."""
    from ..models.environment import Notifications, Smtp

    assert isinstance(loaded_notifications, Notifications)
    out: list[Channel] = []
    if loaded_notifications.webhook:
        out.append(Webhook(loaded_notifications.webhook))
    if loaded_notifications.email_to and isinstance(smtp, Smtp):
        out.append(Email(smtp, tuple(loaded_notifications.email_to)))
    return out


def _restic_source(loaded: Any) -> BackupSource:
    from ..backup.health_source import ResticSnapshots
    from ..backup.local import open_env

    return ResticSnapshots(open_env(loaded))


def backup_source(loaded: Any, settings: Settings, opts: Options, root: Path, env: str) -> BackupSource:
    """Where backup freshness comes from: restic (``--restic``), one status file on this machine
    (``--backup-status`` or ``backup.status_file``), else the status file the backup script
    writes on each host of the environment (:mod:`zixly_stack.backup.status`)."""
    if opts.restic:
        return _restic_source(loaded)
    if opts.backup_status or settings.backup.status_file:
        return JsonStatusFile(opts.backup_status or resolve_path(root, settings.backup.status_file, env))
    environment = loaded.config.environment
    path = status_path(environment.base_dir, loaded.stack.env_name)
    stack = loaded.stack
    return HostStatusFiles(tuple((h, runner_for(stack.hosts[h]), path) for h in stack.host_names()))


def report_for(root: Path, env: str, opts: Options, now: dt.datetime | None = None) -> Outcome:
    """Run the health report of ``env`` (see the module contract)."""
    loaded = load(root, env)
    settings: Settings = load_settings(root / "healthchecks", env)
    if opts.skip:
        settings = settings.model_copy(update={"skip": sorted({*settings.skip, *opts.skip})})
    suite = derive(loaded, settings, offline=opts.offline)
    moment = now or clock.now()
    probes = Probes(backup_source=backup_source(loaded, settings, opts, root, env), now=lambda: moment)
    report = run_suite(suite, probes, settings.http.concurrency)
    state_dir = opts.state_dir or resolve_path(root, settings.state_dir, env)
    history = History(state_dir / "history.sqlite")
    if opts.history:
        history.record(report)
    report = replace(report, history=history.apps(env))
    delivery = None
    if opts.notify:
        environment = loaded.config.environment
        channels = channels_for(environment.notifications, environment.smtp)
        delivery = deliver(report, state_dir / f"notify-{env}.json", channels, settings.notify, moment)
    return Outcome(report, delivery, state_dir)
