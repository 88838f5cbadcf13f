"""Plan and deploy an environment: connect, lock, read facts, plan, execute, report.

Contract
--------
* :func:`plan_env` is read-only: it connects, reads each host's facts (one round trip,
  plus one to fetch old texts of changed non-secret files for diffs) and returns the
  :class:`~zixly_stack.plan.model.Plan`. It takes no lock and changes nothing.
* :func:`deploy_env` takes each host's lock (refusing a held one unless stale or
  ``break_lock``), plans, and executes the plan's steps through pyinfra, all hosts in
  parallel. A host with nothing to change gets no operation at all and reports
  ``unchanged``; the locks are released in every case (a cut connection leaves a stale
  lock that the next run from this machine reclaims).
* Every host ends ``unchanged``, ``changed``, ``failed``, ``rolled back``,
  ``unreachable`` or ``locked``; :attr:`DeployReport.ok` is True only when none failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.healthchecks import load_settings
from ..errors import PlanError
from ..health.schedule import render_schedule
from ..models.environment import Host as HostModel
from ..plan import spec
from ..plan.compute import ProjectSpec, Target, host_files, plan_host, texts_needed
from ..plan.drift import drift_dirs
from ..plan.facts import HostFacts, facts_script, parse_facts
from ..plan.model import HostPlan, Plan
from ..plan.release_files import load_compose
from ..plan.steps import KeepEdited, host_steps
from ..plan.upgrade import UpgradeInputs, refuse_moves, upgrade_inputs
from ..project import Loaded
from ..render.tree import RenderedFile
from ..runner.connect import Session, open_session, parallel
from . import lock as locks
from .apply import ApplyContext, HookRunner, HostJob, HostRun, UpgradeGuard
from .hostio import read_facts, read_texts
from .images import local_image_ids

Say = Callable[[str, str], None]


@dataclass(frozen=True)
class EnvTarget:
    """An environment ready to plan: its hosts, targets, specs and rendered files."""

    env: str
    hosts: dict[str, HostModel]
    targets: dict[str, Target]
    specs: dict[str, dict[str, ProjectSpec]]
    files: tuple[RenderedFile, ...]
    upgrades: UpgradeInputs = field(default_factory=UpgradeInputs)  # the catalog's upgrade rules

    def files_of(self, host: str) -> dict[str, RenderedFile]:
        """One host's rendered files by release-relative path."""
        return host_files(self.files, host)


