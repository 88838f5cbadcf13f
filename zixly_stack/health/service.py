"""One health run for an environment: load -> derive -> probe -> history -> (notify).

Contract: :func:`report_for` reads the repo and probes the environment's hosts; it writes only
under the state directory (history database, notification state). Paths in the settings
may use ``~`` and are relative to the repo root otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
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


def _restic_source(loaded: Any, runners: dict[str, Any]) -> BackupSource:
    from ..backup.health_source import ResticSnapshots
    from ..backup.local import open_env
    from ..backup.site import Site

    env = open_env(loaded)
    homes = env.hosts_with_backups()
    home = next((h for h in homes if h in runners), None)
    site = Site(home, runners[home], env.redact) if home is not None else None
    return ResticSnapshots(env, site)


@contextlib.contextmanager
def connections(loaded: Any) -> Iterator[dict[str, Any]]:
    """``host name -> Runner`` for every host of the environment: this machine, or the deploy's SSH
    connection (unreachable hosts are left out: their probes say so)."""
    from ..deploy.connect import is_local, open_session, runner_for
    from ..runner import LocalRunner

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


def remote_probes(loaded: Any, runners: dict[str, Any], backup_source: BackupSource) -> Probes:
    """Probes whose engine and host commands go through *runners* (the report's connections)."""
    from .probes.engine import DockerCli
    from .probes.hostcmd import HostRunner, RunnerHost, Unconnected

    by_key = {_key(h): RunnerHost(runners[n]) for n, h in loaded.config.hosts.hosts.items() if n in runners}

    def pick(host: Any) -> HostRunner:
        return by_key.get(_key(host)) or Unconnected(host, "could not be reached over SSH")

    return Probes(backup_source=backup_source, engine_for=lambda h: DockerCli(pick(h)), runner_for=pick)


def report_for(root: Path, env: str, opts: Options, now: dt.datetime | None = None) -> Outcome:
    """Run the health report of ``env`` (see the module contract)."""
    loaded = load(root, env)
    settings: Settings = load_settings(root / "healthchecks", env)
    if opts.skip:
        settings = settings.model_copy(update={"skip": sorted({*settings.skip, *opts.skip})})
    suite = derive(loaded, settings, offline=opts.offline)
    status_file = opts.backup_status or resolve_path(root, settings.backup.status_file, env)
    with connections(loaded) as runners:
        source = _restic_source(loaded, runners) if opts.restic else JsonStatusFile(status_file)
        probes = remote_probes(loaded, runners, source)
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
