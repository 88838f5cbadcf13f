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

from ..project import load
from .checks import derive
from .history import History
from .model import Report
from .notify import Channel, Delivery, Email, Webhook, deliver
from .probes.backup import BackupSource, JsonStatusFile
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


def report_for(root: Path, env: str, opts: Options, now: dt.datetime | None = None) -> Outcome:
    """Run the health report of ``env`` (see the module contract)."""
    loaded = load(root, env)
    settings: Settings = load_settings(root / "healthchecks", env)
    if opts.skip:
        settings = settings.model_copy(update={"skip": sorted({*settings.skip, *opts.skip})})
    suite = derive(loaded, settings, offline=opts.offline)
    status_file = opts.backup_status or resolve_path(root, settings.backup.status_file, env)
    probes = Probes(backup_source=_restic_source(loaded) if opts.restic else JsonStatusFile(status_file))
    if now is not None:
        moment = now
        probes = replace(probes, now=lambda: moment)
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
        delivery = deliver(report, state_dir / f"notify-{env}.json", channels, settings.notify, now)
    return Outcome(report, delivery, state_dir)
