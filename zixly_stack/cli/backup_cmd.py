"""``zixly backup|snapshots|restore``: restic backups, restores and the restore drill.

Every command works from anywhere: the work runs ON the environment's hosts (this machine
for ``@local`` hosts, the deploy's SSH connection otherwise, :mod:`zixly_stack.backup.site`);
the age identity stays here.

* ``zixly backup ENV [--service S]`` runs the environment's rendered backup script on each
  host (the same script the nightly timer runs there);
* ``zixly backup verify ENV [--on [ENV:]HOST]`` is the restore drill (scratch Compose projects
  on the backed-up host or another one, row counts and checksums compared, torn down);
* ``zixly snapshots ENV [--json]`` lists snapshots;
* ``zixly restore ENV --snapshot ID|latest [--service S] [--yes] [--dry-run]``,
  ``zixly restore staging --from production`` (the migration rehearsal, ending with the
  health report) and ``zixly restore ENV --release`` (disaster recovery: the release tree and
  the encrypted secrets store).

Failures exit with the distinct codes of :mod:`zixly_stack.render.backup.faults` (10-18) and never
print "ok". Secrets never reach the output: every restic/docker text passes the redactor.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..health.formats import render
from ..models.names import require_name
from ..secrets.identity import ENV_KEY, ENV_KEY_FILE, default_key_path
from .common import make_console
from .params import ENV

out = make_console()
err = make_console(stderr=True)


def _stderr(text: str) -> None:
    err.print(text, markup=False)


def _root(ctx: click.Context) -> Path:
    return Path(ctx.obj["root"]) if ctx.obj and ctx.obj.get("root") else Path.cwd()


def _env(ctx: click.Context, name: str) -> Any:
    # lazy: keeps the CLI start-up fast
    from ..backup.local import open_env
    from ..project import load

    return open_env(load(_root(ctx), name))


def _store(env: Any) -> Path:
    return Path(env.loaded.config.directory) / "secrets.age"


class _DefaultRun(click.Group):
    """``zixly backup ENV`` means ``zixly backup run ENV``; ``zixly backup verify ENV`` is the drill."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group("backup", cls=_DefaultRun)
def backup_group() -> None:
    """Back up ENV now (`zixly backup ENV`), or run the restore drill (`zixly backup verify ENV`)."""


