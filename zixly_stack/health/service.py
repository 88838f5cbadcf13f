"""One health run for an environment: load -> derive -> probe -> history -> (notify).

Contract: :func:`report_for` reads the repo and probes the environment's hosts; it writes only
under the state directory (history database, notification state). Paths in the settings
may use ``~`` and are relative to the repo root otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import clock
from ..backup.status import status_path
from ..errors import ZixlyError
from ..notify.channels import declared
from ..notify.outbox import Outbox
from ..notify.service import notifier_for
from ..project import load
from .checks import derive
from .history import History
from .model import Report, Result
from .notify import Delivery, deliver
from .probes.backup import BackupSource, HostStatusFiles, JsonStatusFile
from .probes.hostcmd import runner_for
from .probes.notify import from_outbox, judge, read_agents
from .run import Probes, run_suite
from .schedule import AGENT_STATE
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
    delivery = None
    if opts.notify:
        try:
            notifier = notifier_for(loaded)
        except ZixlyError as exc:  # e.g. no age key for a channel's secret: the report still comes out
            delivery = Delivery([], [("notifications", f"channels unavailable: {exc}")])
        else:
            notifier.outbox = Outbox(state_dir / f"notify-{env}" / "outbox")
            notifier.flush()
            delivery = deliver(report, state_dir / f"notify-{env}.json", notifier, settings.notify, moment)
    if "notify" not in suite.skipped:
        report = replace(report, results=report.results + tuple(_notify_results(loaded, state_dir)))
    history = History(state_dir / "history.sqlite")
    if opts.history:
        history.record(report)
    report = replace(report, history=history.apps(env))
    return Outcome(report, delivery, state_dir)


def _notify_results(loaded: Any, state_dir: Path) -> list[Result]:
    """``notify:<channel>`` checks: what this machine and each host's agent could not deliver."""
    env = loaded.config.name
    names = [c.name for c in declared(loaded.config.environment)]
    if not names:
        return []
    pending = from_outbox(Outbox(state_dir / f"notify-{env}" / "outbox").entries())
    stack = loaded.stack
    agents = asyncio.run(read_agents([(h, runner_for(stack.hosts[h]), f"{AGENT_STATE.format(env=env)}/last.json")
                                      for h in stack.host_names()]))
    for channel, items in agents.items():
        pending.setdefault(channel, []).extend(items)
    return judge(names, pending)
