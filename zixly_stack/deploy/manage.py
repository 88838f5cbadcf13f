"""``rollback`` and ``status``: going back to the previous release, and what runs where.

Contract
--------
* :func:`rollback_env` takes each host's lock, picks the release to return to
  (:func:`zixly_stack.plan.rollback.previous_release`, or ``to``), switches ``current``
  to it with a pyinfra operation and converges every project whose files differ (or
  whose containers are not healthy) from that release, behind the same health gate as a
  deploy. A failing rollback is reported, not rolled back again.
* :func:`status_env` is read-only: per host the current release, the release log's last
  entries, the lock holder and each container's state and health.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import PlanError
from ..plan.facts import HostFacts
from ..plan.model import HostPlan
from ..plan.rollback import previous_release, rollback_projects, target_paths
from ..plan.steps import Converge, HostSteps, RecordRelease, SwitchCurrent
from ..runner.connect import parallel
from . import lock as locks
from .apply import ApplyContext, HostRun, UpgradeGuard
from .hostio import read_facts, read_hashes, read_log, read_texts
from .runner import DeployReport, EnvTarget, execute_runs, open_env, unlock_all

Say = Callable[[str, str], None]


def _plan_rollback(run_: HostRun, et: EnvTarget, to: str | None) -> None:
    target = et.targets[run_.name]
    paths = target.paths
    facts = read_facts(run_.host, run_.name, paths, et.env)
    back = to or previous_release(facts.release, facts.releases, read_log(run_.host, paths, 50))
    if back is None or back not in facts.releases:
        raise PlanError(f"{run_.name}: no release to roll back to" + (f" ({to!r} is not on the host)" if to else ""))
    if back == facts.release:
        raise PlanError(f"{run_.name}: release {back} is already current")
    target_hashes = read_hashes(run_.host, run_.name, paths.release(back))
    texts = read_texts(run_.host, run_.name, paths.release(back), target_paths(target_hashes))
    projects = rollback_projects(facts.files, target_hashes, texts, facts, et.specs.get(run_.name, {}), et.env)
    run_.plan = HostPlan(
        host=run_.name,
        env=et.env,
        base_dir=target.base_dir,
        release_from=facts.release,
        release_to=back,
        projects=tuple(projects),
        releases=facts.releases,
    )
    run_.steps = HostSteps(
        run_.name,
        (
            SwitchCurrent(paths, back),
            Converge(paths, tuple(projects), facts.release, None),
            RecordRelease(paths, back),
        ),
    )


def rollback_env(
    et: EnvTarget,
    *,
    only: Sequence[str] | None = None,
    to: str | None = None,
    break_lock: bool = False,
    redact: Callable[[str], str] = lambda s: s,
    say: Say = lambda host, text: None,
    upgrader: Callable[[HostRun], UpgradeGuard | None] | None = None,
) -> DeployReport:
    """Roll each (chosen) host back (see module doc); *upgrader*: a data rollback's hooks
    (``zixly upgrade ENV --rollback SERVICE``, :mod:`zixly_stack.upgrade.host`)."""
    started = time.monotonic()
    report = DeployReport(et.env)
    session = open_env(et, only)
    runs = {n: HostRun(n, et.targets[n].local, host=session.hosts.get(n)) for n in session.hosts}
    for name, err in session.errors.items():
        report.runs.append(HostRun(name, et.targets[name].local, status="unreachable", error=err))
    try:

        def one(name: str) -> None:
            r = runs[name]
            r.lock = locks.acquire(r.host, et.targets[name].paths, "rollback", break_lock=break_lock)
            if not r.lock.ok:
                r.status = "locked" if r.lock.held_by else "failed"
                r.error = r.lock.error or f"another deploy holds the lock: {r.lock.held_by.describe()}"  # type: ignore[union-attr]
                return
            try:
                _plan_rollback(r, et, to)
            except PlanError as exc:
                r.status, r.error = "failed", str(exc)
                return
            say(name, f"rolling back {r.plan.release_from} -> {r.plan.release_to}")  # type: ignore[union-attr]

        parallel(one, list(runs))
        ctx = ApplyContext(redact=redact, say=say, command="rollback", upgrader=upgrader)
        execute_runs(session, et, runs, ctx)
    finally:
        unlock_all(et, runs)
        session.close()
    report.runs.extend(runs.values())
    report.seconds = time.monotonic() - started
    return report


@dataclass
class HostStatus:
    """What runs on one host."""

    host: str
    facts: HostFacts | None = None
    log: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON view."""
        f = self.facts
        return {
            "host": self.host,
            "error": self.error,
            "release": f.release if f else None,
            "releases": list(f.releases) if f else [],
            "lock": f.lock.describe() if f and f.lock else None,
            "containers": [
                {
                    "name": c.name,
                    "project": c.project,
                    "service": c.service,
                    "status": c.status,
                    "health": c.health,
                    "exit_code": c.exit_code,
                    "ok": c.ok,
                    "started_at": c.started_at,
                    "image": c.ref,
                }
                for c in (f.containers if f else ())
            ],
            "log": self.log,
        }


def status_env(et: EnvTarget, only: Sequence[str] | None = None) -> list[HostStatus]:
    """Read-only status of every (chosen) host."""
    session = open_env(et, only)
    try:

        def one(name: str) -> HostStatus:
            host = session.hosts[name]
            paths = et.targets[name].paths
            try:
                facts = read_facts(host, name, paths, et.env)
            except PlanError as exc:
                return HostStatus(name, error=str(exc))
            log = []
            for line in read_log(host, paths, 5):
                try:
                    log.append(json.loads(line))
                except ValueError:
                    continue
            return HostStatus(name, facts, log)

        out = parallel(one, list(session.hosts))
        out += [HostStatus(n, error=f"unreachable: {e}") for n, e in session.errors.items()]
        return out
    finally:
        session.close()
