"""``zixly plan|deploy`` for ``mode: swarm`` environments (called by :mod:`deploy_cmd`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import click

from ..deploy.swarm import deploy_swarm, plan_swarm, swarm_target
from ..deploy.swarm_prepare import plan_text
from ..errors import ApplyError, LockError
from ..plan.upgrade import upgrade_lines
from .deploy_report import err, out
from .prepared import Prepared, notify_deploy

MARKS = {"create": "+", "update": "~", "remove": "-", "unchanged": "="}


def plan_lines(plan: Any) -> list[str]:
    """The human plan: setup steps, networks, service-level changes."""
    lines = [f"swarm {plan.env} (stacks deployed from {plan.manager}; current release: {plan.current or 'none'})"]
    lines += plan_text(plan.prepare, plan.warnings)
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
    lines += upgrade_lines(plan.upgrades, swarm=True)
    counts = {a: sum(c.action == a for c in plan.changes) for a in ("create", "update", "remove")}
    prepared = sum(len(c) for c in plan.prepare.values())
    head = f"{prepared} preparation step(s), " if prepared else ""
    lines.append(f"  {head}{counts['create']} to create, {counts['update']} to update, {counts['remove']} to remove, "
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


def run_deploy(prep: Prepared, break_lock: bool, as_json: bool, say: Callable[[str, str], None],
               hooks: bool = True) -> None:
    """Deploy a swarm environment, then (when something changed) run its hooks through the first
    manager; print the result; raise for a failed deploy or a failed ``on_failure: fail`` hook."""
    result = deploy_swarm(swarm_target(prep.loaded, prep.files), say=say, redact=prep.redact, break_lock=break_lock)
    outcomes: list[Any] = []
    if hooks and result.ok and result.status == "changed":
        def show(o: Any) -> None:
            say("hooks", prep.redact(f"{o.name}: {o.status} - {o.summary}"))

        report, unreachable = run_hooks(prep.loaded, (), show, secrets=prep.secrets.values if prep.secrets else None)
        outcomes = report.outcomes
        for host, why in unreachable.items():
            say(host, f"hooks: unreachable: {why}")
    if as_json:
        doc = result.to_json()
        doc["hooks"] = [{"name": o.name, "service": o.service, "status": o.status, "summary": o.summary}
                        for o in outcomes]
        click.echo(prep.redact(json.dumps(doc, indent=2)))
    else:
        if result.plan is not None:
            for line in plan_lines(result.plan):
                out.print(prep.redact(line), markup=False)
        out.print(f"{result.env}: {result.status}" + (f" (release {result.release})" if result.release else "")
                  + f" in {result.seconds:.1f}s", markup=False)
        for o in outcomes:
            out.print(prep.redact(f"  hook {o.name}: {o.status} - {o.summary}"), markup=False)
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
    failed = [o.name for o in outcomes if o.status == "failed"]
    if failed:
        raise ApplyError(f"deploy {result.env}: hook(s) declared `on_failure: fail` failed: {', '.join(failed)}. "
                         f"The new release is running (hooks never roll back data); fix the cause, then "
                         f"`zixly hooks run {result.env}`")


# --- status, rollback, images load --------------------------------------------------------------


def print_swarm_status(env: str, manager: str, status: Any) -> None:
    """The human status: release, nodes, then each service with its tasks (node, state, error)."""
    out.print(f"swarm {env} (manager {manager}): release {status.release or '(none)'}", markup=False)
    for n in status.nodes:
        out.print(f"  node {n['hostname']}" + (f" ({n['host']})" if n["host"] else "")
                  + f": {n['role']}, {n['state']}, {n['addr']}", markup=False)
    for s in status.services:
        mark = "ok" if s.ok else "NOT OK"
        update = f", update {s.update_state}" if s.update_state else ""
        out.print(f"  service {s.name}: {s.mode} {s.running}/{s.desired} {mark} (spec {s.spec_hash or '?'}{update})",
                  markup=False)
        for task in s.tasks:
            error = f" — {task.error}" if task.error else ""
            out.print(f"    task {task.name} on {task.node}: {task.state}{error}", markup=False)
    for entry in status.log[-3:]:
        out.print(f"  {entry.get('at')} {entry.get('status')} {entry.get('release')}", markup=False)


def status_json(env: str, manager: str, status: Any) -> dict[str, Any]:
    """Machine-readable status."""
    return {"environment": env, "mode": "swarm", "manager": manager, "ok": status.ok, "release": status.release,
            "releases": status.releases, "log": status.log, "nodes": status.nodes,
            "services": [{"name": s.name, "mode": s.mode, "running": s.running, "desired": s.desired, "ok": s.ok,
                          "spec_hash": s.spec_hash, "update_state": s.update_state,
                          "tasks": [{"name": t.name, "node": t.node, "state": t.state, "error": t.error,
                                     "image": t.image} for t in s.tasks]} for s in status.services]}


def run_status(ctx: click.Context, prep: Prepared, as_json: bool) -> None:
    """``zixly status`` of a swarm environment; exit 1 unless every service runs all its tasks."""
    # lazy: keeps the CLI start-up fast
    from ..deploy.swarm_ops import status_swarm

    t = swarm_target(prep.loaded, prep.files)
    status = status_swarm(t)
    if as_json:
        click.echo(prep.redact(json.dumps(status_json(t.env, t.manager, status), indent=2)))
    else:
        print_swarm_status(t.env, t.manager, status)
    if not status.ok:
        ctx.exit(1)


def run_rollback(prep: Prepared, to: str | None, break_lock: bool, as_json: bool,
                 say: Callable[[str, str], None]) -> None:
    """``zixly rollback`` of a swarm environment; raise when it failed."""
    # lazy: keeps the CLI start-up fast
    from ..deploy.swarm_ops import rollback_swarm

    result, plan = rollback_swarm(swarm_target(prep.loaded, prep.files), to=to, say=say, redact=prep.redact,
                                  break_lock=break_lock)
    if as_json:
        doc = result.to_json()
        doc["changes"] = [{"service": n, "change": why} for n, why in plan.changes] if plan else []
        click.echo(prep.redact(json.dumps(doc, indent=2)))
    else:
        out.print(f"{result.env}: {result.status}" + (f" (release {result.release})" if result.release else "")
                  + f" in {result.seconds:.1f}s", markup=False)
    for f in result.failures:
        err.print(prep.redact(f"{f['service']}: {f['why']}"), markup=False)
        for line in f["tasks"] + f["logs"]:
            err.print(prep.redact(f"  {line}"), markup=False)
    if result.status == "locked":
        raise LockError(result.error)
    if not result.ok:
        raise ApplyError(f"rollback {result.env} {result.status}: {result.error}")


def image_refs(prep: Prepared) -> dict[str, list[str]]:
    """``host -> images`` its swarm node may run (placement constraints against its node labels and role)."""
    # lazy: keeps the CLI start-up fast
    from ..plan.swarm import managers
    from ..plan.swarm_ops import node_images

    t = swarm_target(prep.loaded, prep.files)
    return node_images(t.stacks(), t.labels, managers(t.hosts))


def load_images(prep: Prepared, hosts: tuple[str, ...], from_file: Any, say: Callable[[str, str], None]) -> Any:
    """``zixly images load`` of a swarm environment: each node gets the images of the services it may run."""
    # lazy: keeps the CLI start-up fast
    from ..deploy.env_images import load_session
    from ..errors import PlanError
    from ..runner.connect import is_local, open_session

    t = swarm_target(prep.loaded, prep.files)
    unknown = [h for h in hosts if h not in t.hosts]
    if unknown:
        raise PlanError(f"unknown host(s) for {t.env}: {', '.join(unknown)}; hosts: {', '.join(t.hosts)}")
    chosen = {n: h for n, h in t.hosts.items() if not hosts or n in hosts}
    local = {n: is_local(h) for n, h in chosen.items()}
    return load_session(open_session(chosen), local, image_refs(prep), from_file=from_file, say=say)


def run_hooks(loaded: Any, only: Any, on_outcome: Any, secrets: Any = None) -> tuple[Any, dict[str, str]]:
    """The environment's hooks through its first manager, on the nodes running each task
    (:mod:`zixly_stack.hooks.swarm`); returns the report and the unreachable hosts."""
    # lazy: keeps the CLI start-up fast
    from ..hooks.runner import HooksReport
    from ..hooks.swarm import run_swarm
    from ..render.swarm import manager_host
    from ..runner.connect import open_session

    manager = manager_host(loaded.stack)
    session = open_session(dict(loaded.config.hosts.hosts))
    try:
        if manager not in session.hosts:
            return HooksReport(), dict(session.errors)
        report = run_swarm(loaded, manager, session.hosts, only=only, secrets=secrets, on_outcome=on_outcome)
        return report, dict(session.errors)
    finally:
        session.close()
