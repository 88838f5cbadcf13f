"""The pyinfra executor: a host's plan steps become pyinfra operations.

Contract
--------
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
from typing import Any

from ..plan.model import HostPlan
from ..plan.steps import (
    CheckCompose,
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
from .converge import ConvergeOutcome, converge
from .images import provide
from .lock import LockResult

HookRunner = Callable[[str, Sequence[str], Any], list[tuple[str, bool, str]]]  # (host, names, connection)


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


@dataclass(frozen=True)
class ApplyContext:
    """What every host's operations share."""

    redact: Callable[[str], str]
    say: Callable[[str, str], None]
    command: str
    hook_runner: HookRunner | None = None


def _shell(state: Any, run_: HostRun, step: Step, name: str) -> None:
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.api.operation import add_op
    from pyinfra.operations import server

    commands = [shlex.join(a) for a in step.argvs()]
    if not commands:
        return
    metas = add_op(state, server.shell, name=name, commands=commands, host=run_.host)
    run_.ops.append((name, metas[run_.host]))


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


def _upload(state: Any, run_: HostRun, step: UploadFiles, files: Mapping[str, RenderedFile]) -> None:
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.api.operation import add_op
    from pyinfra.operations import files as fileops

    name = step.describe()
    metas = add_op(
        state,
        fileops.put,
        name=name,
        src=_archive(step, files),
        dest=step.archive,
        mode="0600",
        create_remote_dir=False,
        force=True,
        host=run_.host,
    )
    run_.ops.append((name, metas[run_.host]))
    _shell(state, run_, step, f"unpack {len(step.files)} file(s)")


def _prepare(state: Any, run_: HostRun, step: PrepareHost) -> None:
    """Each preparation change: its files (``files.put``), then its commands (``server.shell``).

    ``step.if_converged``: pyinfra evaluates ``_if`` when the operation runs, so the release's
    schedules are written only when it converged (Converge does not stop later operations)."""
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.api.operation import add_op
    from pyinfra.operations import files as fileops
    from pyinfra.operations import server

    def converged() -> bool:
        return run_.converge is None or run_.converge.ok

    only: dict[str, Any] = {"_if": [converged]} if step.if_converged else {}
    for change in step.changes:
        name = change.describe()
        puts: list[tuple[Any, str, str]] = [(io.StringIO(text), path, mode) for path, text, mode in change.files]
        if change.upload:
            puts.append(change.upload)
        for src, dest, mode in puts:
            metas = add_op(state, fileops.put, name=f"{name}: {dest}", src=src, dest=dest, mode=mode,
                           create_remote_dir=True, host=run_.host, **only)
            run_.ops.append((f"{name}: {dest}", metas[run_.host]))
        if change.argvs:
            metas = add_op(state, server.shell, name=name, commands=[shlex.join(a) for a in change.argvs],
                           host=run_.host, **only)
            run_.ops.append((name, metas[run_.host]))


def _call(state: Any, run_: HostRun, name: str, fn: Callable[[], None]) -> None:
    # lazy: pyinfra (and gevent under it) is slow to import; loaded only when hosts are driven
    from pyinfra.api.operation import add_op
    from pyinfra.operations import python

    def body() -> None:
        fn()

    metas = add_op(state, python.call, name=name, function=body, host=run_.host)
    run_.ops.append((name, metas[run_.host]))


def add_host_ops(state: Any, run_: HostRun, files: Mapping[str, RenderedFile], ctx: ApplyContext) -> None:
    """Add *run_*'s steps to *state* as pyinfra operations (see module doc)."""
    if run_.steps is None or run_.plan is None:
        return
    say = _sayer(ctx, run_.name)
    for step in run_.steps.steps:
        if isinstance(step, PrepareHost):
            _prepare(state, run_, step)
        elif isinstance(step, PrepareRelease):
            _shell(state, run_, step, step.describe())
        elif isinstance(step, UploadFiles):
            _upload(state, run_, step, files)
        elif isinstance(step, (CheckCompose, CreateNetworks, SwitchCurrent, KeepEdited)):
            _shell(state, run_, step, step.describe())
        elif isinstance(step, ProvideImages):
            _call(state, run_, step.describe(), _images_fn(run_, step, say))
        elif isinstance(step, Converge):
            _call(state, run_, step.describe(), _converge_fn(run_, step, ctx, say))
        elif isinstance(step, RecordRelease):
            _call(state, run_, step.describe(), _record_fn(run_, step, ctx))
        elif isinstance(step, RunHooks):
            _call(state, run_, step.describe(), _hooks_fn(run_, step, ctx, say))


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


def _converge_fn(run_: HostRun, step: Converge, ctx: ApplyContext, say: Callable[[str], None]) -> Callable[[], None]:
    """Converge; a deploy that switched to a new release rolls back to the previous one on failure."""

    def fn() -> None:
        run_.converge = converge(
            run_.host,
            step.paths,
            step.projects,
            previous_release=step.previous_release,
            switched=step.new_release is not None,
            redact=ctx.redact,
            say=say,
        )

    return fn


def _record_fn(run_: HostRun, step: RecordRelease, ctx: ApplyContext) -> Callable[[], None]:
    def fn() -> None:
        outcome = run_.converge
        result = "ok" if outcome is None or outcome.ok else ("rolled back" if outcome.rolled_back else "failed")
        entry = {
            "at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "by": f"{_user()}@{socket.gethostname()}",
            "command": ctx.command,
            "release": step.release_id or (run_.plan.release_from if run_.plan else None),
            "new_files": step.release_id is not None and ctx.command != "rollback",
            "previous": run_.plan.release_from if run_.plan else None,
            "result": result,
            "projects": [p.project for p in (run_.plan.projects if run_.plan else ())],
        }
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
