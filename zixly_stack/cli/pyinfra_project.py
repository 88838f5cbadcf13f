"""What the pyinfra project in ``deploy/`` calls when pyinfra's own CLI runs it (docs/deploy.md).

``ZIXLY_ENV=staging pyinfra deploy/inventory.py deploy/deploy.py`` deploys like ``zixly deploy
staging``, through the same deploys (:mod:`zixly_stack.deploy.deploys`) and the same plan.

Contract
--------
* :func:`inventory_groups` -- the inventory of ``ZIXLY_ENV`` (the repository: ``ZIXLY_ROOT``,
  else the nearest parent of the working directory with ``services/`` and ``inventories/``):
  ``hosts.yaml`` through our loader, each host with the connection data zixly's own sessions
  use plus ``zixly_env`` and ``zixly_root``. Group ``zixly`` holds every host, and each role
  (``edge``, ``apps``, ``stores``) is a group. No secret is in it: the secrets store is opened
  by :func:`planned`, at run time, with the age key the environment names.
* :func:`planned` -- run in ``deploy/deploy.py`` for each host while pyinfra collects
  operations: the environment is loaded, its secrets opened and rendered once per process;
  the host's facts are read, the store check of ``zixly deploy`` judges them (a refusal stops
  the whole run, nothing changed), the host is planned. It returns None when the host has
  nothing to change (no operation at all), else the host's job, after adding its first
  operation: take the deploy lock and check ``current`` is still the release the plan was
  made from. Taking the lock when operations run, not while pyinfra collects them, keeps
  ``--dry`` and a "no" at pyinfra's prompt free of locks. A host that cannot be deployed
  (a plan error, files edited by hand without ``zixly_force``) gets one failing operation.
* :func:`finish` -- the last operation: release the lock; fail the host when the health gate
  failed (the previous release is back) or a hook declared ``on_failure: fail`` failed. A host
  whose operation fails earlier has its lock released at once (a pyinfra state callback).
* Host data (``deploy/group_data/all.py``, overridden with ``pyinfra --data key=value``):
  ``zixly_hooks`` (run post-deploy hooks, default true), ``zixly_force`` (as ``--force``),
  ``zixly_break_lock`` (as ``--break-lock``).
* Every line zixly prints, and every log line of pyinfra, passes through the secrets redactor.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.state import BaseStateCallback
from pyinfra.context import ctx_host, ctx_state
from pyinfra.operations import python

from ..deploy.apply import ApplyContext, HostJob, HostRun, StepFailed
from ..deploy.hostio import read_facts
from ..deploy.runner import EnvTarget, env_target, lock_host, new_release_id, plan_run, unlock_host
from ..errors import ZixlyError
from ..hooks import deploy_hook_runner
from ..project import load
from ..runner.connect import pyinfra_host, run
from ..runner.green import httpcore_after_patch
from .deploy_report import plain
from .main import find_root
from .prepared import Prepared, prepare, say_host

TRUE = ("1", "true", "yes", "on")

httpcore_after_patch()  # the hooks' HTTP clients, in pyinfra's gevent-patched process


def env_and_root() -> tuple[str, Path]:
    """``ZIXLY_ENV`` and the repository (``ZIXLY_ROOT`` or found from the working directory)."""
    env = os.environ.get("ZIXLY_ENV", "")
    if not env:
        raise PyinfraError("ZIXLY_ENV is not set: name the environment to deploy, e.g. "
                          "ZIXLY_ENV=staging pyinfra deploy/inventory.py deploy/deploy.py")
    root = os.environ.get("ZIXLY_ROOT")
    return env, Path(root) if root else find_root(Path.cwd())


def inventory_groups(env: str | None = None, root: Path | None = None) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """pyinfra inventory groups of *env* (default: ``ZIXLY_ENV``); see module doc."""
    if env is None or root is None:
        env, root = env_and_root()
    try:
        loaded = load(root, env)
    except ZixlyError as exc:
        raise PyinfraError(str(exc)) from None
    if loaded.config.environment.mode != "compose":
        raise PyinfraError(f"{env}: mode {loaded.config.environment.mode!r}: deploy/ deploys compose environments "
                          "only (swarm environments: zixly deploy, docs/swarm.md)")
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {"zixly": []}
    for name, model in loaded.config.hosts.hosts.items():
        pyname, data = pyinfra_host(name, model)
        entry = (pyname, {**data, "zixly_env": env, "zixly_root": str(root)})
        groups["zixly"].append(entry)
        for role in model.roles:
            groups.setdefault(str(role), []).append(entry)
    return groups


@dataclass
class _Project:
    """One environment, loaded, its secrets opened and rendered, shared by every host of the run."""

    prep: Prepared
    et: EnvTarget
    release_id: str
    ctx: ApplyContext


_projects: dict[tuple[str, str], _Project] = {}
_load_lock = threading.Lock()  # pyinfra's CLI patches it with gevent: one greenlet loads, the others wait


def _host() -> Any:
    """The host pyinfra is working on (its context)."""
    return ctx_host.get()  # type: ignore[no-untyped-call]


def _flag(name: str, default: bool) -> bool:
    value = _host().data.get(name, default)
    return value if isinstance(value, bool) else str(value).strip().lower() in TRUE


def _project(env: str, root: str) -> _Project:
    with _load_lock:
        key = (env, root)
        if key not in _projects:
            try:
                prep = prepare(Path(root), env)
            except ZixlyError as exc:
                raise PyinfraError(str(exc)) from None
            _redact_pyinfra_logs(prep.redact)
            state: Any = ctx_state.get()  # type: ignore[no-untyped-call]
            state.add_callback_handler(_UnlockOnError())
            say: Callable[[str, str], None] = lambda host, text: say_host(host, plain(prep.redact(text)))  # noqa: E731
            hooks = deploy_hook_runner(prep.loaded) if _flag("zixly_hooks", True) else None
            ctx = ApplyContext(redact=prep.redact, say=say, command="deploy", hook_runner=hooks)
            _projects[key] = _Project(prep, env_target(prep.loaded, prep.files), new_release_id(), ctx)
        return _projects[key]


class _Redact(logging.Filter):
    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), ()
        return True


def _redact_pyinfra_logs(redact: Callable[[str], str]) -> None:
    """Every handler of pyinfra's logger redacts secret values (the output of a failed command)."""
    for handler in logging.getLogger("pyinfra").handlers:
        handler.addFilter(_Redact(redact))


