"""The health gate: bring projects up in stages, and roll back to the previous release on failure.

Contract
--------
* Projects are converged stage by stage (downs, then stores, infra, edge, apps); the
  projects of one stage run concurrently (at most :data:`CONCURRENCY`): in greenlets where
  the host's commands yield to them (SSH hosts; the process gevent-patched), else -- this
  machine's blocking subprocesses (``zixly up``) -- in threads. A project is
  ``docker compose up --detach --wait --wait-timeout <catalog wait_timeout>`` of its
  long-running services, then each stand-alone one-shot job attached (its exit status is
  the job's; compose#11638 makes ``--wait`` fail on any exited container).
* When a project fails, the stage finishes, nothing later starts, and - if this deploy
  switched ``current`` - ``current`` goes back to the previous release and every project
  touched so far is converged again from it (projects new in this release are brought
  down). The outcome names each failed container with its state, last log lines and
  health-check output. All text that leaves the host passes through ``redact``.
* End state: the new release healthy, or the previous release back (and said whether it
  is healthy), never a silent mix.
"""

from __future__ import annotations

import json
import posixpath
import shlex
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..commands import docker as dk
from ..plan.facts import ContainerFact, container_from_json
from ..plan.model import ComposeShape, ProjectChange
from ..plan.paths import EnvPaths
from ..plan.steps import converge_stages, switch_argvs, undo_stages
from ..progress import reporter
from ..runner import LocalRunner, connect
from ..runner.connect import joined, run

CONCURRENCY = 4
LOG_LINES = 30
GRACE_S = 900  # on top of --wait-timeout: creating/removing containers is not part of the wait (vfs copies GBs)

Redact = Callable[[str], str]
Say = Callable[[str], None]


class Guard(Protocol):
    """Hooks around the converge of the projects of an upgraded service (:mod:`zixly_stack.upgrade.guard`).

    Each returns "" to go on, else why the project failed; a project the guard does not know is
    left alone (""). ``before_undo`` runs before a failed deploy brings a project up from the
    previous release (the data is put back first; a project whose data could not be put back is
    NOT started on it), ``after_undo`` once it was brought up (or failed to be)."""

    def before_up(self, p: ProjectChange) -> str: ...

    def after_up(self, p: ProjectChange) -> str: ...

    def before_undo(self, p: ProjectChange, why: str) -> str: ...

    def after_undo(self, p: ProjectChange, ok: bool) -> str: ...


@dataclass(frozen=True)
class FailedContainer:
    """A container that kept a project from becoming healthy."""

    name: str
    problem: str
    logs: str
    health: str

    def lines(self) -> list[str]:
        """Human report: the container, then its last log lines and health output."""
        out = [f"container {self.name}: {self.problem}"]
        if self.health:
            out.append("  health check: " + self.health.replace("\n", " ")[:400])
        if self.logs.strip():
            out.append(f"  last {LOG_LINES} log lines:")
            out.extend("    " + line for line in self.logs.rstrip().splitlines()[-LOG_LINES:])
        return out


@dataclass
class ProjectOutcome:
    """How converging one project went."""

    project: str
    action: str
    ok: bool
    seconds: float
    output: str = ""
    failed: list[FailedContainer] = field(default_factory=list)


@dataclass
class ConvergeOutcome:
    """The whole converge: ``ok``; else whether and how the rollback went."""

    ok: bool = True
    projects: list[ProjectOutcome] = field(default_factory=list)
    rolled_back: bool = False
    rollback_ok: bool | None = None
    rollback: list[ProjectOutcome] = field(default_factory=list)
    note: str = ""

    @property
    def failed(self) -> list[ProjectOutcome]:
        """Projects of the forward pass that failed."""
        return [p for p in self.projects if not p.ok]


def _up_argvs(paths: EnvPaths, p: ProjectChange, shape: ComposeShape, file: str = "") -> list[list[str]]:
    file = file or paths.in_current(p.compose_file)
    out = [dk.compose_up_wait(file, shape.waited, p.wait_timeout)] if shape.waited else []
    out += [dk.compose_run_job(file, job) for job in shape.jobs]
    return out


