"""The pyinfra deploys of one host: host preparation, stack apply, schedules, hooks.

Contract
--------
* Each is a pyinfra ``@deploy`` function over the host's planned steps
  (:func:`~zixly_stack.plan.steps.host_steps`): it adds the operations of its share of
  them (:func:`~.apply.add_step_ops`) to the current host, in the steps' order;
  :func:`zixly` runs the four in order, so together they add every step exactly once:

  - :func:`host_preparation` -- the preparation changes that are not the release's
    schedules (engine, daemon.json, deploy user, firewall, sshd, unattended upgrades, apprise);
  - :func:`stack_apply` -- the release: keep edited files, prepare the release directory,
    upload, validate, networks, images, switch ``current``, converge behind the health
    gate, record the release;
  - :func:`schedules` -- the nightly backup and the health agent of the release (written
    only once it converged, when the host has a release to apply);
  - :func:`hooks` -- the post-deploy hooks of the projects brought up.

* The same functions run in both ways of driving pyinfra: ``zixly deploy`` (and
  ``zixly rollback``) call :func:`add_host_deploys` (pyinfra's ``add_deploy`` of the API),
  and the deploy file ``deploy/deploy.py`` of the repository calls :func:`zixly` under
  pyinfra's own CLI (``pyinfra deploy/inventory.py deploy/deploy.py``, docs/deploy.md).
* A host whose plan changes nothing has no steps, so no deploy adds an operation to it.

Imported only where hosts are driven: pyinfra (and gevent under it) is slow to import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from pyinfra.api.deploy import add_deploy, deploy

from ..plan.steps import RELEASE_SCHEDULES, PrepareHost, RunHooks, Step
from .apply import HostJob, add_step_ops

Deploy = Callable[[HostJob], None]


def _deploy(name: str) -> Callable[[Deploy], Deploy]:
    """pyinfra's ``@deploy(name)``, typed as the function it wraps (pyinfra types the result as an
    operation, whose call takes pyinfra's global arguments)."""
    return lambda fn: cast(Deploy, deploy(name)(fn))


def _preparation(job: HostJob, schedules_: bool) -> list[Step]:
    """The host's preparation changes that are (*schedules_*) or are not the release's schedules."""
    out: list[Step] = []
    steps = job.run.steps.steps if job.run.steps else ()
    for step in steps:
        if isinstance(step, PrepareHost):
            changes = tuple(c for c in step.changes if (c.step in RELEASE_SCHEDULES) == schedules_)
            if changes:
                out.append(PrepareHost(changes, if_converged=step.if_converged))
    return out


@_deploy("zixly: host preparation")
def host_preparation(job: HostJob) -> None:
    """What the host still needs before the stack can run on it (``hosts.yaml`` ``prepare:``)."""
    for step in _preparation(job, schedules_=False):
        add_step_ops(job, step)


@_deploy("zixly: stack apply")
def stack_apply(job: HostJob) -> None:
    """The release: files, networks, images, ``current``, the health-gated converge, the record."""
    for step in job.run.steps.steps if job.run.steps else ():
        if not isinstance(step, (PrepareHost, RunHooks)):
            add_step_ops(job, step)


@_deploy("zixly: schedules")
def schedules(job: HostJob) -> None:
    """The release's nightly backup and health agent: timers or cron lines (removed when switched off)."""
    for step in _preparation(job, schedules_=True):
        add_step_ops(job, step)


@_deploy("zixly: hooks")
def hooks(job: HostJob) -> None:
    """The post-deploy hooks of the projects brought up (skipped when the health gate failed)."""
    for step in job.run.steps.steps if job.run.steps else ():
        if isinstance(step, RunHooks):
            add_step_ops(job, step)


@_deploy("zixly")
def zixly(job: HostJob) -> None:
    """Every step of the host's plan: host preparation, stack apply, schedules, hooks."""
    host_preparation(job)
    stack_apply(job)
    schedules(job)
    hooks(job)


def add_host_deploys(state: Any, job: HostJob) -> None:
    """Add :func:`zixly` for *job*'s host to *state* (pyinfra's API; ``zixly deploy``)."""
    add_deploy(state, zixly, job, host=job.run.host)
