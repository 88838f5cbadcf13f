"""``mode: swarm``: set the swarm up and deploy the environment's stacks over pyinfra connections.

Contract
--------
* :func:`plan_swarm` is read-only: one facts round trip per host, then the pure planner
  (:mod:`zixly_stack.plan.swarm`): setup steps, service changes, networks to create, and the
  version moves from what the current release's manifest records to the rendered versions
  (:func:`~zixly_stack.plan.upgrade.host_upgrades`, as compose mode plans them per host); a move
  the catalog's rules forbid is a located ConfigError.
* :func:`deploy_swarm` refuses, before anything changes, the moves the rules forbid and those a
  deploy cannot carry out yet (:func:`~zixly_stack.plan.upgrade.blocker`).
* :func:`deploy_swarm` takes the deploy lock on the first manager, then:
  1. **setup**, gated on facts (idempotent: a set-up swarm gets no command): ``swarm init``
     on the first manager, join tokens read there (never printed), ``swarm join`` on the
     others by role, promote/demote, node labels;
  2. when a service or network changes:
     uploads the rendered tree as a new release (``<base>/<env>/releases/<id>``, secret
     files 0600), creates the shared overlays, runs ``docker stack deploy --prune
     --resolve-image never`` for each stack with a change (unchanged stacks are not
     touched, so their service versions and ``UpdatedAt`` stay), and waits until every
     changed service has converged: all replicas running (Swarm counts a task with a
     healthcheck as running only once healthy), the update completed, jobs completed;
  3. the health gate: a service that does not converge within ``swarm.converge_timeout``
     or that Swarm rolled back (``update_config.failure_action: rollback``) fails the
     deploy; then every service this deploy updated is rolled back (``docker service
     rollback``: its previous spec), services it created are removed, ``current`` keeps
     pointing at the previous release, and the report names each failing service with
     its task errors and last log lines (redacted). On success ``current`` moves.
"""

from __future__ import annotations

import base64
import io
import json
import posixpath
import shlex
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..catalog.upgrades import Move
from ..commands import swarm as cmd
from ..errors import ConfigError, Location, PlanError, Problem
from ..models.environment import Host
from ..plan.datamove import DataMove
from ..plan.paths import EnvPaths
from ..plan.prepare import PrepareSpec
from ..plan.swarm import (
    ClusterFacts,
    NodeFacts,
    ServiceChange,
    SetupStep,
    advertise_address,
    facts_script,
    label_steps,
    managers,
    membership_steps,
    missing_networks,
    parse_facts,
    service_changes,
)
from ..plan.upgrade import (
    UpgradeInputs,
    host_upgrades,
    manifest_versions,
    refuse_moves,
    swarm_blocker,
    upgrade_inputs,
    upgrade_json,
)
from ..project import Loaded
from ..render.swarm import manager_host, node_labels
from ..render.tree import RenderedFile
from ..runner.connect import Session, joined, open_session, parallel, run
from . import lock as locks
from .runner import new_release_id
from .swarm_prepare import Plans, apply_nodes, plan_json, plan_nodes, prepare_specs

Say = Callable[[str, str], None]
POLL_S = 2.0
FAILED_UPDATE = ("rollback_started", "rollback_completed", "rollback_paused", "paused")


@dataclass
class SwarmPlan:
    """What a swarm deploy would do."""

    env: str
    manager: str
    setup: list[SetupStep] = field(default_factory=list)
    changes: list[ServiceChange] = field(default_factory=list)
    networks: list[tuple[str, bool]] = field(default_factory=list)
    current: str = ""
    client: str = ""  # the manager's docker CLI version
    prepare: Plans = field(default_factory=dict)  # host preparation per node (:mod:`.swarm_prepare`)
    warnings: list[str] = field(default_factory=list)
    upgrades: tuple[Move, ...] = ()  # version moves: the current release's recorded versions -> the rendered ones
    refused: tuple[Problem, ...] = ()  # moves the catalog's rules forbid
    data_moves: tuple[DataMove, ...] = ()  # swarm mode moves no data-store major (see refuse_data_moves)

    @property
    def changed(self) -> bool:
        """True when a deploy would change something."""
        return bool(self.prepare or self.setup or self.networks or any(c.action != "unchanged" for c in self.changes))

    def to_json(self) -> dict[str, Any]:
        """Machine-readable form."""
        return {
            "env": self.env, "mode": "swarm", "manager": self.manager, "changed": self.changed,
            "current": self.current, "upgrades": upgrade_json(self.upgrades),
            "prepare": plan_json(self.prepare), "warnings": self.warnings,
            "setup": [{"host": s.host, "kind": s.kind, "why": s.why} for s in self.setup],
            "networks": [{"name": n, "internal": i} for n, i in self.networks],
            "services": [{"stack": c.stack, "service": c.service, "action": c.action, "detail": c.detail}
                         for c in self.changes],
        }


