"""``zixly import SERVICE --env ENV --from ssh://user@host``: bring an existing install under management.

Exit codes: 0 imported (or already imported: nothing changed), 4 refused (a conflict without
``--replace``, a source that cannot be imported; nothing changed), 2 a configuration error, 3 a
secrets-store problem, 1 any other error. docs/import.md.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import ZixlyError
from .common import root_of
from .deploy_report import err, out
from .params import ENV

SERVICES = ("n8n",)


@click.command("import")
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--env", "env", type=ENV, required=True, help="The environment that takes the install over.")
@click.option("--from", "from_url", required=True, metavar="ssh://USER@HOST[:PORT]",
              help="The host the old install runs on (read only).")
@click.option("--project", default=None,
              help="Its Compose project name (`docker compose ls` there); needed when the host runs several.")
@click.option("--compose", "compose", default=None, metavar="FILE",
              help="Or: its compose file on that host (the project that was started from it).")
@click.option("--ssh-key", default=None, metavar="PATH", help="Private key for the source host (default: agent).")
@click.option("--dry-run", is_flag=True, help="Show the mapping, sizes and what would change; change nothing.")
@click.option("--replace", is_flag=True, help="Replace a different key or different n8n data in ENV.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON on stdout.")
@click.pass_context
def import_cmd(ctx: click.Context, service: str, env: str, from_url: str, project: str | None, compose: str | None,
               ssh_key: str | None, dry_run: bool, replace: bool, as_json: bool) -> None:
    """Import an existing Docker Compose install of SERVICE into ENV.

    Reads the old install over SSH (never changes it: it keeps running), maps its settings to
    the catalog's, moves the keys its data depends on into ENV's secrets store (never rotated),
    streams its database dump and files into ENV's stores, and verifies the row counts.

    \b
    Examples:
      zixly import n8n --env staging --from ssh://root@old.example.com --project n8n --dry-run
      zixly import n8n --env staging --from ssh://root@old.example.com --compose /srv/n8n/compose.yaml
    """
    from ..importer.n8n import Options, run_import  # lazy: pyinfra and the renderer load slowly

    if project is not None and compose is not None:
        err.print("give --project NAME or --compose FILE, not both", markup=False)
        ctx.exit(2)
    opts = Options(root_of(ctx), env, from_url, project, compose, ssh_key, dry_run, replace)
    try:
        report = run_import(opts, lambda line: err.print(line, markup=False))
    except ZixlyError as exc:
        err.print(str(exc), markup=False)
        ctx.exit(exc.exit_code)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print(report)
    if report.refused:  # a dry run that shows what would be refused
        ctx.exit(4)


def _print(report: Any) -> None:
    """The human-readable report (an :class:`~zixly_stack.importer.n8n.Report`)."""
    s, t = report.source, report.target
    out.print(f"source: {s['host']} project {s['project']} ({', '.join(s['compose_files'])}); n8n {s['image']}; "
              f"database {s['database']}; key from {s['key_from']}", markup=False)
    out.print(f"target: {t['env']} on {t['host']}: database {t['database']}, volume {t['volume']}, {t['url']}",
              markup=False)
    width = max((len(r.setting) for r in report.rows), default=10)
    for r in report.rows:
        out.print(f"  {r.setting:<{width}}  {r.status:<8}  {r.note}".rstrip(), markup=False)
    unmapped = sum(1 for r in report.rows if r.status == "unmapped")
    if unmapped:
        out.print(f"{unmapped} setting(s) cannot be mapped and are not carried over (see above)", markup=False)
    sizes = ", ".join(f"{k} {_human(v)}" for k, v in report.sizes.items())
    counts = report.counts.get("source", {})
    out.print(f"data: {', '.join(f'{v} {k}' for k, v in counts.items())}; {sizes}", markup=False)
    for note in report.notes:
        out.print(f"note: {note}", markup=False)
    verb = "would be" if report.dry_run else "is"
    out.print(f"key: {verb} {report.key}; data: {verb} {report.data}" + (
        "" if report.dry_run else ("; nothing changed" if not report.changed else "")), markup=False)


def _human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)