_jobs: dict[int, tuple[EnvTarget, HostRun]] = {}  # id(pyinfra host) -> its run, while it may hold the lock


class _UnlockOnError(BaseStateCallback):
    """A host whose operation failed runs no later operation, :func:`finish` included: unlock now."""

    @staticmethod
    def operation_host_error(state: Any, host: Any, op_hash: Any, retry_count: int = 0, max_retries: int = 0) -> None:
        job = _jobs.pop(id(host), None)
        if job is not None:
            unlock_host(*job)


def _fail(name: str, why: str) -> None:
    def refuse() -> None:
        raise StepFailed(why)

    python.call(name=f"zixly: {name}", function=refuse)


def planned() -> HostJob | None:
    """The current host's job, its lock operation added; None when it has nothing to change (module doc)."""
    host = _host()
    proj = _project(str(host.data.get("zixly_env")), str(host.data.get("zixly_root")))
    et, name = proj.et, str(host.data.get("zixly_host"))
    target = et.targets[name]
    r = HostRun(name, target.local, host=host)
    facts = dataclasses.replace(read_facts(r.host, name, target.paths, et.env, prepare=target.prepare), lock=None)
    try:
        proj.prep.preflight()({name: facts})
    except ZixlyError as exc:
        raise PyinfraError(str(exc)) from None
    plan_run(et, r, proj.release_id, proj.ctx.say, facts, force=_flag("zixly_force", False))
    if r.status == "failed":
        _fail("refused", r.error)
        return None
    if r.status == "unchanged":
        return None
    _lock_op(et, r, proj.ctx, _flag("zixly_break_lock", False))
    return HostJob(r, et.files_of(name), proj.ctx)


def _lock_op(et: EnvTarget, r: HostRun, ctx: ApplyContext, break_lock: bool) -> None:
    def take() -> None:
        lock_host(et, r, break_lock, ctx.command, ctx.say)
        if r.status != "pending":
            raise StepFailed(r.error)
        _jobs[id(r.host)] = (et, r)
        release = r.plan.release_from if r.plan else None
        current = run(r.host, shlex.join(["readlink", "--", et.targets[r.name].paths.current]) + " || true",
                      timeout=60).stdout.strip()
        if (posixpath.basename(current) or None) != release:
            raise StepFailed(f"current is {current or 'absent'}, not release {release} as when this run planned the "
                             "host (another deploy?): run again")

    python.call(name="zixly: take the deploy lock", function=take)


def finish(job: HostJob) -> None:
    """The host's last operation (module doc)."""
    r, say = job.run, job.ctx.say
    host = _host()
    et = _project(str(host.data.get("zixly_env")), str(host.data.get("zixly_root"))).et

    def done() -> None:
        _jobs.pop(id(r.host), None)
        unlock_host(et, r)
        for message in r.messages:
            say(r.name, message)
        for name, ok, message in r.hooks:
            say(r.name, f"hook {name}: {'ok' if ok else message}")
        c = r.converge
        if c is not None and not c.ok:
            failed = ", ".join(p.project for p in c.failed)
            back = f"rolled back to the previous release ({'healthy' if c.rollback_ok else 'NOT healthy'})"
            raise StepFailed(f"health gate failed ({failed}): " + (back if c.rolled_back else c.note))
        blocking = [name for name, ok, message in r.hooks if not ok and message.startswith("failed")]
        if blocking:
            raise StepFailed(f"hook(s) declared `on_failure: fail` failed: {', '.join(blocking)}; the new release "
                             "is running")

    python.call(name="zixly: release the deploy lock", function=done)