def failure_text(r: ProjectOutcome) -> str:
    """One line: why a project failed (its failed containers, else the end of its output)."""
    if r.failed:
        return "; ".join(f"{f.name}: {f.problem}" for f in r.failed)
    return " ".join(r.output.strip().splitlines()[-2:])[-300:] or "failed"


def diagnose(host: Any, project: str, redact: Redact) -> list[FailedContainer]:
    """Containers of *project* that are not ok, with their last logs and health output."""
    cmd = f"{shlex.join(dk.project_container_ids(project))} | xargs -r {shlex.join(dk.container_inspect())}"
    res = run(host, cmd, timeout=60)
    facts: list[ContainerFact] = []
    for line in res.stdout.splitlines():
        if line.strip().startswith("{"):
            try:
                facts.append(container_from_json(json.loads(line)))
            except (ValueError, TypeError):
                continue
    out = []
    for c in sorted(facts, key=lambda c: c.name):
        if c.ok:
            continue
        logs = run(host, shlex.join(dk.logs_tail(c.name, LOG_LINES)) + " 2>&1", timeout=60)
        out.append(FailedContainer(c.name, c.problem(), redact(logs.stdout), redact(" | ".join(c.health_log))))
    return out


def _marker_argv(paths: EnvPaths, project: str, digest: str | None) -> str:
    """Record (or forget, when *digest* is None) the files a project was brought up from."""
    marker = posixpath.join(paths.applied, project)
    if digest is None:
        return shlex.join(["rm", "-f", "--", marker])
    return (
        f"{shlex.join(['mkdir', '-p', '-m', '0700', paths.applied])} && "
        f"printf '%s\\n' {shlex.quote(digest)} > {shlex.quote(marker)}"
    )


def _converge_one(
    host: Any,
    paths: EnvPaths,
    p: ProjectChange,
    shape: ComposeShape | None,
    redact: Redact,
    say: Say,
    digest: str | None = None,
    guard: Guard | None = None,
    why: str | None = None,
) -> ProjectOutcome:
    """Converge one project; with *guard*, its hooks around it (*why*: set when undoing, what failed)."""
    start = time.monotonic()
    if guard is not None and shape is not None:
        refused = guard.before_up(p) if why is None else guard.before_undo(p, why)
        if refused:
            say(f"up {p.project}: FAILED: {redact(refused)}")
            return ProjectOutcome(p.project, "up", False, time.monotonic() - start, redact(refused))
    done = _converge_plain(host, paths, p, shape, redact, say, digest, start)
    if guard is not None and shape is not None:
        after = (guard.after_up(p) if done.ok else "") if why is None else guard.after_undo(p, done.ok)
        if after:
            say(f"up {p.project}: FAILED: {redact(after)}")
            done.ok = False
            done.output = "\n".join(x for x in (done.output, redact(after)) if x)
    return done


def up_from(host: Any, paths: EnvPaths, p: ProjectChange, file: str, shape: ComposeShape, redact: Redact,
            say: Say) -> ProjectOutcome:
    """Bring *p* up from compose file *file* (not the release's), health-gated like any project, recording
    no applied marker: an upgrade's intermediate hop (:mod:`zixly_stack.upgrade.hops`)."""
    return _converge_plain(host, paths, p, shape, redact, say, None, time.monotonic(), file)


def _converge_plain(
    host: Any, paths: EnvPaths, p: ProjectChange, shape: ComposeShape | None, redact: Redact, say: Say,
    digest: str | None, start: float, file: str = "",
) -> ProjectOutcome:
    if shape is None:
        argvs, action = [dk.compose_down(p.project)], "down"
    else:
        argvs, action = _up_argvs(paths, p, shape, file), "up"
    say(f"{action} {p.project} ...")
    output: list[str] = []
    for argv in argvs:
        stage = "compose up --wait (until healthy)" if action == "up" else "compose down"
        with reporter().task(f"{host.name}: {action} {p.project}", stage=stage):
            res = run(host, joined([argv]) + " 2>&1", timeout=p.wait_timeout + GRACE_S)
        output.append(redact(res.stdout + res.stderr))
        if not res.ok:
            took = time.monotonic() - start
            failed = diagnose(host, p.project, redact) if action == "up" else []
            names = ", ".join(f.name for f in failed) or "see output"
            say(f"{action} {p.project}: FAILED after {took:.0f}s ({names})")
            return ProjectOutcome(p.project, action, False, took, "\n".join(output), failed)
    if not file:
        run(host, _marker_argv(paths, p.project, digest if action == "up" else None), timeout=30)
    took = time.monotonic() - start
    say(f"{action} {p.project}: {'healthy' if action == 'up' else 'removed'} in {took:.0f}s")
    return ProjectOutcome(p.project, action, True, took, "\n".join(output))


