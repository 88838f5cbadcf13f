"""``zixly backup|snapshots|restore``: restic backups, restores and the restore drill.

* ``zixly backup ENV [--service S]`` runs the environment's rendered backup script on this
  machine (the same script the nightly timer runs on hosts);
* ``zixly backup verify ENV`` is the restore drill (scratch Compose project, row counts and
  checksums compared, torn down);
* ``zixly snapshots ENV [--json]`` lists snapshots;
* ``zixly restore ENV --snapshot ID|latest [--service S] [--yes]`` and
  ``zixly restore staging --from production`` (the migration rehearsal).

Failures exit with the distinct codes of :mod:`zixly_stack.backup.faults` (10-18) and never
print "ok". Secrets never reach the output: every restic/docker text passes the redactor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from .params import ENV

out = Console(highlight=False, emoji=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def _stderr(text: str) -> None:
    err.print(text, markup=False)


def _root(ctx: click.Context) -> Path:
    return Path(ctx.obj["root"]) if ctx.obj and ctx.obj.get("root") else Path.cwd()


def _env(ctx: click.Context, name: str) -> Any:
    from ..backup.local import open_env
    from ..project import load

    return open_env(load(_root(ctx), name))


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
    from ..backup.local import run_backup

    e = _env(ctx, env)
    store = e.loaded.config.directory / "secrets.age"
    res = run_backup(e, services, maintenance=not no_maintenance, secrets_store=store)
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
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.pass_context
def verify_cmd(ctx: click.Context, env: str, ref: str, subset: str, services: tuple[str, ...], no_apps: bool,
               as_json: bool) -> None:
    """The restore drill: restore ENV's latest backup into a scratch, isolated Compose project,
    compare row counts per table and file checksums with what was backed up, start the apps
    against the restored data in a second scratch project and wait for their health checks
    (not with --no-apps), tear both down, then `restic check --read-data`.

    \b
    Example:
      zixly backup verify local
    """
    from ..backup.alert import alert_failure
    from ..backup.drill import drill
    from ..backup.faults import BackupError

    e = _env(ctx, env)
    say = _stderr
    try:
        report = drill(e, ref, subset, say=(lambda s: None) if as_json else say, services=services,
                       apps=not no_apps)
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
    import os
    import sys

    from ..backup.faults import BackupError
    from ..backup.weekly import drill_schedule, unit_name
    from ..project import load
    from ..secrets.identity import ENV_KEY, ENV_KEY_FILE, default_key_path
    from ..timers import install_timer

    loaded = load(_root(ctx), env)
    key_file = os.environ.get(ENV_KEY_FILE) or None
    if key_file is None and not default_key_path().is_file():
        hint = f" ({ENV_KEY} holds it: a scheduled job would need it in a unit file)" if os.environ.get(ENV_KEY) else ""
        raise BackupError(f"no age key file for the scheduled drill{hint}: set {ENV_KEY_FILE} or put the key in "
                          f"{default_key_path()}")
    key = str(Path(key_file).expanduser().resolve()) if key_file else None
    files = drill_schedule([sys.executable, "-m", "zixly_stack.cli"], str(_root(ctx).resolve()), env,
                           loaded.config.environment.backup.schedule, key)
    if not install:
        for name, text in files.items():
            out.print(f"# --- {name}\n{text}", markup=False)
        return
    unit = unit_name(env)
    changes = install_timer(unit, files[f"{unit}.service"], files[f"{unit}.timer"], files[unit])
    out.print("; ".join(changes) if changes else f"{unit}: already installed, nothing changed", markup=False)


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
    from ..backup.restore import snapshots

    e = _env(ctx, env)
    snaps = snapshots(e)
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
              help="Restore another environment's backup (staging rehearsal).")
@click.option("--allow-key-mismatch", is_flag=True, help="Restore even when never-rotate app keys differ.")
@click.option("--yes", is_flag=True, help="Do not ask: replace the data now.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.pass_context
def restore_cmd(ctx: click.Context, env: str, ref: str, services: tuple[str, ...], source: str | None,
                allow_key_mismatch: bool, yes: bool, as_json: bool) -> None:
    """Restore ENV's databases and volumes from a snapshot: stop each app, restore, start, health-check.

    Databases are restored into their existing servers (PostgreSQL: pg_restore --clean
    --if-exists; MariaDB: the app's own database recreated); other apps' databases are never
    touched. With --from, another environment's latest backup (staging rehearsal).

    \b
    Examples:
      zixly restore local --snapshot latest --service n8n --yes
      zixly restore staging --from production --yes
    """
    from ..backup.alert import alert_failure
    from ..backup.faults import BackupError
    from ..backup.keys import key_mismatches
    from ..backup.restore import outcome_json, restore

    dst = _env(ctx, env)
    src = _env(ctx, source) if source else dst
    if source:
        diff = key_mismatches(src, dst)
        if diff and not allow_key_mismatch:
            raise BackupError(
                f"{env} does not hold {source}'s never-rotate app keys: {', '.join(diff)} differ. Data encrypted "
                f"with {source}'s keys would be unreadable in {env}. Copy them (`zixly secrets set {env} NAME`) or "
                "pass --allow-key-mismatch. Nothing was changed.")
    if not yes:
        what = ", ".join(services) or "every service with a backup"
        click.confirm(f"Replace the data of {what} in {env} with {source or env}'s snapshot {ref}?", abort=True)
    say = (lambda s: None) if as_json else _stderr
    try:
        outcomes = restore(src, dst, ref, services, say)
    except BackupError as exc:
        alert_failure(dst, "restore", str(exc), _stderr)
        raise
    if as_json:
        click.echo(outcome_json(outcomes))
    else:
        for o in outcomes:
            status = "restored, healthy" if not o.error else f"FAILED: {o.error}"
            out.print(f"{o.service:<14} {status}  ({len(o.items)} item(s), {o.files_checked} file(s) checked)",
                      markup=False)
    failed = [o for o in outcomes if o.error]
    if failed:
        text = "\n".join(f"{o.service}: {o.error}" for o in failed)
        alert_failure(dst, "restore", f"restore of {env} from {source or env} failed:\n{text}", _stderr)
        raise BackupError(f"restore of {env} failed for {', '.join(o.service for o in failed)}")


COMMANDS = (backup_group, snapshots_cmd, restore_cmd)
