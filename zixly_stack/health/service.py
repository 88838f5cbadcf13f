"""One health run for an environment: load -> derive -> probe -> history -> (notify).

Contract: :func:`report_for` reads the repo and probes the environment's hosts; it writes only
under the state directory (history database, notification state). Paths in the settings
may use ``~`` and are relative to the repo root otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from .. import clock
from ..backup.local import open_env
from ..backup.site import Site
from ..config.healthchecks import Settings, load_settings, resolve_path
from ..errors import ZixlyError
from ..notify.channels import declared
from ..notify.outbox import Outbox
from ..notify.service import notifier_for
from ..project import Loaded, load
from ..render.backup.status import status_path
from ..render.demo_reap import demo_hosts
from ..runner import LocalRunner
from ..runner.connect import is_local, open_session, runner_for
from .backup_source import ResticSnapshots
from .checks import derive
from .history import History
from .model import Drift, Report, Result
from .notify import Delivery, deliver
from .probes.backup import BackupSource, HostStatusFiles, JsonStatusFile
from .probes.demos import read_demos
from .probes.engine import DockerCli
from .probes.hostcmd import HostRunner, RunnerHost, Unconnected
from .probes.notify import from_outbox, judge, read_agents
from .run import Probes, run_suite
from .schedule import AGENT_STATE


class DriftReader(Protocol):
    """Reads an environment's drift over open connections (``.findings`` with ``to_json()``, ``.errors``)."""

    def __call__(self, loaded: Loaded, runners: dict[str, Any]) -> Any: ...


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
    # how drift is read over the report's connections (the CLI passes zixly_stack.deploy.drift.drift_for:
    # the deploy layer sits above this one); None: the report has no drift section
    drift_of: DriftReader | None = None


@dataclass(frozen=True)
class Outcome:
    """A finished run: the report and what notifications did (None when not asked)."""

    report: Report
    delivery: Delivery | None
    state_dir: Path


def _restic_source(loaded: Loaded, runners: dict[str, Any]) -> BackupSource:
    env = open_env(loaded)
    homes = env.hosts_with_backups()
    home = next((h for h in homes if h in runners), None)
    site = Site(home, runners[home], env.redact) if home is not None else None
    return ResticSnapshots(env, site)


@contextlib.contextmanager
def connections(loaded: Loaded) -> Iterator[dict[str, Any]]:
    """``host name -> Runner`` for every host of the environment: this machine, or the deploy's SSH
    connection (unreachable hosts are left out: their probes say so)."""
    hosts = loaded.config.hosts.hosts
    remote = {n: h for n, h in hosts.items() if not is_local(h)}
    session = open_session(remote, patch=False) if remote else None
    try:
        runners: dict[str, Any] = {n: LocalRunner() for n, h in hosts.items() if is_local(h)}
        if session is not None:
            runners.update({n: runner_for(c, n) for n, c in session.hosts.items()})
        yield runners
    finally:
        if session is not None:
            session.close()


def _key(host: Any) -> tuple[str, int, str]:
    return (host.address, host.port, host.user)


def host_picker(loaded: Loaded, runners: dict[str, Any]) -> Callable[[Any], HostRunner]:
    """``inventory host -> HostRunner`` over *runners* (the report's connections); a host without
    one is unreachable."""
    by_key = {_key(h): RunnerHost(runners[n]) for n, h in loaded.config.hosts.hosts.items() if n in runners}

    def pick(host: Any) -> HostRunner:
        return by_key.get(_key(host)) or Unconnected(host, "could not be reached over SSH")

    return pick


def remote_probes(pick: Callable[[Any], HostRunner], backup_source: BackupSource) -> Probes:
    """Probes whose engine and host commands go through *pick* (the report's connections)."""
    return Probes(backup_source=backup_source, engine_for=lambda h: DockerCli(pick(h)), runner_for=pick)


