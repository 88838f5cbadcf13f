"""``mode: swarm``: ``zixly status`` and ``zixly rollback`` through the first manager.

Contract
--------
* :func:`status_swarm` is read-only: one round trip to the first manager
  (:func:`zixly_stack.plan.swarm_ops.status_script`): release, nodes, services with
  replicas and spec hashes, and every task that should run with its node and state.
* :func:`rollback_swarm` takes the deploy lock on the first manager, picks the release to
  return to (``to``, else :func:`~zixly_stack.plan.swarm_ops.rollback_target`), reads that
  release's stack files there (the release directory keeps the stack files and every file
  they reference, secrets 0600: no render, no secrets store needed), and deploys again
  every stack whose services differ by spec hash (``docker stack deploy --prune`` from the
  release directory), removes stacks the release does not have, and waits for the changed
  services to converge under ``swarm.converge_timeout``. Converged: ``current`` points at
  that release and the log records ``rolled back to``; not converged: the failing services
  are reported and ``current`` stays (a failed rollback is not rolled back again).
"""

from __future__ import annotations

import posixpath
import shlex
import time
from collections.abc import Callable
from typing import Any

import yaml

from ..commands import swarm as cmd
from ..errors import PlanError
from ..plan.swarm import facts_script, missing_networks, parse_facts
from ..plan.swarm_ops import RollbackPlan, SwarmStatus, parse_status, rollback_stacks, rollback_target, status_script
from ..runner.connect import open_session, run
from . import lock as locks
from .swarm import Say, SwarmRun, SwarmTarget, _client_major, _failure, _must, _switch_current, wait_converged

__all__ = ["read_status", "rollback_swarm", "status_swarm"]

FILE_MARK = "@@zixly-file "


def _manager(t: SwarmTarget) -> Any:
    session = open_session({t.manager: t.hosts[t.manager]})
    if session.errors:
        session.close()
        raise PlanError(f"{t.manager}: unreachable: {session.errors[t.manager]}")
    return session


def read_status(host: Any, t: SwarmTarget) -> SwarmStatus:
    """The environment's status as the first manager (connected *host*) sees it."""
    script = status_script(t.env, t.paths.root, t.paths.current, facts_script(t.env, t.paths.current))
    res = run(host, script, timeout=120)
    addresses = {h.address: name for name, h in t.hosts.items()}
    return parse_status(res.stdout, t.manager, addresses)


def status_swarm(t: SwarmTarget) -> SwarmStatus:
    """Read-only status (module doc)."""
    session = _manager(t)
    try:
        return read_status(session.hosts[t.manager], t)
    finally:
        session.close()


def _release_stacks(host: Any, t: SwarmTarget, release: str) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """``project -> stack doc`` of a release on the manager, in its manifest's order, and the manifest."""
    base = posixpath.join(t.paths.releases, release)
    script = (f"cd {shlex.quote(base)} && echo '{FILE_MARK}manifest.json' && cat manifest.json && "
              f"for f in */stack.yaml; do echo \"{FILE_MARK}$f\"; cat \"$f\"; done")
    res = run(host, script, timeout=120)
    if not res.ok:
        raise PlanError(f"{t.manager}: cannot read release {release}: {(res.stderr or res.stdout).strip()[-300:]}")
    texts: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for line in res.stdout.splitlines():
        if line.startswith(FILE_MARK):
            cur = texts.setdefault(line[len(FILE_MARK):].strip(), [])
        elif cur is not None:
            cur.append(line)
    meta: dict[str, Any] = yaml.safe_load("\n".join(texts.get("manifest.json", []))) or {}
    stacks: dict[str, dict[str, Any]] = {}
    for project in meta.get("stacks", []):
        rel = f"{str(project).removeprefix(f'zixly-{t.env}-')}/stack.yaml"
        if rel not in texts:
            raise PlanError(f"{t.manager}: release {release} has no {rel}")
        stacks[str(project)] = yaml.safe_load("\n".join(texts[rel]))
    return stacks, meta


