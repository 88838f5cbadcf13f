"""``zixly plan|deploy`` for ``mode: swarm`` environments (called by :mod:`deploy_cmd`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import click

from ..deploy.swarm import deploy_swarm, plan_swarm, swarm_target
from ..errors import ApplyError, LockError
from .deploy_report import err, out
from .prepared import Prepared, notify_deploy

MARKS = {"create": "+", "update": "~", "remove": "-", "unchanged": "="}


def plan_lines(plan: Any) -> list[str]:
    """The human plan: setup steps, networks, service-level changes."""
    lines = [f"swarm {plan.env} (stacks deployed from {plan.manager}; current release: {plan.current or 'none'})"]
    for s in plan.setup:
        lines.append(f"  setup {s.host}: {s.why}")
    for name, internal in plan.networks:
        lines.append(f"  + network {name} (overlay{', internal' if internal else ''})")
    unchanged = 0
    for c in plan.changes:
        if c.action == "unchanged":
            unchanged += 1
            continue
        lines.append(f"  {MARKS[c.action]} service {c.full}: {c.action}" + (f" ({c.detail})" if c.detail else ""))
    counts = {a: sum(c.action == a for c in plan.changes) for a in ("create", "update", "remove")}
    lines.append(f"  {counts['create']} to create, {counts['update']} to update, {counts['remove']} to remove, "
                 f"{unchanged} unchanged" + ("" if plan.changed else " — nothing to do"))
    return lines


def run_plan(ctx: click.Context, prep: Prepared, as_json: bool, detailed_exitcode: bool) -> None:
    """Print the swarm plan; exit like ``zixly plan``."""
    plan = plan_swarm(swarm_target(prep.loaded, prep.files))
    if as_json:
        click.echo(prep.redact(json.dumps(plan.to_json(), indent=2)))
    else:
        for line in plan_lines(plan):
            out.print(prep.redact(line), markup=False)
    if detailed_exitcode:
        ctx.exit(2 if plan.changed else 0)


def _notify(prep: Prepared, result: Any) -> None:
    """The swarm deploy's events: the stack as one "host" named after its manager."""
    run = SimpleNamespace(name=f"swarm {result.env}", status=result.status, error=result.error, hooks=[],
                          plan=SimpleNamespace(release_to=result.release or None))
    notify_deploy(prep, SimpleNamespace(env=result.env, runs=[run], seconds=result.seconds), "deploy")


def run_deploy(prep: Prepared, break_lock: bool, as_json: bool, say: Callable[[str, str], None]) -> None:
    """Deploy a swarm environment, print the result; raise for a failed deploy."""
    result = deploy_swarm(swarm_target(prep.loaded, prep.files), say=say, redact=prep.redact, break_lock=break_lock)
    if as_json:
        click.echo(prep.redact(json.dumps(result.to_json(), indent=2)))
    else:
        if result.plan is not None:
            for line in plan_lines(result.plan):
                out.print(prep.redact(line), markup=False)
        out.print(f"{result.env}: {result.status}" + (f" (release {result.release})" if result.release else "")
                  + f" in {result.seconds:.1f}s", markup=False)
    for f in result.failures:
        err.print(prep.redact(f"{f['service']}: {f['why']}"), markup=False)
        for line in f["tasks"]:
            err.print(prep.redact(f"  task: {line}"), markup=False)
        for line in f["logs"]:
            err.print(prep.redact(f"  log: {line}"), markup=False)
    _notify(prep, result)
    if result.status == "locked":
        raise LockError(result.error)
    if not result.ok:
        raise ApplyError(f"deploy {result.env} {result.status}: {result.error}")