@dataclass
class SwarmRun:
    """The outcome of a swarm deploy."""

    env: str
    status: str = "unchanged"  # unchanged | changed | failed | rolled back | locked | unreachable
    plan: SwarmPlan | None = None
    release: str = ""
    error: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.status in ("unchanged", "changed")

    def to_json(self) -> dict[str, Any]:
        """Machine-readable form."""
        return {"env": self.env, "mode": "swarm", "status": self.status, "ok": self.ok, "release": self.release,
                "error": self.error, "failures": self.failures, "seconds": round(self.seconds, 2),
                "plan": self.plan.to_json() if self.plan else None}


@dataclass(frozen=True)
class SwarmTarget:
    """An environment in swarm mode, rendered."""

    env: str
    hosts: dict[str, Host]
    paths: EnvPaths
    manager: str
    files: tuple[RenderedFile, ...]
    labels: dict[str, dict[str, str]]
    timeout: int
    prepare: dict[str, PrepareSpec] = field(default_factory=dict)
    upgrades: UpgradeInputs = field(default_factory=UpgradeInputs)  # the catalog's upgrade rules, the pins

    def stacks(self) -> dict[str, dict[str, Any]]:
        """``project -> stack doc`` in deploy order (manifest order)."""
        meta = self.meta()
        by_path = {f.path: f for f in self.files}
        out: dict[str, dict[str, Any]] = {}
        for project in meta["stacks"]:
            svc = project.removeprefix(f"zixly-{self.env}-")
            out[project] = yaml.safe_load(by_path[f"{self.manager}/{svc}/stack.yaml"].text)
        return out

    def meta(self) -> dict[str, Any]:
        """The manager's manifest."""
        doc: dict[str, Any] = json.loads(next(f for f in self.files if f.path == f"{self.manager}/manifest.json").text)
        return doc


def swarm_target(loaded: Loaded, files: tuple[RenderedFile, ...]) -> SwarmTarget:
    """A :class:`SwarmTarget` from a loaded ``mode: swarm`` environment and its rendered files."""
    stack = loaded.stack
    env = loaded.config.environment
    mgr = manager_host(stack)
    if mgr != managers(stack.hosts)[0]:
        raise PlanError(f"{stack.env_name}: cannot tell the first manager")
    return SwarmTarget(stack.env_name, dict(stack.hosts), EnvPaths(env.base_dir, stack.env_name), mgr, files,
                       node_labels(stack), env.swarm.converge_timeout, prepare_specs(stack),
                       upgrade_inputs(loaded.catalog, loaded.config))


# --- facts and plan -------------------------------------------------------------------------


def _facts(session: Session, t: SwarmTarget) -> tuple[dict[str, NodeFacts], ClusterFacts]:
    names = list(session.hosts)

    def one(name: str) -> tuple[NodeFacts, ClusterFacts]:
        res = run(session.hosts[name], facts_script(t.env, t.paths.current), timeout=120)
        return parse_facts(res.stdout, name)

    got = dict(zip(names, parallel(one, names), strict=True))
    return {n: g[0] for n, g in got.items()}, got[t.manager][1]


def _plan(t: SwarmTarget, facts: dict[str, NodeFacts], cluster: ClusterFacts) -> SwarmPlan:
    plan = SwarmPlan(t.env, t.manager, current=posixpath.basename(facts[t.manager].current),
                     client=facts[t.manager].client)
    plan.setup = membership_steps(t.hosts, facts)
    plan.setup += label_steps(t.labels, facts, cluster.nodes)
    plan.changes = service_changes(t.stacks(), cluster.services)
    plan.networks = missing_networks(t.meta(), cluster.networks)
    plan.upgrades, plan.refused = host_upgrades(t.upgrades, facts[t.manager].versions,
                                                manifest_versions(t.meta()))
    return plan


def _connect(t: SwarmTarget) -> Session:
    session = open_session(t.hosts)
    if session.errors:
        session.close()
        raise PlanError("; ".join(f"{h}: unreachable: {e}" for h, e in session.errors.items()))
    return session