def rollback_swarm(t: SwarmTarget, *, to: str | None = None, say: Say, redact: Callable[[str], str],
                   break_lock: bool = False) -> tuple[SwarmRun, RollbackPlan | None]:
    """Roll the environment back to a previous release (module doc)."""
    started = time.monotonic()
    result = SwarmRun(t.env)
    plan: RollbackPlan | None = None
    try:
        session = _manager(t)
    except PlanError as exc:
        result.status, result.error = "unreachable", str(exc)
        return result, None
    lead = session.hosts[t.manager]
    try:
        got = locks.acquire(lead, t.paths, "rollback", break_lock=break_lock)
        if not got.ok:
            result.status = "locked"
            result.error = got.error or f"deploy lock held by {got.held_by}"
            return result, None
        try:
            plan = _rollback(lead, t, to, result, say, redact)
        finally:
            locks.release(lead, t.paths, got.token)
    except PlanError as exc:
        result.status, result.error = "failed", str(exc)
    finally:
        session.close()
        result.seconds = time.monotonic() - started
    return result, plan


def _rollback(lead: Any, t: SwarmTarget, to: str | None, result: SwarmRun, say: Say,
              redact: Callable[[str], str]) -> RollbackPlan:
    status = read_status(lead, t)
    back = to or rollback_target(status.release, status.releases, status.log)
    if back is None or back not in status.releases:
        raise PlanError(f"{t.manager}: no release to roll back to" + (f" ({to!r} is not on the host)" if to else ""))
    if back == status.release:
        raise PlanError(f"{t.manager}: release {back} is already current")
    stacks, meta = _release_stacks(lead, t, back)
    _, cluster = parse_facts(run(lead, facts_script(t.env, t.paths.current), timeout=120).stdout, t.manager)
    plan = rollback_stacks(back, stacks, cluster.services)
    say(t.manager, f"rolling back {status.release or '(none)'} -> {back}: "
                   + (", ".join(f"{n} {why}" for n, why in plan.changes) or "services already match"))
    result.release = back
    for name, internal in missing_networks(meta, cluster.networks):
        _must(lead, t.manager, cmd.network_create(name, t.env, internal=internal), "docker network create")
    client = run(lead, shlex.join(cmd.client_version()), timeout=60).stdout.strip()
    for stack in plan.remove:
        say(t.manager, f"remove stack {stack} (not in release {back})")
        _must(lead, t.manager, cmd.stack_rm(stack), "docker stack rm")
    for stack in plan.deploy:
        svc_dir = posixpath.join(t.paths.releases, back, stack.removeprefix(f"zixly-{t.env}-"))
        say(t.manager, f"docker stack deploy {stack} (release {back})")
        argv = cmd.stack_deploy("stack.yaml", stack, detach_flag=_client_major(client) >= 26)
        res = run(lead, f"cd {shlex.quote(svc_dir)} && " + shlex.join(argv), timeout=600)
        if not res.ok:
            result.status = "failed"
            result.error = redact(f"docker stack deploy {stack}: {(res.stderr or res.stdout).strip()[-600:]}")
            return plan
    names = [n for n, why in plan.changes if not why.startswith("remove")]
    ok, states = wait_converged(lead, t.env, names, t.timeout, say, t.manager) if names else (True, {})
    if not ok:
        bad = [n for n in names if states.get(n) is None or states[n]["running"] != states[n]["desired"]
               or states[n]["update_state"] not in ("", "completed")]
        result.failures = [_failure(lead, n, states.get(n), redact) for n in bad or names]
        result.status, result.error = "failed", "did not converge: " + ", ".join(bad or names)
        return plan
    _switch_current(lead, t, back, "rolled back to")
    result.status = "changed"
    say(t.manager, f"converged: {len(names)} service(s); current -> {back}")
    return plan