def backup_source(loaded: Loaded, settings: Settings, opts: Options, root: Path, env: str, runners: dict[str, Any],
                  pick: Callable[[Any], HostRunner]) -> BackupSource:
    """Where backup freshness comes from: restic (``--restic``), one status file on this machine
    (``--backup-status`` or ``backup.status_file``), else the status file the backup script
    writes on each host of the environment (:mod:`zixly_stack.render.backup.status`)."""
    if opts.restic:
        return _restic_source(loaded, runners)
    if opts.backup_status or settings.backup.status_file:
        return JsonStatusFile(opts.backup_status or resolve_path(root, settings.backup.status_file, env))
    environment = loaded.config.environment
    path = status_path(environment.base_dir, loaded.stack.env_name)
    stack = loaded.stack
    return HostStatusFiles(tuple((h, pick(stack.hosts[h]), path) for h in stack.host_names()))


def report_for(root: Path, env: str, opts: Options, now: dt.datetime | None = None) -> Outcome:
    """Run the health report of ``env`` (see the module contract)."""
    loaded = load(root, env)
    settings: Settings = load_settings(root / "healthchecks", env)
    if opts.skip:
        settings = settings.model_copy(update={"skip": sorted({*settings.skip, *opts.skip})})
    suite = derive(loaded, settings, offline=opts.offline)
    moment = now or clock.now()
    state_dir = opts.state_dir or resolve_path(root, settings.state_dir, env)
    with connections(loaded) as runners:
        pick = host_picker(loaded, runners)
        source = backup_source(loaded, settings, opts, root, env, runners, pick)
        probes = replace(remote_probes(pick, source), now=lambda: moment)
        report = run_suite(suite, probes, settings.http.concurrency)
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
        # after this run's delivery: what it could not deliver is pending now
        notify_results = [] if "notify" in suite.skipped else _notify_results(loaded, state_dir, pick)
        notify_results += _demo_results(loaded, pick)
        drift = drift_section(loaded, runners, opts.drift_of, skipped="drift" in settings.skip)
    report = replace(report, results=report.results + tuple(notify_results), drift=drift)
    history = History(state_dir / "history.sqlite")
    if opts.history:
        history.record(report)
    report = replace(report, history=history.apps(env))
    return Outcome(report, delivery, state_dir)


def drift_section(loaded: Loaded, runners: dict[str, Any], reader: DriftReader | None, *,
                  skipped: bool = False) -> Drift | None:
    """The report's drift section over its connections (*reader*: :func:`zixly_stack.deploy.drift.drift_for`);
    what keeps drift from being checked is its note, never a failed report. None without a reader."""
    if reader is None:
        return None
    if skipped:
        return Drift(False, note="skipped (--skip drift)")
    try:
        report = reader(loaded, runners)
    except ZixlyError as exc:
        return Drift(False, note=str(exc).splitlines()[0])
    return Drift(True, tuple(f.to_json() for f in report.findings), report.errors)


def _demo_results(loaded: Loaded, pick: Callable[[Any], HostRunner]) -> list[Result]:
    """``demo:<client>`` checks: what each demo host's agent found (:mod:`.probes.demos`)."""
    stack = loaded.stack
    state = f"{AGENT_STATE.format(env=stack.env_name)}/last.json"
    return asyncio.run(read_demos([(h, pick(stack.hosts[h]), state) for h in demo_hosts(stack)]))


def _notify_results(loaded: Loaded, state_dir: Path, pick: Callable[[Any], HostRunner]) -> list[Result]:
    """``notify:<channel>`` checks: what this machine and each host's agent could not deliver."""
    env = loaded.config.name
    names = [c.name for c in declared(loaded.config.environment)]
    if not names:
        return []
    pending = from_outbox(Outbox(state_dir / f"notify-{env}" / "outbox").entries())
    stack = loaded.stack
    agents = asyncio.run(read_agents([(h, pick(stack.hosts[h]), f"{AGENT_STATE.format(env=env)}/last.json")
                                      for h in stack.host_names()]))
    for channel, items in agents.items():
        pending.setdefault(channel, []).extend(items)
    return judge(names, pending)