@backup_group.command("run")
@click.argument("env", type=ENV)
@click.option("--service", "services", multiple=True, metavar="S", help="Only this service (repeatable).")
@click.option("--no-maintenance", is_flag=True, help="Skip retention (forget --prune) and restic check.")
@click.option("--verbose", "-v", is_flag=True, help="Show the backup script's log (secrets masked) on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.pass_context
def run_cmd(ctx: click.Context, env: str, services: tuple[str, ...], no_maintenance: bool, verbose: bool,
            as_json: bool) -> None:
    """Back up ENV's databases and volumes into its restic repository (the nightly job, now).

    Without --service also the current release and the encrypted secrets store, then
    retention (forget --prune) and `restic check`.

    \b
    Examples:
      zixly backup local
      zixly backup local --service n8n
    """
    # lazy: keeps the CLI start-up fast
    from ..backup.local import run_backup
    from ..backup.site import open_sites

    e = _env(ctx, env)
    with open_sites(e, e.hosts_with_backups()) as sites:
        res = run_backup(e, sites, services, maintenance=not no_maintenance, secrets_store=_store(e),
                         say=(lambda s: None) if as_json else _stderr)
    if verbose:
        err.print(res.log.rstrip(), markup=False)
    added = sum(i.data_added for i in res.items)
    processed = sum(i.bytes_processed for i in res.items)
    if as_json:
        click.echo(json.dumps({"environment": env, "status": "ok", "repository": e.repository,
                               "data_added": added, "bytes_processed": processed,
                               "items": [i.__dict__ for i in res.items]}, indent=2))
        return
    for i in res.items:
        out.print(f"{i.name:<34} snapshot {i.snapshot[:8]}  added {i.data_added:>10} B", markup=False)
    out.print(f"backup of {env}: {len(res.items)} snapshot(s), {added} B added of {processed} B read", markup=False)


@backup_group.command("verify")
@click.argument("env", type=ENV)
@click.option("--snapshot", "ref", default="latest", show_default=True, help="Snapshot id, run stamp or latest.")
@click.option("--read-data-subset", "subset", default="", metavar="N/T",
              help="Also read this subset of the pack data (default: all of it).")
@click.option("--service", "services", multiple=True, metavar="S", help="Only this service's items (repeatable).")
@click.option("--no-apps", is_flag=True, help="Data only: do not start the apps against the restored data.")
@click.option("--on", "on", metavar="[ENV:]HOST",
              help="Run the drill on this host (of ENV, or of another environment, e.g. staging:stg1) instead of "
                   "the backed-up one; it reads the repository without locks.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.pass_context
def verify_cmd(ctx: click.Context, env: str, ref: str, subset: str, services: tuple[str, ...], no_apps: bool,
               on: str | None, as_json: bool) -> None:
    """The restore drill: restore ENV's latest backup into a scratch, isolated Compose project,
    compare row counts per table and file checksums with what was backed up, start the apps
    against the restored data in a second scratch project and wait for their health checks
    (not with --no-apps), tear both down, then `restic check --read-data`. Everything runs on
    the backed-up host (or the --on host); a memory guard refuses before anything starts
    when the scratch projects would not fit there.

    \b
    Examples:
      zixly backup verify local
      zixly backup verify production --on staging:stg1
    """
    # lazy: keeps the CLI start-up fast
    from ..backup.alert import alert_failure
    from ..render.backup.faults import BackupError

    e = _env(ctx, env)
    say = _stderr
    try:
        report = _verify(ctx, e, on, ref, subset, services, not no_apps, (lambda s: None) if as_json else say)
        if as_json:
            click.echo(report.to_json())
        else:
            for r in report.results:
                out.print(f"{r.item:<34} {r.status:<8} {r.detail}", markup=False)
        report.raise_if_failed()
    except BackupError as exc:
        alert_failure(e, "restore drill", str(exc), say)
        raise
    if not as_json:
        started = sum(1 for r in report.results if r.item.endswith(".app"))
        data = len(report.results) - started
        out.print(f"restore drill of {env}: {data} item(s) restored and identical; {started} app(s) started "
                  "and healthy; repository check passed", markup=False)


def _verify(ctx: click.Context, e: Any, on: str | None, ref: str, subset: str, services: tuple[str, ...],
            apps: bool, say: Any) -> Any:
    """The drill on the backed-up host(s), or on the --on host."""
    # lazy: keeps the CLI start-up fast
    from ..backup.drill import drill
    from ..backup.drill_memory import capacity_of
    from ..backup.local import Env
    from ..backup.site import open_sites
    from ..project import load
    from ..render.backup.faults import BackupError

    homes = e.hosts_with_backups()
    if not homes:
        raise BackupError(f"{e.name}: nothing is backed up on any host")
    if on is None:
        with open_sites(e, homes) as sites:
            reports = []
            for h, site in sites.items():
                model = e.loaded.config.hosts.hosts[h]
                reports.append(drill(e, site, ref, subset, say, services, apps, home=h,
                                     capacity=capacity_of(site, model.memory, model.memory_reserved)))
            return _merge(reports)
    other, host = _resolve_on(ctx, e, on)
    target = e if other == e.name else Env(load(_root(ctx), other), e.secrets, host)
    with open_sites(target, [host]) as sites:
        model = target.loaded.config.hosts.hosts[host]
        cap = capacity_of(sites[host], model.memory, model.memory_reserved)
        reports = [drill(e, sites[host], ref, subset, say, services, apps, home=h, capacity=cap) for h in homes]
    return _merge(reports)


def _resolve_on(ctx: click.Context, e: Any, on: str) -> tuple[str, str]:
    """``[ENV:]HOST`` -> (environment, host); a bare name that is no host of ENV may name an environment
    with one host."""
    # lazy: keeps the CLI start-up fast
    from ..project import load
    from ..render.backup.faults import BackupError

    env_part, sep, host_part = on.rpartition(":")
    if sep:
        other = require_name(env_part, "environment", "--on")
        host = require_name(host_part, "host", "--on") if host_part else ""
    else:
        name = require_name(on, "host", "--on")
        if name in e.loaded.config.hosts.hosts:
            return e.name, name
        other, host = name, ""
    hosts = e.loaded.config.hosts.hosts if other == e.name else load(_root(ctx), other).config.hosts.hosts
    if not host:
        if len(hosts) != 1:
            raise BackupError(f"--on {on}: {other} has {len(hosts)} hosts ({', '.join(hosts)}); say which: "
                              f"--on {other}:HOST")
        host = next(iter(hosts))
    if host not in hosts:
        raise BackupError(f"--on {on}: {other} has no host {host} (hosts: {', '.join(hosts)})")
    return other, host


def _merge(reports: list[Any]) -> Any:
    first = reports[0]
    for r in reports[1:]:
        first.results += r.results
        first.check_error = first.check_error or r.check_error
        first.torn_down = first.torn_down and r.torn_down
    return first


@backup_group.command("schedule-drill")
@click.argument("env", type=ENV)
@click.option("--install", is_flag=True,
              help="Install on this machine: systemd timer, or /etc/cron.d when PID 1 is not systemd.")
@click.pass_context
def schedule_drill_cmd(ctx: click.Context, env: str, install: bool) -> None:
    """Run the restore drill (`zixly backup verify ENV`) every week, two hours after Sunday's backup.

    Without --install the unit, timer and cron.d entry are printed.

    \b
    Example:
      zixly backup schedule-drill local --install
    """
    # lazy: keeps the CLI start-up fast
    from ..backup.weekly import drill_job
    from ..project import load
    from ..render.backup.faults import BackupError
    from ..render.schedule import named_files, schedule_files

    # lazy: keeps the CLI start-up fast
    from ..timers import install_timer

    loaded = load(_root(ctx), env)
    key_file = os.environ.get(ENV_KEY_FILE) or None
    if key_file is None and not default_key_path().is_file():
        hint = f" ({ENV_KEY} holds it: a scheduled job would need it in a unit file)" if os.environ.get(ENV_KEY) else ""
        raise BackupError(f"no age key file for the scheduled drill{hint}: set {ENV_KEY_FILE} or put the key in "
                          f"{default_key_path()}")
    key = str(Path(key_file).expanduser().resolve()) if key_file else None
    job = drill_job([sys.executable, "-m", "zixly_stack.cli"], str(_root(ctx).resolve()), env,
                    loaded.config.environment.backup.schedule, key)
    if not install:
        for name, text in named_files(job).items():
            out.print(f"# --- {name}\n{text}", markup=False)
        return
    changes = install_timer(job.name, schedule_files(job))
    out.print("; ".join(changes) if changes else f"{job.name}: already installed, nothing changed", markup=False)


@click.command("snapshots")
@click.argument("env", type=ENV)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable list on stdout.")
@click.pass_context
def snapshots_cmd(ctx: click.Context, env: str, as_json: bool) -> None:
    """List ENV's snapshots (newest last): time, id, service, kind, item, run.

    \b
    Example:
      zixly snapshots local --json
    """
    # lazy: keeps the CLI start-up fast
    from ..backup.restore import snapshots
    from ..backup.site import open_sites

    e = _env(ctx, env)
    with open_sites(e, e.hosts_with_backups() or None) as sites:  # a local target is one repository per host
        seen: dict[str, Any] = {}
        for site in sites.values():
            seen.update({s.id: s for s in snapshots(e, site)})
    snaps = sorted(seen.values(), key=lambda s: (s.time, s.id))
    if as_json:
        click.echo(json.dumps([{"id": s.id, "short_id": s.short_id, "time": s.time.isoformat(), "service": s.service,
                                "kind": s.kind, "item": s.item, "run": s.run, "paths": list(s.paths)}
                               for s in snaps], indent=2))
        return
    for s in snaps:
        out.print(f"{s.time:%Y-%m-%d %H:%M:%S}  {s.short_id}  {s.service:<13} {s.kind:<6} {s.item:<34} {s.run}",
                  markup=False)
    out.print(f"{len(snaps)} snapshot(s) of {env} in {e.repository}", markup=False)


@click.command("restore")
@click.argument("env", type=ENV)
@click.option("--snapshot", "ref", default="latest", show_default=True, help="Snapshot id, run stamp or latest.")
@click.option("--service", "services", multiple=True, metavar="S", help="Only this service (repeatable).")
@click.option("--from", "source", type=ENV, metavar="ENV",
              help="Restore another environment's backup (staging rehearsal); ends with the health report.")
@click.option("--allow-key-mismatch", is_flag=True, help="Restore even when never-rotate app keys differ.")
@click.option("--release", "release", is_flag=True,
              help="Disaster recovery: put back each host's release tree and the encrypted secrets store.")
@click.option("--no-health", is_flag=True, help="With --from: skip the closing health report.")
@click.option("--dry-run", is_flag=True, help="Show what would run on each host; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask: replace the data now.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.pass_context
def restore_cmd(ctx: click.Context, env: str, ref: str, services: tuple[str, ...], source: str | None,
                allow_key_mismatch: bool, release: bool, no_health: bool, dry_run: bool, yes: bool,
                as_json: bool) -> None:
    """Restore ENV's databases and volumes from a snapshot, on the hosts that hold them: stop the
    apps, restore, start, wait until healthy; say how old the snapshot was (RPO) and how long it
    took.

    Runs from anywhere: restic runs on each host against the repository and the dumps stream
    into the store containers there. Databases are restored into their existing servers
    (PostgreSQL: the app's database emptied and loaded in one transaction; MariaDB: the app's own database recreated);
    other apps' databases are never touched. With --from, another environment's backup (the
    staging rehearsal), then the health report. With --release, each host's release tree and
    the encrypted secrets store (disaster recovery, docs/backups.md).

    \b
    Examples:
      zixly restore local --snapshot latest --service n8n --yes
      zixly restore staging --from production --yes
      zixly restore production --release --yes && zixly deploy production && zixly restore production --yes
    """
    # lazy: keeps the CLI start-up fast
    from ..backup.keys import key_mismatches
    from ..render.backup.faults import BackupError

    dst = _env(ctx, env)
    src = _env(ctx, source) if source else dst
    if source:
        diff = key_mismatches(src, dst)
        if diff and not allow_key_mismatch:
            raise BackupError(
                f"{env} does not hold {source}'s never-rotate app keys: {', '.join(diff)} differ. Data encrypted "
                f"with {source}'s keys would be unreadable in {env}. Copy them (`zixly secrets set {env} NAME`) or "
                "pass --allow-key-mismatch. Nothing was changed.")
    if release:
        if source or services:
            raise click.UsageError("--release restores the whole release of ENV: no --from or --service")
        _restore_release(dst, ref, yes, dry_run, as_json)
        return
    if not yes and not dry_run:
        what = ", ".join(services) or "every service with a backup"
        click.confirm(f"Replace the data of {what} in {env} with {source or env}'s snapshot {ref}?", abort=True)
    outcomes, seconds = _restore_data(src, dst, ref, services, dry_run, as_json)
    failed = [o for o in outcomes if o.error]
    if as_json:
        # lazy: keeps the CLI start-up fast
        from ..backup.restore import outcome_json

        click.echo(outcome_json(outcomes))
    else:
        for o in outcomes:
            status = "restored, healthy" if not o.error else f"FAILED: {o.error}"
            out.print(f"{o.service:<14} {status}  ({len(o.items)} item(s), {o.files_checked} file(s) checked, "
                      f"{o.host})", markup=False)
        if outcomes and not dry_run:
            out.print(_recovery_line(env, outcomes, seconds), markup=False)
    if failed:
        # lazy: keeps the CLI start-up fast
        from ..backup.alert import alert_failure

        text = "\n".join(f"{o.service}: {o.error}" for o in failed)
        alert_failure(dst, "restore", f"restore of {env} from {source or env} failed:\n{text}", _stderr)
        raise BackupError(f"restore of {env} failed for {', '.join(o.service for o in failed)}")
    if source and not no_health and not dry_run:
        _closing_health(ctx, env, as_json)


def _restore_data(src: Any, dst: Any, ref: str, services: tuple[str, ...], dry_run: bool,
                  as_json: bool) -> tuple[list[Any], float]:
    # lazy: keeps the CLI start-up fast
    from ..backup.alert import alert_failure
    from ..backup.restore import restore
    from ..backup.site import open_sites
    from ..render.backup.faults import BackupError

    say = (lambda s: None) if as_json else _stderr
    started = time.monotonic()
    try:
        with open_sites(dst, dst.hosts_with_backups(), dry_run=dry_run, say=say) as sites:
            outcomes = restore(src, dst, ref, services, say, sites)
    except BackupError as exc:
        if not dry_run:
            alert_failure(dst, "restore", str(exc), _stderr)
        raise
    return outcomes, time.monotonic() - started


def _recovery_line(env: str, outcomes: list[Any], seconds: float) -> str:
    """RPO (how old the oldest restored snapshot was when the restore began) and how long it took."""
    # lazy: keeps the CLI start-up fast
    from ..backup.snapshots import age_text

    oldest = min((o.oldest for o in outcomes if o.oldest is not None), default=None)
    rpo = "" if oldest is None else (f"RPO {age_text(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds) - oldest)}"
                                     f" (the oldest restored snapshot is of {oldest:%Y-%m-%d %H:%M:%S} UTC); ")
    return f"restore of {env}: {rpo}took {age_text(dt.timedelta(seconds=seconds))} (the recovery time of this step)"


def _restore_release(dst: Any, ref: str, yes: bool, dry_run: bool, as_json: bool) -> None:
    # lazy: keeps the CLI start-up fast
    from ..backup.release import restore_releases
    from ..backup.site import open_sites

    if not yes and not dry_run:
        click.confirm(f"Put back {dst.name}'s release tree on its hosts (and its secrets store if missing here) "
                      f"from snapshot {ref}?", abort=True)
    say = (lambda s: None) if as_json else _stderr
    with open_sites(dst, dst.hosts_with_backups(), dry_run=dry_run, say=say) as sites:
        outcomes, store = restore_releases(dst, sites, ref, _store(dst), say)
    if as_json:
        click.echo(json.dumps({"hosts": [o.__dict__ for o in outcomes], "secrets_store": store}, indent=2))
        return
    for o in outcomes:
        out.print(f"{o.host:<14} release {o.release or '-'} {o.action} (snapshot {o.snapshot or '-'}, "
                  f"{o.files_checked} file(s) checked), current {o.current or '-'}", markup=False)
        for note in o.notes:
            out.print(f"{'':<14} {note}", markup=False)
    out.print(f"secrets store: {store}", markup=False)
    out.print(f"next: `zixly deploy {dst.name}` brings the containers up from it, then "
              f"`zixly restore {dst.name} --snapshot {ref}` brings the data back", markup=False)


def _closing_health(ctx: click.Context, env: str, as_json: bool) -> None:
    """The rehearsal ends with the health report of the restored environment (exit 1 when not ok); backup
    freshness comes from the repository (restic): the status file is a path on THIS machine, which the
    nightly run of a remote environment (on its host) never writes."""
    # lazy: keeps the CLI start-up fast
    from ..health.service import Options, report_for
    from ..render.backup.faults import BackupError

    root = _root(ctx)
    report = report_for(root, env, Options(offline=True, history=False, restic=True)).report
    if not as_json:
        err.print(render(report, "table", root / "healthchecks" / "templates"), markup=False)
    if report.status.value != "ok":
        raise BackupError(f"{env} was restored, but its health report is {report.status.value}")
    _stderr(f"health of {env}: ok")


COMMANDS = (backup_group, snapshots_cmd, restore_cmd)