Work = tuple[ProjectChange, ComposeShape | None, str | None]


def _blocks_greenlets(host: Any) -> bool:
    """True when *host*'s commands block the whole process: this machine's runner waits on plain
    subprocesses, so greenlets would take turns -- one project after the other -- unless gevent
    patched the process (SSH hosts in the same deploy). An upgrade's guard keeps the greenlets
    (its hooks were written for them)."""
    if not isinstance(connect.runner_for(host), LocalRunner):
        return False
    # lazy: gevent is loaded only where hosts run in greenlets
    from gevent import monkey  # type: ignore[import-untyped]

    return not monkey.is_module_patched("subprocess")


def _run_stage(host: Any, paths: EnvPaths, group: Sequence[Work], redact: Redact, say: Say,
               guard: Guard | None = None, why: Callable[[str], str] | None = None) -> list[ProjectOutcome]:
    """Converge one stage's projects (concurrently); *why* (undoing): what failed, per project."""
    def one(w: Work) -> ProjectOutcome:
        p, shape, digest = w
        return _converge_one(host, paths, p, shape, redact, say, digest, guard, why(p.project) if why else None)

    if len(group) == 1:
        return [one(group[0])]
    if guard is None and _blocks_greenlets(host):
        with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="zixly-converge") as threads:
            return list(threads.map(one, group))
    # lazy: gevent only where hosts run in greenlets (runner/green.py patches the process first)
    import gevent.pool  # type: ignore[import-untyped]

    pool = gevent.pool.Pool(CONCURRENCY)
    jobs = [pool.spawn(one, w) for w in group]
    pool.join()
    return [j.get() for j in jobs]


def converge(
    host: Any,
    paths: EnvPaths,
    projects: Sequence[ProjectChange],
    *,
    previous_release: str | None,
    switched: bool,
    redact: Redact,
    say: Say,
    guard: Guard | None = None,
) -> ConvergeOutcome:
    """Converge *projects*; on failure roll back when this deploy switched ``current`` (see module doc).

    *guard*: an upgrade's hooks around its service's project (:class:`Guard`)."""
    outcome = ConvergeOutcome()
    applied: list[ProjectChange] = []
    for group in converge_stages(projects):
        work: list[Work] = [(p, p.shape if p.action == "up" else None, p.digest) for p in group]
        results = _run_stage(host, paths, work, redact, say, guard)
        outcome.projects.extend(results)
        applied.extend(group)
        if not all(r.ok for r in results):
            outcome.ok = False
            break
    if outcome.ok:
        return outcome
    if not switched or previous_release is None:
        outcome.note = (
            "nothing to roll back to (first release)"
            if previous_release is None
            else "the files did not change, so there is no release to roll back to"
        )
        return outcome
    outcome.rolled_back = True
    say(f"health gate failed: rolling back to release {previous_release}")
    back = run(host, joined(switch_argvs(paths, previous_release)), timeout=60)
    if not back.ok:
        outcome.rollback_ok = False
        outcome.note = f"could not switch current back: {redact(back.stderr.strip())}"
        return outcome
    failures = {r.project: failure_text(r) for r in outcome.projects if not r.ok}

    def why(project: str) -> str:
        return failures.get(project) or "another project of this deploy failed: " + ", ".join(failures)

    for group in undo_stages(applied):
        undo: list[Work] = [(p, p.previous_shape, p.previous_digest or None) for p in group]
        outcome.rollback.extend(_run_stage(host, paths, undo, redact, say, guard, why))
    outcome.rollback_ok = all(r.ok for r in outcome.rollback)
    return outcome