def refuse_data_moves(plan: SwarmPlan, inputs: UpgradeInputs) -> None:
    """Refuse (located, nothing changed) what swarm mode cannot carry out (:func:`swarm_blocker`: a
    data-store major, a downgrade that reverts, a move of several hops; docs/upgrades.md)."""
    problems = []
    for m in plan.upgrades:
        why, hint = swarm_blocker(m)
        if why:
            problems.append(Problem(*inputs.pins.get(m.service, (Location("(catalog)"), "")),
                                    f"the host runs {m.src}: {m.direction} to {m.dst}: {why}", hint))
    if problems:
        raise ConfigError(problems)


def plan_swarm(t: SwarmTarget) -> SwarmPlan:
    """Read-only: what :func:`deploy_swarm` would do; raises ConfigError (located) for a version
    move the catalog's rules forbid."""
    session = _connect(t)
    try:
        facts, cluster = _facts(session, t)
        plan = _plan(t, facts, cluster)
        refuse_moves([plan], t.upgrades, deploying=False)
        plan.prepare, plan.warnings = plan_nodes(session, t.prepare)
        return plan
    finally:
        session.close()


# --- setup ----------------------------------------------------------------------------------


def _must(host: Any, name: str, argv: list[str] | tuple[str, ...], what: str, timeout: float = 120) -> str:
    res = run(host, shlex.join(list(argv)), timeout=timeout)
    if not res.ok:
        raise PlanError(f"{name}: {what} failed: {(res.stderr or res.stdout).strip()[-400:]}")
    return res.stdout


def setup_swarm(session: Session, t: SwarmTarget, say: Say) -> tuple[dict[str, NodeFacts], ClusterFacts, int]:
    """Bring the swarm to the wanted membership and labels; returns fresh facts and the step count."""
    facts, cluster = _facts(session, t)
    lead = session.hosts[t.manager]
    done = 0
    steps = membership_steps(t.hosts, facts)
    for step in [s for s in steps if s.kind == "init"]:
        say(step.host, step.why)
        _must(lead, step.host, step.argv, "docker swarm init")
        done += 1
    tokens: dict[str, str] = {}
    for step in [s for s in steps if s.kind == "join"]:
        if step.role not in tokens:
            tokens[step.role] = _must(lead, t.manager, cmd.join_token(step.role), "docker swarm join-token").strip()
        say(step.host, step.why)
        argv = cmd.swarm_join(tokens[step.role], advertise_address(t.manager, t.hosts[t.manager]),
                              advertise_address(step.host, t.hosts[step.host]))
        res = run(session.hosts[step.host], shlex.join(argv), timeout=120)
        if not res.ok:  # the token is in argv, not in the output; still redact it
            detail = (res.stderr or res.stdout).replace(tokens[step.role], "********").strip()[-400:]
            raise PlanError(f"{step.host}: docker swarm join failed: {detail}")
        done += 1
    for step in [s for s in steps if s.kind == "role"]:
        say(step.host, step.why)
        _must(lead, t.manager, step.argv, "docker node promote/demote")
        done += 1
    if done:
        facts, cluster = _facts(session, t)
    for step in label_steps(t.labels, facts, cluster.nodes):
        say(step.host, step.why)
        _must(lead, t.manager, step.argv, "docker node update")
        done += 1
    if done:
        facts, cluster = _facts(session, t)
    return facts, cluster, done


# --- release upload -------------------------------------------------------------------------