@dataclass
class DeployReport:
    """The outcome of a deploy, per host."""

    env: str
    runs: list[HostRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no host failed, was rolled back, locked or unreachable."""
        return all(r.status in ("unchanged", "changed") for r in self.runs)

    @property
    def changed(self) -> int:
        """Number of hosts that changed."""
        return sum(r.status == "changed" for r in self.runs)


def new_release_id(now: dt.datetime | None = None) -> str:
    """``20261126T120000Z-1a2b``: sortable by time, unique (random suffix)."""
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def env_target(loaded: Loaded, files: Sequence[RenderedFile]) -> EnvTarget:
    """An :class:`EnvTarget` from a loaded environment and its rendered files."""
    stack = loaded.stack
    env = loaded.config.environment
    if env.mode != "compose":
        raise PlanError(f"{stack.env_name}: mode {env.mode!r}: this command handles compose environments only "
                        "(swarm environments: zixly plan / zixly deploy, docs/swarm.md)")

    health = render_schedule(loaded, load_settings(loaded.root / "healthchecks", stack.env_name))
    targets = {t.host: t for t in spec.targets(stack, env.images.source, env.base_dir,
                                               compose_plugin=local_compose_plugin(),
                                               local_cron_dir=os.environ.get("ZIXLY_CRON_DIR") or "/etc/cron.d",
                                               health=health)}
    return EnvTarget(
        env=stack.env_name,
        hosts={h: stack.hosts[h] for h in targets},
        targets=targets,
        specs={h: spec.project_specs(stack, h) for h in targets},
        files=tuple(files),
        upgrades=upgrade_inputs(loaded.catalog, loaded.config),
    )


def local_compose_plugin() -> str | None:
    """This machine's Compose v2 CLI plugin binary (copied to hosts that have none), or None."""
    home = os.path.expanduser("~/.docker/cli-plugins")
    for d in (home, "/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
              "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins"):
        path = os.path.realpath(os.path.join(d, "docker-compose"))
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _local_images(target: Target, files: Mapping[str, RenderedFile]) -> dict[str, str] | None:
    """Image ids of this machine's engine for remote offline hosts (to spot outdated copies)."""
    if target.local or target.image_source != "offline":
        return None

    refs = set()
    for path, f in files.items():
        if path.endswith("/compose.yaml"):
            doc = load_compose(f.text) or {}
            refs |= {str(s["image"]) for s in (doc.get("services") or {}).values() if s.get("image")}
    return local_image_ids(sorted(refs))


def plan_one(
    host: Any, et: EnvTarget, name: str, release_id: str, facts: HostFacts | None = None
) -> tuple[HostPlan, HostFacts]:
    """Read *name*'s facts (unless given) and old texts, and plan it; returns (plan, facts)."""
    target = et.targets[name]
    files = et.files_of(name)
    if facts is None:
        facts = read_facts(host, name, target.paths, et.env, prepare=target.prepare)
    needed = texts_needed(files, facts)
    old = read_texts(host, name, target.paths.current, needed) if needed else {}
    plan = plan_host(
        target,
        et.files,
        facts,
        et.specs.get(name, {}),
        old_texts=old,
        local_images=_local_images(target, files),
        release_id=release_id,
        upgrades=et.upgrades,
    )
    return plan, facts


def open_env(et: EnvTarget, only: Sequence[str] | None) -> Session:
    """Connect to the environment's (chosen) hosts; unknown host names are a PlanError."""
    names = [n for n in et.targets if not only or n in only]
    unknown = [n for n in (only or []) if n not in et.targets]
    if unknown:
        raise PlanError(f"unknown host(s) for {et.env}: {', '.join(unknown)}; hosts: {', '.join(et.targets)}")
    return open_session({n: et.hosts[n] for n in names})


Preflight = Callable[[Mapping[str, HostFacts]], None]


def plan_env(
    et: EnvTarget, only: Sequence[str] | None = None, *, preflight: Preflight | None = None
) -> tuple[Plan, dict[str, str]]:
    """Read-only plan of every (chosen) host; returns the plan and unreachable hosts' errors.

    *preflight* sees every reachable host's facts before anything is planned and may raise
    (e.g. a secrets store that did not make the deployed data).
    """
    session = open_env(et, only)
    try:
        names = list(session.hosts)
        target = et.targets
        facts = dict(zip(names, parallel(lambda n: read_facts(session.hosts[n], n, target[n].paths, et.env,
                                                               prepare=target[n].prepare,
                                                               drift_dirs=drift_dirs(et.files_of(n))), names),
                         strict=True))
        if preflight is not None:
            preflight(facts)

        def one(name: str) -> HostPlan:
            return plan_one(session.hosts[name], et, name, "<new>", facts[name])[0]

        plans = parallel(one, names)
        refuse_moves(plans, et.upgrades, deploying=False)
        return Plan(et.env, tuple(plans)), dict(session.errors)
    finally:
        session.close()


def deploy_env(
    et: EnvTarget,
    *,
    only: Sequence[str] | None = None,
    break_lock: bool = False,
    command: str = "deploy",
    redact: Callable[[str], str] = lambda s: s,
    say: Say = lambda host, text: None,
    hook_runner: HookRunner | None = None,
    preflight: Preflight | None = None,
    force: bool = False,
    upgrader: Callable[[HostRun], UpgradeGuard | None] | None = None,
) -> DeployReport:
    """Deploy (see module doc). *preflight* sees the locked hosts' facts first and may refuse (raise).
    *upgrader* gives each host whose plan upgrades a service its executor (checkpoint, data rollback:
    :mod:`zixly_stack.upgrade`).

    A host whose plan overwrites files edited by hand there fails unless *force*; with it the
    edited copies are kept beside the release (:class:`~zixly_stack.plan.steps.KeepEdited`)."""
    started = time.monotonic()
    report = DeployReport(et.env)
    session = open_env(et, only)
    runs = {n: HostRun(n, et.targets[n].local, host=session.hosts.get(n)) for n in session.hosts}
    for name, err in session.errors.items():
        report.runs.append(HostRun(name, et.targets[name].local, status="unreachable", error=err))
    try:
        _lock_all(et, runs, break_lock, command, say)
        facts = _facts_all(et, runs)
        if preflight is not None:
            preflight(facts)
        release_id = new_release_id()
        _plan_all(et, runs, release_id, say, facts, force)
        refuse_moves((r.plan for r in runs.values() if r.plan is not None), et.upgrades, deploying=True)
        ctx = ApplyContext(redact=redact, say=say, command=command, hook_runner=hook_runner, upgrader=upgrader)
        execute_runs(session, et, runs, ctx)
    finally:
        unlock_all(et, runs)
        session.close()
    report.runs.extend(runs.values())
    report.runs.sort(key=lambda r: list(et.targets).index(r.name))
    report.seconds = time.monotonic() - started
    return report


def lock_host(et: EnvTarget, r: HostRun, break_lock: bool, command: str, say: Say) -> None:
    """Take *r*'s deploy lock, reading its facts in the same round trip; a held lock or an error settles *r*."""
    paths = et.targets[r.name].paths
    then = facts_script(paths, et.env, prepare=et.targets[r.name].prepare)
    r.lock = locks.acquire(r.host, paths, command, break_lock=break_lock, then=then)
    if r.lock.error:
        r.status, r.error = "failed", f"cannot take the deploy lock: {r.lock.error}"
    elif r.lock.held_by is not None:
        r.status = "locked"
        r.error = f"another deploy holds the lock: {r.lock.held_by.describe()}; if it is gone, rerun with --break-lock"
    elif r.lock.reclaimed is not None:
        say(r.name, f"reclaimed a stale lock of {r.lock.reclaimed.describe()}")


def _lock_all(et: EnvTarget, runs: dict[str, HostRun], break_lock: bool, command: str, say: Say) -> None:
    parallel(lambda name: lock_host(et, runs[name], break_lock, command, say), list(runs))


def locked_facts(et: EnvTarget, r: HostRun) -> HostFacts | None:
    """The facts of locked host *r* (read with the lock; read again when that output was cut short)."""
    if r.status != "pending":
        return None
    facts = parse_facts(r.lock.then_output) if r.lock is not None else None
    if facts is None or not facts.complete:
        target = et.targets[r.name]
        try:
            facts = read_facts(r.host, r.name, target.paths, et.env, prepare=target.prepare)
        except PlanError as exc:
            r.status, r.error = "failed", str(exc)
            return None
    return dataclasses.replace(facts, lock=None)  # the lock it saw is ours


def _facts_all(et: EnvTarget, runs: dict[str, HostRun]) -> dict[str, HostFacts]:
    """Facts of every locked host (:func:`locked_facts`)."""
    names = list(runs)
    found = parallel(lambda name: locked_facts(et, runs[name]), names)
    return {n: f for n, f in zip(names, found, strict=True) if f is not None}


def plan_run(et: EnvTarget, r: HostRun, release_id: str, say: Say, facts: HostFacts | None,
             force: bool = False) -> None:
    """Plan locked host *r* and give it its steps; a host with nothing to change ends ``unchanged``,
    one whose plan overwrites files edited by hand ``failed`` unless *force*."""
    if r.status != "pending":
        return
    start = time.monotonic()
    try:
        r.plan, _ = plan_one(r.host, et, r.name, release_id, facts)
    except PlanError as exc:
        r.status, r.error = "failed", str(exc)
        return
    if r.plan.edited and not force:
        r.status, r.error = "failed", refuse_edited(et.env, r.plan)
        return
    r.steps = host_steps(r.plan, et.files_of(r.name), release_id)
    for step in r.steps.steps:
        if isinstance(step, KeepEdited):
            kept = ", ".join(f"{f} at {step.kept(f)}" for f in step.files)
            r.messages.append(f"--force: the hand-edited copy of {kept} is kept")
            say(r.name, r.messages[-1])
    if not r.plan.changed:
        r.status = "unchanged"
    say(r.name, f"planned in {time.monotonic() - start:.2f}s: " + ("changes" if r.plan.changed else "no changes"))


def _plan_all(
    et: EnvTarget, runs: dict[str, HostRun], release_id: str, say: Say, facts: Mapping[str, HostFacts],
    force: bool = False,
) -> None:
    parallel(lambda name: plan_run(et, runs[name], release_id, say, facts.get(name), force), list(runs))


def refuse_edited(env: str, plan: HostPlan) -> str:
    """Why a deploy refuses a host whose plan overwrites files edited there by hand."""
    return (f"refusing to overwrite file(s) edited by hand on the host: {', '.join(plan.edited)} (not as release "
            f"{plan.release_from} wrote them; `zixly drift {env}` lists them). Put the change into git, or deploy "
            "with --force: the edited copies are then kept beside the new release (under edited/<release>)")


def execute_runs(session: Session, et: EnvTarget, runs: dict[str, HostRun], ctx: ApplyContext) -> None:
    """Execute the steps of every host that has some, hosts in parallel, and settle their status."""
    active = [r for r in runs.values() if r.status == "pending" and r.steps and r.steps.steps]
    if not active:
        return
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from .deploys import add_host_deploys

    state = session.state
    for r in active:
        add_host_deploys(state, HostJob(r, et.files_of(r.name), ctx))
    windows = run_hosts(state, [r.host for r in active])
    for r in active:
        r.window = windows.get(id(r.host), (0.0, 0.0))
        _settle(r, ctx)


def run_hosts(state: Any, hosts: Sequence[Any]) -> dict[int, tuple[float, float]]:
    """Run each host's operations in order, every host in its own greenlet (no waiting between hosts).

    Returns ``id(host) -> (start, end)`` wall-clock times of each host's operations.

    pyinfra's default ``run_ops`` runs operation *i* on all hosts before operation *i+1*;
    hosts with different numbers of uploads would then wait for each other's compose
    ups. A host stops at its first failed operation.
    """
    # lazy: gevent only where hosts run in greenlets (runner/green.py patches the process first)
    import gevent  # type: ignore[import-untyped]
    from pyinfra.api.operations import run_host_op
    from pyinfra.context import ctx_host, ctx_state

    windows: dict[int, tuple[float, float]] = {}

    def one(host: Any) -> None:
        start = time.time()
        try:
            with ctx_host.use(host):
                for op_hash in list(host.op_hash_order):
                    if not run_host_op(state, host, op_hash):
                        return
        finally:
            windows[id(host)] = (start, time.time())

    state.is_executing = True
    with ctx_state.use(state):
        gevent.joinall([gevent.spawn(one, h) for h in hosts])
    return windows


def _settle(r: HostRun, ctx: ApplyContext) -> None:
    """Turn operation results into the host's status."""
    for desc, meta in r.ops:
        if meta.is_complete() and meta.did_error():
            out = ctx.redact((meta.stderr or meta.stdout).strip())
            r.status = "failed"
            r.error = r.error or f"{desc} failed" + (f": {out[-800:]}" if out else "")
            return
        if not meta.is_complete():
            r.status = "failed"
            r.error = r.error or f"{desc} did not run (connection lost?)"
            return
    c = r.converge
    if c is not None and not c.ok:
        r.status = "rolled back" if c.rolled_back else "failed"
        return
    r.status = "changed"


def unlock_host(et: EnvTarget, r: HostRun) -> None:
    """Release *r*'s lock if we took it (an unreachable host keeps a stale lock)."""
    if r.lock is not None and r.lock.ok and r.host is not None:
        locks.release(r.host, et.targets[r.name].paths, r.lock.token)


def unlock_all(et: EnvTarget, runs: dict[str, HostRun]) -> None:
    """Release every lock we took (hosts in parallel)."""
    parallel(lambda name: unlock_host(et, runs[name]), list(runs))
