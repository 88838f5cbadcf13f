"""The ``zixly`` command line.

Every command: errors are printed as one block (GCC-like for config), no traceback unless
``--debug``; exit codes are stable: 0 ok, 1 failure, 2 configuration error, 3 secrets,
4 lock held, 5 engine missing. Shell completion: ``eval "$(_ZIXLY_COMPLETE=bash_source zixly)"``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import ConfigError, ZixlyError
from .backup_cmd import COMMANDS as _BACKUP_COMMANDS
from .common import err_console, out_console, root_of
from .credentials_cmd import credentials_cmd
from .demo_cmd import demo_group
from .deploy_cmd import COMMANDS as _DEPLOY_COMMANDS
from .doctor_cmd import doctor_cmd
from .drift_cmd import drift_cmd
from .health_cmd import health as _health
from .health_cmd import health_schedule as _health_schedule
from .hooks_cmd import hooks_group
from .images_cmd import images_group
from .import_cmd import import_cmd
from .notify_cmd import notify_group
from .params import ENV
from .secrets_cmd import secrets_group
from .upgrade_cmd import upgrade_cmd

if TYPE_CHECKING:
    from ..project import Loaded

F = TypeVar("F", bound=Callable[..., Any])


def find_root(start: Path) -> Path:
    """The repo root: the nearest parent with ``services/`` and ``inventories/``."""
    for cand in (start, *start.parents):
        if (cand / "services").is_dir() and (cand / "inventories").is_dir():
            return cand
    return Path(__file__).resolve().parents[2]


class ZixlyGroup(click.Group):
    """Runs commands with uniform error handling."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZixlyError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            err_console.print(str(exc), markup=False)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted", markup=False)
            ctx.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: one clear block, the traceback only with --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            where = _innermost_own_frame(exc)
            err_console.print(
                f"internal error: {type(exc).__name__}{where}: {str(exc)[:300]}\n"
                "this is a bug in zixly; rerun with --debug for the traceback and report it",
                markup=False,
            )
            ctx.exit(1)


def _innermost_own_frame(exc: BaseException) -> str:
    """`` at zixly_stack/x.py:N`` for the deepest traceback frame in our package, or ``""``."""
    found = ""
    tb = exc.__traceback__
    while tb is not None:
        path = tb.tb_frame.f_code.co_filename
        if "zixly_stack" in path:
            found = f" at zixly_stack{path.split('zixly_stack', 1)[1]}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


@click.group(cls=ZixlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="ZIXLY_ROOT",
    help="Repo root (default: nearest parent with services/ and inventories/).",
)
@click.option("--debug", is_flag=True, envvar="ZIXLY_DEBUG", help="Show tracebacks.")
@click.version_option(package_name="zixly-stack")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, debug: bool) -> None:
    """Run a small business's self-hosted stack from one git repo.

    \b
    Examples:
      zixly validate production
      zixly render production --out build/production
      zixly secrets list production
    """
    ctx.ensure_object(dict)
    ctx.obj["root"] = (root or find_root(Path.cwd())).resolve()
    ctx.obj["debug"] = debug


@cli.command()
@click.argument("env", type=ENV)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@click.option("--exceptions", "list_exceptions", is_flag=True,
              help="List the hardening exceptions ENV's containers carry (service, container, rule, reason).")
