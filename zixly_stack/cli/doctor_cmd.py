"""``zixly doctor [ENV] [--json]``: check this machine for running ENV and say what to fix.

Exit 0 when nothing must be fixed (warnings allowed), 1 otherwise. A table on a terminal,
one line per check elsewhere (``ok|warn|FAIL  check: detail`` then ``  fix: ...``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
from rich.table import Table

from ..errors import ZixlyError
from .common import err_console, out_console, root_of
from .params import ENV

if TYPE_CHECKING:
    from rich.console import Console

    from ..doctor import Finding


@click.command("doctor")
@click.argument("env", type=ENV, default="local")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable findings on stdout.")
@click.pass_context
def doctor_cmd(ctx: click.Context, env: str, as_json: bool) -> None:
    """Check this machine for running ENV (default: local) and say what to fix.

    Engine and API version, Compose v2 plugin, storage driver, free disk and memory
    against what ENV needs, ports 80/443 on the edge's bind address, the age key, the
    Debian tools. Changes nothing. Exit 0 when all is well (warnings allowed), 1 otherwise.

    \b
    Examples:
      zixly doctor
      zixly doctor staging --json
    """
    # lazy: keeps the CLI start-up fast
    from ..doctor import diagnose, ok, to_json

    # lazy: keeps the CLI start-up fast
    from ..project import load

    loaded = None
    try:
        loaded = load(root_of(ctx), env)
    except ZixlyError as exc:
        err_console.print(f"doctor: {env} does not load; machine checks only:\n{exc}", markup=False)
    findings = diagnose(loaded, env)
    if as_json:
        click.echo(to_json(findings, env))
    elif out_console.is_terminal:
        _table(findings, env, out_console)
    else:
        for f in findings:
            click.echo(f"{ {'ok': 'ok  ', 'warn': 'warn', 'fail': 'FAIL'}[f.status]}  {f.check}: {f.detail}")
            if f.fix:
                click.echo(f"      fix: {f.fix}")
        click.echo(f"doctor: {'ready' if ok(findings) else 'fix the FAIL lines above'} ({env})")
    if not ok(findings):
        sys.exit(1)


def _table(findings: list[Finding], env: str, console: Console) -> None:
    # lazy: keeps the CLI start-up fast
    from ..doctor import ok

    table = Table(title=f"zixly doctor: this machine for {env}", title_justify="left")
    for col in ("", "check", "found", "what to fix"):
        table.add_column(col)
    marks = {"ok": "[green]✔[/]", "warn": "[yellow]![/]", "fail": "[bold red]✘[/]"}
    for f in findings:
        table.add_row(marks[f.status], f.check, f.detail, f.fix)
    console.print(table)
    console.print("[green]ready[/]" if ok(findings) else "[bold red]fix the ✘ rows above[/]")
