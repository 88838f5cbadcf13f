"""The pyinfra executor: a host's plan steps become pyinfra operations.

Contract
--------
* :func:`add_step_ops` adds one step's operations to the host pyinfra is working on; the
  pyinfra deploys of :mod:`.deploys` call it, under pyinfra's API (``zixly deploy``) or its CLI
  (``deploy/deploy.py``).
* Plain command steps become ``server.shell`` operations, uploads ``files.put``
  (content from the render, mode set, secret files into 0700 directories, temp files in
  a 0700 directory of the environment), and the dynamic steps (images, the health-gated
  converge, the release record, hooks) ``python.call`` operations whose outcome is kept
  in :class:`HostRun`.
* pyinfra's imperative operations always report a change, so they are only ever added
  when the plan says something changes: a host whose plan is empty gets no operation.
* A failed operation stops that host's later operations (pyinfra's default); nothing
  has been switched before ``SwitchCurrent``, so a failed upload leaves the running
  release untouched.
"""

from __future__ import annotations

import datetime as dt
import getpass
import io
import json
import shlex
import socket
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..plan.model import HostPlan
from ..plan.prepare import PrepareChange
from ..plan.steps import (
    CheckCompose,
    CheckpointData,
    Converge,
    CreateNetworks,
    HostSteps,
    KeepEdited,
    PrepareHost,
    PrepareRelease,
    ProvideImages,
    RecordRelease,
    RunHooks,
    Step,
    SwitchCurrent,
    UploadFiles,
)
from ..render.tree import RenderedFile
from ..runner.connect import run
from .converge import ConvergeOutcome, Guard, converge
from .images import provide
from .lock import LockResult

HookRunner = Callable[[str, Sequence[str], Any], list[tuple[str, bool, str]]]  # (host, names, connection)


class UpgradeGuard(Guard, Protocol):
    """A host's upgrade executor (:class:`zixly_stack.upgrade.guard.HostUpgrade`) as the apply sees it."""

    def checkpoint(self) -> None: ...  # raises when a checkpoint cannot be taken (nothing stopped yet)

    def summary(self) -> str: ...  # "" when every upgrade went through, else what failed and what was put back

    def records(self) -> list[dict[str, Any]]: ...  # what the release log records of each upgrade


@dataclass
class HostRun:
    """One host's deploy: its plan, steps, and what happened."""

    name: str
    local: bool
    host: Any = None
    plan: HostPlan | None = None
    steps: HostSteps | None = None
    lock: LockResult | None = None
    status: str = "pending"  # unchanged | changed | failed | rolled back | unreachable | locked
    error: str = ""
    converge: ConvergeOutcome | None = None
    messages: list[str] = field(default_factory=list)
    hooks: list[tuple[str, bool, str]] = field(default_factory=list)
    ops: list[tuple[str, Any]] = field(default_factory=list)  # (description, OperationMeta)
    seconds: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)  # wall-clock start/end of this host's operations
    guard: UpgradeGuard | None = None  # the upgrades of this host's plan, when it has some


@dataclass(frozen=True)
class ApplyContext:
    """What every host's operations share."""

    redact: Callable[[str], str]
    say: Callable[[str, str], None]
    command: str
    hook_runner: HookRunner | None = None
    upgrader: Callable[[HostRun], UpgradeGuard | None] | None = None  # a host's upgrade executor


@dataclass(frozen=True)
class HostJob:
    """What the deploys of one host (:mod:`.deploys`) work from: its run (plan, steps, outcome),
    its rendered files by release-relative path, and what every host shares."""

    run: HostRun
    files: Mapping[str, RenderedFile]
    ctx: ApplyContext