def release_tar(files: tuple[RenderedFile, ...], host: str) -> bytes:
    """The host's rendered files as a tar (secret files 0600; no owner names)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in sorted(files, key=lambda f: f.path):
            if not f.path.startswith(host + "/"):
                continue
            data = f.text.encode()
            info = tarfile.TarInfo(f.path.split("/", 1)[1])
            info.size = len(data)
            info.mode = 0o600 if f.secret else f.mode
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _upload(host: Any, t: SwarmTarget, release: str) -> None:
    target = posixpath.join(t.paths.releases, release)
    data = base64.b64encode(release_tar(t.files, t.manager)).decode()
    script = joined([["mkdir", "-p", "-m", "0700", target]]) + " && " + \
        f"base64 -d | tar -xz --no-same-owner -C {shlex.quote(target)}"
    res = run(host, script, timeout=300, stdin=data)
    if not res.ok:
        raise PlanError(f"{t.manager}: could not write release {release}: {res.stderr.strip()[-300:]}")


def _switch_current(host: Any, t: SwarmTarget, release: str, status: str) -> None:
    tmp = t.paths.current + ".new"
    line = json.dumps({"release": release, "status": status, "mode": "swarm",
                       "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    script = joined([["ln", "-sfn", posixpath.join("releases", release), tmp],
                     ["mv", "-Tf", tmp, t.paths.current]])
    script += f" && printf '%s\\n' {shlex.quote(line)} >> {shlex.quote(posixpath.join(t.paths.root, 'releases.log'))}"
    run(host, script, timeout=60)


# --- convergence ----------------------------------------------------------------------------


def parse_replicas(text: str) -> tuple[int, int, int | None]:
    """``"2/3"`` -> (2, 3, None); ``"0/1 (1/1 completed)"`` -> (0, 1, 1) (jobs: completed count)."""
    head, _, rest = text.partition(" ")
    running, _, desired = head.partition("/")
    completed = None
    if "completed" in rest:
        completed = int(rest.strip("( ").split("/")[0])
    return int(running or 0), int(desired or 0), completed


def service_states(host: Any, env: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """``name -> {running, desired, completed, update_state, mode}`` for *names* (one round trip)."""
    script = shlex.join(cmd.service_ls(env)) + "; echo '@@inspect'; " + shlex.join(cmd.service_update_states(names))
    res = run(host, script, timeout=60)
    ls, _, insp = res.stdout.partition("@@inspect")
    out: dict[str, dict[str, Any]] = {}
    for line in ls.splitlines():
        if not line.strip().startswith("{"):
            continue
        doc = json.loads(line)
        running, desired, completed = parse_replicas(str(doc.get("Replicas", "0/0")))
        out[str(doc["Name"])] = {"running": running, "desired": desired, "completed": completed,
                                 "mode": doc.get("Mode", ""), "update_state": ""}
    for line in insp.splitlines():
        name, _, state = line.partition("\t")
        if name.strip() in out:
            out[name.strip()]["update_state"] = state.strip()
    return out


def converged(state: dict[str, Any] | None, done: tuple[str, ...] = ("", "completed")) -> bool:
    """A service is converged when its update is *done* and every replica runs (jobs: completed)."""
    if state is None or state["update_state"] not in done:
        return False
    if state["completed"] is not None:
        return bool(state["completed"] >= state["desired"])
    return bool(state["running"] == state["desired"])


def wait_converged(host: Any, env: str, names: list[str], timeout: float, say: Say, who: str, *,
                   rollback: bool = False) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Poll until every service in *names* converged, one failed its update, or *timeout*.
    With *rollback*, a completed rollback counts as converged (waiting for an undo)."""
    deadline = time.monotonic() + timeout
    done = ("", "completed", "rollback_completed") if rollback else ("", "completed")
    failed = ("rollback_paused", "paused") if rollback else FAILED_UPDATE
    last: dict[str, dict[str, Any]] = {}
    shown = ""
    while True:
        last = service_states(host, env, names)
        pending = [n for n in names if not converged(last.get(n), done)]
        if not pending:
            return True, last
        if any(last.get(n, {}).get("update_state") in failed for n in names):
            return False, last
        line = ", ".join(f"{n} {last[n]['running']}/{last[n]['desired']}" if n in last else f"{n} ?"
                         for n in pending)
        if line != shown:
            say(who, f"waiting: {line}")
            shown = line
        if time.monotonic() > deadline:
            return False, last
        time.sleep(POLL_S)


def _failure(host: Any, name: str, state: dict[str, Any] | None, redact: Callable[[str], str]) -> dict[str, Any]:
    tasks = run(host, shlex.join(cmd.service_tasks(name)), timeout=60).stdout.splitlines()[:6]
    logs = run(host, shlex.join(cmd.service_logs(name)) + " 2>&1", timeout=60).stdout.splitlines()[-20:]
    why = "did not converge"
    if state:
        why = (f"{state['running']}/{state['desired']} running, update {state['update_state'] or 'n/a'}")
    return {"service": name, "why": why, "tasks": [redact(t) for t in tasks], "logs": [redact(x) for x in logs]}


# --- deploy ---------------------------------------------------------------------------------


def deploy_swarm(t: SwarmTarget, *, say: Say, redact: Callable[[str], str], break_lock: bool = False,
                 release_id: str | None = None) -> SwarmRun:
    """Set up the swarm and deploy the changed stacks; see the module doc."""
    started = time.monotonic()
    result = SwarmRun(t.env)
    try:
        session = _connect(t)
    except PlanError as exc:
        result.status, result.error = "unreachable", str(exc)
        return result
    try:
        _deploy(session, t, result, say, redact, break_lock, release_id or new_release_id())
    finally:
        session.close()
        result.seconds = time.monotonic() - started
    return result


