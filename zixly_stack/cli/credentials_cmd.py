"""``zixly credentials ENV [APP] [--reveal] [--json]``: who signs in where, and the sign-in table.

Without ``--reveal`` nothing is decrypted and no password is printed: each app's sign-in
URL, user and the command that reveals its password (masked). ``--reveal`` needs one APP
and prints only that password (like ``zixly secrets show ENV NAME --reveal``), or with
``--json`` that app's row plus ``"password"``. :func:`print_sign_in` is the table that ends
``zixly up``, ``deploy`` and ``demo up``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..config.problems import did_you_mean
from ..deploy.signin import SignInRow, apps_with_sign_in, sign_in_rows
from ..errors import ConfigError, Location, Problem
from ..secrets import MASK
from .common import make_console
from .params import ENV
from .secrets_cmd import stored_entry

if TYPE_CHECKING:
    from ..project import Loaded


def sign_in_table(rows: list[SignInRow], title: str = "sign in") -> Table:
    """App, sign-in URL, user and the password's reveal command (never the password)."""
    table = Table(title=title, title_justify="left")
    table.add_column("app", no_wrap=True)
    table.add_column("sign in at", no_wrap=True)  # a URL to copy: never broken over lines
    table.add_column("user", no_wrap=True)
    table.add_column("password", overflow="fold")
    for r in rows:
        password = f"{MASK}  [dim]{escape(r.reveal)}[/]" if not r.standin else "[bold yellow]STAND-IN[/] (no sign-in)"
        table.add_row(escape(r.app), escape(r.url), escape(r.user), password)
    return table


def print_sign_in(loaded: Loaded, console: Console, title: str = "sign in", rows: list[SignInRow] | None = None,
                  reveal_root: Path | None = None) -> None:
    """The sign-in table (every app, or *rows*), then per stand-in how the real app's first admin is made."""
    rows = sign_in_rows(loaded, reveal_root=reveal_root) if rows is None else rows
    if not rows:
        return
    console.print(sign_in_table(rows, title))
    for r in rows:
        if r.standin:
            console.print(f"  {r.note}", markup=False)


def _unknown_app(loaded: Loaded, env: str, app: str) -> ConfigError:
    known = apps_with_sign_in(loaded)
    hint = did_you_mean(app, known) or ("apps with a sign-in: " + ", ".join(known) if known else "")
    return ConfigError([Problem(Location(f"inventories/{env}/environment.yaml"), "", f"no app {app!r} with a "
                                f"sign-in in {env}", hint)])


@click.command("credentials")
@click.argument("env", type=ENV)
@click.argument("app", required=False)
@click.option("--reveal", is_flag=True, help="Print APP's password: only the value (with --json: in the JSON).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def credentials_cmd(ctx: click.Context, env: str, app: str | None, reveal: bool, as_json: bool) -> None:
    """Each app's sign-in URL, user and how to reveal its password (masked unless --reveal).

    \b
    Examples:
      zixly credentials local              # the table; no password is printed
      zixly credentials local n8n --reveal # n8n owner's password, nothing else
      zixly credentials local n8n --reveal --json
    """
    # lazy: keeps the CLI start-up fast
    from ..project import load

    if reveal and app is None:
        raise click.UsageError("--reveal prints one password: name the APP (see `zixly credentials ENV`)")
    loaded = load(ctx.obj["root"], env)
    rows = sign_in_rows(loaded, app)
    if app is not None and not rows:
        raise _unknown_app(loaded, env, app)
    if reveal:
        password = stored_entry(ctx, env, rows[0].secret).value.reveal()
        click.echo(json.dumps({**rows[0].to_json(), "password": password}, indent=2) if as_json else password)
        return
    if as_json:
        click.echo(json.dumps([r.to_json() for r in rows], indent=2))
        return
    print_sign_in(loaded, make_console(), f"sign in to {env}", rows)
