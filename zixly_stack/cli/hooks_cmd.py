"""``zixly hooks ...``: list and run an environment's post-deploy hooks.

Exported as :data:`hooks_group` (registered by the main CLI). ``run`` executes the hooks
of an environment: those of ``@local`` hosts through this machine's Docker engine, those of
remote hosts over SSH (the deploy's connection, ``docker exec`` there), with secrets from
the environment's encrypted store (never printed, on stdin only); those of swarm environments
through the first manager, on the node running each task. Exit status: 0 when every
hook is ``ok``/``unchanged``/``n/a``, 1 when any is degraded, skipped or failed or a host is
unreachable, 2 for configuration errors, 3 when the secrets store cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..hooks.local_run import hooks_on_host, open_secrets, run_local, run_remote
from ..hooks.runner import HookOutcome, HooksReport, plan_hooks
from .common import make_console
from .params import ENV

if TYPE_CHECKING:
    from ..project import Loaded

out = make_console()

MARK = {"ok": "changed", "unchanged": "unchanged", "degraded": "DEGRADED", "failed": "FAILED", "skipped": "SKIPPED",
        "n/a": "n/a"}


def _root(ctx: click.Context) -> Path:
    return Path(ctx.obj["root"]) if ctx.obj and ctx.obj.get("root") else Path.cwd()


@click.group("hooks")
def hooks_group() -> None:
    """Post-deploy hooks: warehouse schema, n8n workflows, Metabase dashboards, first admins."""


@hooks_group.command("list")
@click.argument("env", type=ENV)
@click.pass_context
def list_cmd(ctx: click.Context, env: str) -> None:
    """Print ENV's hooks in the order they run, with what each needs.

    \b
    Example:
      zixly hooks list local
    """
    # lazy: keeps the CLI start-up fast
    from ..project import load

    loaded = load(_root(ctx), env)
    for ph in plan_hooks(loaded.stack):
        needs = f" (needs {', '.join(ph.hook.needs)})" if ph.hook.needs else ""
        out.print(f"{ph.name}  [{ph.service}] {ph.hook.run} timeout {ph.hook.timeout}, retries "
                  f"{ph.hook.retries}, on failure {ph.hook.on_failure}{needs}", markup=False)


@hooks_group.command("run")
@click.argument("env", type=ENV)
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
    # lazy: keeps the CLI start-up fast
    from ..project import load

    loaded = load(_root(ctx), env)
    plan_hooks(loaded.stack, only)  # configuration errors (unknown --only names) before anything runs
    hosts = loaded.config.hosts.hosts
    remote = [n for n in loaded.stack.host_names() if hosts[n].address != "@local"]

    def show(o: HookOutcome) -> None:
        if not as_json:
            out.print(f"{o.name:<22} {MARK[o.status]:<10} {o.seconds:6.1f}s  {o.summary}", markup=False)

    unreachable: dict[str, str] = {}
    if loaded.config.environment.mode == "swarm":
        # lazy: keeps the CLI start-up fast
        from .swarm_cmd import run_hooks

        report, unreachable = run_hooks(loaded, only, show)
    elif not remote:
        report = run_local(loaded, only=only, on_outcome=show)
    else:
        report, unreachable = HooksReport(), {}
        secrets = open_secrets(loaded)
        local = [n for h in loaded.stack.host_names() if h not in remote for n in hooks_on_host(loaded, h)
                 if not only or n in only]
        if local:
            report.outcomes += run_local(loaded, only=local, secrets=secrets, on_outcome=show).outcomes
        report.outcomes += _run_remote(loaded, remote, only, secrets, show, unreachable).outcomes
    for host, why in unreachable.items():
        click.echo(f"{host}: unreachable: {why}", err=True)
    if as_json:
        click.echo(json.dumps({"environment": env, "status": report.status, "hooks": [
            {"name": o.name, "service": o.service, "status": o.status, "summary": o.summary, "attempts": o.attempts,
             "seconds": round(o.seconds, 2)} for o in report.outcomes]}, indent=2))
    else:
        out.print(f"hooks: {report.status}", markup=False)
    if report.status != "ok" or unreachable:
        ctx.exit(1)


def _run_remote(loaded: Loaded, hosts: list[str], only: tuple[str, ...], secrets: Any, show: Any,
                unreachable: dict[str, str]) -> Any:
    """Each remote host's hooks over one SSH session (hosts one after the other)."""
    # lazy: keeps the CLI start-up fast
    from ..runner.connect import open_session

    report = HooksReport()
    session = open_session({h: loaded.config.hosts.hosts[h] for h in hosts})
    try:
        unreachable.update(session.errors)
        for host, connection in session.hosts.items():
            names = [n for n in hooks_on_host(loaded, host) if not only or n in only]
            if names:
                report.outcomes += run_remote(loaded, host, connection, only=names, secrets=secrets,
                                              on_outcome=show).outcomes
    finally:
        session.close()
    return report