def _op(run_: HostRun, name: str, op: Any, **kwargs: Any) -> None:
    """Call pyinfra operation *op* for the host being deployed and keep its result in ``run_.ops``.

    Called inside a pyinfra deploy (:mod:`.deploys`): ``add_deploy`` of the API, or a deploy file
    of pyinfra's CLI, so the operation goes to the current host. Each operation is given its
    position on the host as pyinfra's loop position: pyinfra's CLI names an operation by its
    call stack, so without it two operations from the same line (a loop) would be told apart
    only by a counter, and two hosts calling them in a different order would make pyinfra's
    operation order a cycle. Positions only grow along a host, so the order is that of the steps.
    """
    host = run_.host
    host.loop_position.append(len(host.op_hash_order))
    try:
        meta = op(name=name, **kwargs)
    finally:
        host.loop_position.pop()
    run_.ops.append((name, meta))


def _shell(run_: HostRun, step: Step, name: str) -> None:
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.operations import server

    commands = [shlex.join(a) for a in step.argvs()]
    if commands:
        _op(run_, name, server.shell, commands=commands)


def _archive(step: UploadFiles, files: Mapping[str, RenderedFile]) -> io.BytesIO:
    """The files of *step* as an uncompressed tar (modes kept, owner root)."""
    now = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for put in step.files:
            data = files[put.rel].text.encode()
            info = tarfile.TarInfo(put.rel)
            info.size, info.mode, info.mtime = len(data), int(put.mode, 8), now
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _upload(run_: HostRun, step: UploadFiles, files: Mapping[str, RenderedFile]) -> None:
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.operations import files as fileops

    _op(run_, step.describe(), fileops.put, src=_archive(step, files), dest=step.archive, mode="0600",
        create_remote_dir=False, force=True)
    _shell(run_, step, f"unpack {len(step.files)} file(s)")


def _prepare(run_: HostRun, changes: Sequence[PrepareChange], if_converged: bool) -> None:
    """Each preparation change: its files (``files.put``), then its commands (``server.shell``).

    *if_converged*: pyinfra evaluates ``_if`` when the operation runs, so the release's
    schedules are written only when it converged (Converge does not stop later operations)."""
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.operations import files as fileops
    from pyinfra.operations import server

    def converged() -> bool:
        return run_.converge is None or run_.converge.ok

    only: dict[str, Any] = {"_if": [converged]} if if_converged else {}
    for change in changes:
        name = change.describe()
        puts: list[tuple[Any, str, str]] = [(io.StringIO(text), path, mode) for path, text, mode in change.files]
        if change.upload:
            puts.append(change.upload)
        for src, dest, mode in puts:
            _op(run_, f"{name}: {dest}", fileops.put, src=src, dest=dest, mode=mode, create_remote_dir=True, **only)
        if change.argvs:
            _op(run_, name, server.shell, commands=[shlex.join(a) for a in change.argvs], **only)


def _call(run_: HostRun, name: str, fn: Callable[[], None]) -> None:
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.operations import python

    def body() -> None:
        fn()

    _op(run_, name, python.call, function=body)


def add_step_ops(job: HostJob, step: Step) -> None:
    """Add the pyinfra operations of one of the host's steps (see module doc) to the current host."""
    run_, ctx = job.run, job.ctx
    say = _sayer(ctx, run_.name)
    if isinstance(step, PrepareHost):
        _prepare(run_, step.changes, step.if_converged)
    elif isinstance(step, UploadFiles):
        _upload(run_, step, job.files)
    elif isinstance(step, (PrepareRelease, CheckCompose, CreateNetworks, SwitchCurrent, KeepEdited)):
        _shell(run_, step, step.describe())
    elif isinstance(step, ProvideImages):
        _call(run_, step.describe(), _images_fn(run_, step, say))
    elif isinstance(step, CheckpointData):
        _call(run_, step.describe(), _checkpoint_fn(run_, ctx))
    elif isinstance(step, Converge):
        _call(run_, step.describe(), _converge_fn(run_, step, ctx, say))
    elif isinstance(step, RecordRelease):
        _call(run_, step.describe(), _record_fn(run_, step, ctx))
    elif isinstance(step, RunHooks):
        _call(run_, step.describe(), _hooks_fn(run_, step, ctx, say))


