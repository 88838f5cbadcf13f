"""``zixly health ENV``: one report for the whole stack; exit 0 ok, 1 warning/unknown, 2 critical."""

from __future__ import annotations

from pathlib import Path

import click

from ..config.healthchecks import KINDS, load_settings
from ..health.formats import FORMATS, render
from ..safepath import inside
from .common import err_console, root_of
from .params import ENV


@click.command()
@click.argument("env", type=ENV)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")
@click.option("--offline", is_flag=True, help="Skip DNS resolution of the routes.")
@click.option("--skip", multiple=True, type=click.Choice(KINDS), help="Skip a kind of check (repeatable).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="History and notification state (default: state_dir in healthchecks/).")
@click.option("--backup-status", type=click.Path(dir_okay=False, path_type=Path),
              help="Backup status JSON (default: backup.status_file in healthchecks/).")
@click.option("--restic", "restic", is_flag=True,
              help="Backup freshness from the environment's restic repository (this machine) instead of the JSON.")
@click.option("--no-history", is_flag=True, help="Do not record this run.")
@click.option("--notify", is_flag=True, help="Send webhook/email on state change and the daily digest.")
@click.pass_context
def health(ctx: click.Context, env: str, fmt: str, out: Path | None, offline: bool, skip: tuple[str, ...],
           state_dir: Path | None, backup_status: Path | None, restic: bool, no_history: bool,
           notify: bool) -> None:
    """Probe ENV: HTTP through Traefik, TLS expiry, containers, disk/memory, backups, images, DNS.

    \b
    Examples:
      zixly health local
      zixly health production --format html --out report.html
      zixly health production --format json --notify    # from the host's timer
    """
    # lazy: keeps the CLI start-up fast
    from ..health.service import Options, report_for

    root = root_of(ctx)
    if out is not None:
        # lazy: keeps the CLI start-up fast
        from ..outdir import check_out_file

        check_out_file(out, root)
    # lazy: keeps the CLI start-up fast
    from ..deploy.drift import drift_for

    opts = Options(offline, skip, state_dir, backup_status, not no_history, notify, restic, drift_of=drift_for)
    outcome = report_for(root, env, opts)
    report = outcome.report
    text = render(report, fmt, root / "healthchecks" / "templates")
    if out is None:
        click.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        err_console.print(f"{env}: {report.status.value} — report written to {out}", markup=False)
    if outcome.delivery is not None:
        for channel, problem in outcome.delivery.failed:
            err_console.print(f"notification via {channel} failed: {problem}", markup=False)
    ctx.exit(report.status.exit_code)


@click.command("health-schedule")
@click.argument("env", type=ENV)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write the files here (default: build/<env>/health-schedule).")
@click.pass_context
def health_schedule(ctx: click.Context, env: str, out: Path | None) -> None:
    """Render ENV's on-host health schedule: per host an agent, its checks, a systemd timer and a cron fallback.

    The agent runs on the host with the host's python3 (no zixly, no secrets there):
    routes through the host's edge, containers, disk/memory, backup age; it notifies on
    state change plus a daily digest. Install per host: the files into <base_dir>/<env>/health,
    the .service/.timer into /etc/systemd/system (`systemctl enable --now zixly-health-ENV.timer`)
    or the .cron file as /etc/cron.d/zixly-health-ENV.

    \b
    Example:
      zixly health-schedule production --out build/production/health-schedule
    """
    # lazy: keeps the CLI start-up fast
    from ..health.schedule import render_schedule
    from ..project import load

    root = root_of(ctx)
    loaded = load(root, env)
    files = render_schedule(loaded, load_settings(root / "healthchecks", env))
    dest = out or root / "build" / env / "health-schedule"

    for f in files:
        path = inside(dest, f.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.text, encoding="utf-8")
        path.chmod(f.mode)
    err_console.print(f"{env}: {len(files)} file(s) written under {dest}", markup=False)
