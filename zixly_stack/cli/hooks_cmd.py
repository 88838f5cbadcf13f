"""``zixly hooks ...``: list and run an environment's post-deploy hooks.

Exported as :data:`hooks_group` (registered by the main CLI). ``run`` executes the hooks
of an environment whose hosts are all ``@local`` through this machine's Docker engine,
with secrets from the environment's encrypted store (never printed). Exit status: 0 when
every hook is ``ok``/``unchanged``, 1 when any is degraded, skipped or failed, 2 for
configuration errors, 3 when the secrets store cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from ..errors import ApplyError
from ..hooks.runner import HookOutcome

out = Console(highlight=False, soft_wrap=True)

MARK = {"ok": "changed", "unchanged": "unchanged", "degraded": "DEGRADED", "failed": "FAILED", "skipped": "SKIPPED",
        "n/a": "n/a"}


def _root(ctx: click.Context) -> Path:
    return Path(ctx.obj["root"]) if ctx.obj and ctx.obj.get("root") else Path.cwd()


@click.group("hooks")
def hooks_group() -> None:
    """Post-deploy hooks: warehouse schema, n8n workflows, Metabase dashboards, first admins."""


@hooks_group.command("list")
@click.argument("env")
@click.pass_context
def list_cmd(ctx: click.Context, env: str) -> None:
    """Print ENV's hooks in the order they run, with what each needs.

    \b
    Example:
      zixly hooks list local
    """
    from ..hooks.runner import plan_hooks
    from ..project import load

    loaded = load(_root(ctx), env)
    for ph in plan_hooks(loaded.stack):
        needs = f" (needs {', '.join(ph.hook.needs)})" if ph.hook.needs else ""
        out.print(f"{ph.name}  [{ph.service}] {ph.hook.run} timeout {ph.hook.timeout}, retries "
                  f"{ph.hook.retries}, on failure {ph.hook.on_failure}{needs}", markup=False)


@hooks_group.command("run")
@click.argument("env")
@click.option("--only", "only", multiple=True, metavar="NAME", help="Run only this hook (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.pass_context
def run_cmd(ctx: click.Context, env: str, only: tuple[str, ...], as_json: bool) -> None:
    """Run ENV's post-deploy hooks against the running stack (idempotent: a rerun changes nothing).

    \b
    Examples:
      zixly hooks run local
      zixly hooks run local --only n8n-workflows
    """
    from ..hooks.local_run import run_local
    from ..project import load

    loaded = load(_root(ctx), env)
    remote = [n for n, h in loaded.config.hosts.hosts.items() if h.address != "@local"]
    if remote:
        raise ApplyError(f"{env}: hooks on remote hosts ({', '.join(remote)}) run during `zixly deploy`; "
                         "`zixly hooks run` drives this machine's Docker engine only")

    def show(o: HookOutcome) -> None:
        if not as_json:
            out.print(f"{o.name:<22} {MARK[o.status]:<10} {o.seconds:6.1f}s  {o.summary}", markup=False)

    report = run_local(loaded, only=only, on_outcome=show)
    if as_json:
        click.echo(json.dumps({"environment": env, "status": report.status, "hooks": [
            {"name": o.name, "service": o.service, "status": o.status, "summary": o.summary, "attempts": o.attempts,
             "seconds": round(o.seconds, 2)} for o in report.outcomes]}, indent=2))
    else:
        out.print(f"hooks: {report.status}", markup=False)
    if report.status != "ok":
        ctx.exit(1)