def _sayer(ctx: ApplyContext, name: str) -> Callable[[str], None]:
    return lambda text: ctx.say(name, ctx.redact(text))


class StepFailed(RuntimeError):
    """Raised inside a python.call operation so pyinfra stops the host's later operations."""


def _images_fn(run_: HostRun, step: ProvideImages, say: Callable[[str], None]) -> Callable[[], None]:
    def fn() -> None:
        ok, message = provide(run_.host, step.images, local=run_.local, say=say)
        if message:
            run_.messages.append(message)
        if not ok:
            run_.error = message
            raise StepFailed(message)

    return fn


def _checkpoint_fn(run_: HostRun, ctx: ApplyContext) -> Callable[[], None]:
    """The upgrades' checkpoint: a host whose upgrades cannot be checkpointed stops here, nothing stopped."""

    def fn() -> None:
        if run_.guard is None and ctx.upgrader is not None:
            run_.guard = ctx.upgrader(run_)
        if run_.guard is None:
            run_.error = "an upgrade needs its data checkpointed first, and this command has no upgrade executor"
            raise StepFailed(run_.error)
        try:
            run_.guard.checkpoint()
        except Exception as exc:
            run_.error = ctx.redact(str(exc))
            raise StepFailed(run_.error) from None

    return fn


def _converge_fn(run_: HostRun, step: Converge, ctx: ApplyContext, say: Callable[[str], None]) -> Callable[[], None]:
    """Converge; a deploy that switched to a new release rolls back to the previous one on failure."""

    def fn() -> None:
        if run_.guard is None and ctx.upgrader is not None:
            run_.guard = ctx.upgrader(run_)
        run_.converge = converge(
            run_.host,
            step.paths,
            step.projects,
            previous_release=step.previous_release,
            switched=step.new_release is not None,
            redact=ctx.redact,
            say=say,
            guard=run_.guard,
        )
        summary = run_.guard.summary() if run_.guard is not None else ""
        if summary:
            run_.error = ctx.redact(summary)

    return fn


def _record_fn(run_: HostRun, step: RecordRelease, ctx: ApplyContext) -> Callable[[], None]:
    def fn() -> None:
        outcome = run_.converge
        result = "ok" if outcome is None or outcome.ok else ("rolled back" if outcome.rolled_back else "failed")
        entry: dict[str, Any] = {
            "at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "by": f"{_user()}@{socket.gethostname()}",
            "command": ctx.command,
            "release": step.release_id or (run_.plan.release_from if run_.plan else None),
            "new_files": step.release_id is not None and ctx.command != "rollback",
            "previous": run_.plan.release_from if run_.plan else None,
            "result": result,
            "projects": [p.project for p in (run_.plan.projects if run_.plan else ())],
        }
        if run_.guard is not None:
            entry["upgrades"] = run_.guard.records()
        line = json.dumps(entry, sort_keys=True)
        cmd = f"printf '%s\\n' {shlex.quote(line)} >> {shlex.quote(step.paths.log)}"
        if result == "ok" and step.prune:
            cmd += " && " + " && ".join(shlex.join(a) for a in step.argvs())
        run(run_.host, cmd, timeout=60)

    return fn


def _hooks_fn(run_: HostRun, step: RunHooks, ctx: ApplyContext, say: Callable[[str], None]) -> Callable[[], None]:
    def fn() -> None:
        if run_.converge is not None and not run_.converge.ok:
            return
        if ctx.hook_runner is None:
            run_.messages.append("hooks not run (no hook runner available): " + ", ".join(step.names))
            return
        say("running hooks: " + ", ".join(step.names))
        run_.hooks = ctx.hook_runner(run_.name, step.names, run_.host)

    return fn


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