def _deploy(session: Session, t: SwarmTarget, result: SwarmRun, say: Say, redact: Callable[[str], str],
            break_lock: bool, release: str) -> None:
    lead = session.hosts[t.manager]
    got = locks.acquire(lead, t.paths, "deploy", break_lock=break_lock)  # setup too runs under the lock
    if not got.ok:
        result.status = "locked"
        result.error = got.error or f"deploy lock held by {got.held_by}"
        return
    try:
        # version moves first, before any node or service changes: a refused move changes nothing
        planned = _plan(t, *_facts(session, t))
        refuse_data_moves(planned, t.upgrades)
        refuse_moves([planned], t.upgrades, deploying=True)
        prepared, warnings = plan_nodes(session, t.prepare)
        for w in warnings:
            say(w.split(":", 1)[0], "warning:" + w.split(":", 1)[1])
        setup_done = apply_nodes(session, prepared, say)
        facts, cluster, done = setup_swarm(session, t, say)
        setup_done += done
        plan = _plan(t, facts, cluster)
        plan.prepare, plan.warnings = prepared, warnings
        result.plan = plan
        todo = [c for c in plan.changes if c.action != "unchanged"]
        if not todo and not plan.networks:
            result.status = "changed" if setup_done else "unchanged"
            say(t.manager, "no service changes")
            return
        _apply(lead, t, plan, todo, result, say, redact, release)
    finally:
        locks.release(lead, t.paths, got.token)


def _apply(lead: Any, t: SwarmTarget, plan: SwarmPlan, todo: list[ServiceChange], result: SwarmRun, say: Say,
           redact: Callable[[str], str], release: str) -> None:
    say(t.manager, f"release {release}: " + ", ".join(f"{c.action} {c.full}" for c in todo))
    _upload(lead, t, release)
    result.release = release
    for name, internal in plan.networks:
        say(t.manager, f"network {name} (overlay{', internal' if internal else ''})")
        _must(lead, t.manager, cmd.network_create(name, t.env, internal=internal), "docker network create")
    detach = _client_major(plan.client) >= 26  # older CLIs have no --detach on stack deploy
    changed_stacks = list(dict.fromkeys(c.stack for c in todo))
    rendered = t.stacks()
    base = posixpath.join(t.paths.releases, release)
    for stack in changed_stacks:
        if stack not in rendered:
            say(t.manager, f"remove stack {stack}")
            _must(lead, t.manager, cmd.stack_rm(stack), "docker stack rm")
            continue
        svc_dir = posixpath.join(base, stack.removeprefix(f"zixly-{t.env}-"))
        say(t.manager, f"docker stack deploy {stack}")
        deploy = cmd.stack_deploy("stack.yaml", stack, detach_flag=detach)
        script = f"cd {shlex.quote(svc_dir)} && " + shlex.join(deploy)
        res = run(lead, script, timeout=600)
        if not res.ok:
            result.status = "failed"
            result.error = redact(f"docker stack deploy {stack}: {(res.stderr or res.stdout).strip()[-600:]}")
            _undo(lead, t, todo, say)
            return
    names = [c.full for c in todo if c.action in ("create", "update")]
    ok, states = wait_converged(lead, t.env, names, t.timeout, say, t.manager) if names else (True, {})
    if ok:
        _switch_current(lead, t, release, "deployed")
        result.status = "changed"
        say(t.manager, f"converged: {len(names)} service(s); current -> {release}")
        return
    bad = [n for n in names if not converged(states.get(n))]
    result.failures = [_failure(lead, n, states.get(n), redact) for n in bad]
    result.error = "did not converge: " + ", ".join(bad)
    say(t.manager, f"health gate failed ({', '.join(bad)}): rolling back")
    _undo(lead, t, todo, say)
    result.status = "rolled back"


def _client_major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def _undo(lead: Any, t: SwarmTarget, todo: list[ServiceChange], say: Say) -> None:
    """Put every service this deploy touched back: updated ones to their previous spec, created
    ones removed. ``current`` is not moved."""
    states = service_states(lead, t.env, [c.full for c in todo if c.action == "update"]) if todo else {}
    for c in todo:
        if c.action == "update":
            if states.get(c.full, {}).get("update_state") in ("rollback_started", "rollback_completed"):
                continue  # Swarm's failure_action already rolls it back
            say(t.manager, f"docker service rollback {c.full}")
            run(lead, shlex.join(cmd.service_rollback(c.full)), timeout=120)
        elif c.action == "create":
            say(t.manager, f"docker service rm {c.full}")
            run(lead, shlex.join(cmd.service_rm(c.full)), timeout=120)
    rolled = [c.full for c in todo if c.action == "update"]
    if rolled:
        ok, _ = wait_converged(lead, t.env, rolled, min(t.timeout, 300), say, t.manager, rollback=True)
        say(t.manager, "rolled back: " + ", ".join(rolled) + ("" if ok else " (not converged yet)"))