@click.pass_context
def validate(ctx: click.Context, env: str, as_json: bool, list_exceptions: bool) -> None:
    """Check ENV's configuration and the catalog; print every problem at once.

    Also renders ENV in memory (stand-in secret values; the secrets store is not opened) and
    judges the output with every rule -- hardening, Traefik rules, file modes and each
    host's memory budget -- so what validate accepts, render renders.

    \b
    Example:
      zixly validate staging                # exit 0 when valid, 2 with file:line:col errors
      zixly validate production --exceptions
    """
    # lazy: keeps the CLI start-up fast
    from ..project import check_rendered, load

    try:
        loaded = load(root_of(ctx), env)
        check_rendered(loaded)
    except ConfigError as exc:
        if as_json:
            probs = [
                {
                    "file": p.loc.file,
                    "line": p.loc.line,
                    "col": p.loc.col,
                    "path": p.path,
                    "message": p.message,
                    "hint": p.hint,
                }
                for p in exc.problems
            ]
            click.echo(json.dumps({"valid": False, "problems": probs}, indent=2))
            ctx.exit(exc.exit_code)
        raise
    hosts = loaded.stack.host_names()
    rows = exception_rows(loaded) if list_exceptions else []
    if as_json:
        doc: dict[str, Any] = {"valid": True, "environment": env, "services": list(loaded.stack.services),
                               "hosts": hosts}
        if list_exceptions:
            doc["exceptions"] = rows
        click.echo(json.dumps(doc, indent=2))
        return
    out_console.print(f"{env}: valid — {len(loaded.stack.services)} services on {len(hosts)} host(s)", markup=False)
    if list_exceptions:
        _print_exceptions(env, rows)


def exception_rows(loaded: Loaded) -> list[dict[str, str]]:
    """Every hardening exception of the environment's containers, in deploy order."""
    return [{"service": name, "container": cname, "rule": e.rule, "reason": " ".join(e.reason.split())}
            for name, svc in loaded.stack.services.items() for cname, c in svc.containers.items()
            for e in c.exceptions]


def _print_exceptions(env: str, rows: list[dict[str, str]]) -> None:
    if not rows:
        out_console.print(f"{env}: no hardening exceptions", markup=False)
        return
    out_console.print(f"{len(rows)} hardening exception(s) in {env} (service / container / rule: reason):",
                      markup=False)
    for r in rows:
        out_console.print(f"  {r['service']} / {r['container']} / {r['rule']}: {r['reason']}", markup=False,
                          soft_wrap=True)


@cli.command()
@click.argument("env", type=ENV)
@click.option("--out", type=click.Path(path_type=Path),
              help="Output dir (default build/ENV): absent, empty, or a tree zixly rendered before.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest summary as JSON.")
@click.pass_context
def render(ctx: click.Context, env: str, out: Path | None, as_json: bool) -> None:
    """Render ENV's Compose, Traefik and env files for every host.

    Generates missing secrets once (stored encrypted), never rotates existing ones; needs
    ENV's store (`zixly secrets init ENV`, or `zixly up` for this machine's environment):
    a missing store is an error, never a fresh start. Writes nothing when the
    configuration is invalid. The output directory is replaced atomically, and only if it
    is absent, empty, or a tree zixly rendered before (it holds .zixly-render.json and
    nothing else); other files there are never deleted (docs/inputs.md).

    \b
    Example:
      zixly render production --out /tmp/prod
    """
    # lazy: keeps the CLI start-up fast
    from ..project import load, render_and_write

    root = root_of(ctx)
    started = time.perf_counter()
    loaded = load(root, env)
    target = out or root / "build" / env
    files = render_and_write(loaded, target)
    took = time.perf_counter() - started
    if as_json:
        click.echo(
            json.dumps(
                {
                    "out": str(target),
                    "files": len(files),
                    "hosts": loaded.stack.host_names(),
                    "seconds": round(took, 3),
                },
                indent=2,
            )
        )
        return
    out_console.print(
        f"rendered {len(files)} files for {len(loaded.stack.host_names())} host(s) into {target} in {took:.2f}s",
        markup=False,
    )


for _command in (secrets_group, *_DEPLOY_COMMANDS, images_group, _health, _health_schedule, hooks_group, demo_group,
                 doctor_cmd, notify_group, credentials_cmd, drift_cmd, import_cmd, *_BACKUP_COMMANDS,
                 upgrade_cmd):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    cli.main(prog_name="zixly")
    sys.exit(0)
