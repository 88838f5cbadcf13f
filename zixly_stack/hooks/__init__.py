"""Post-deploy hooks: seeds, first admins and setup that make a fresh stack ready to use.

Hooks are declared in ``services/<name>/service.yaml`` (``hooks:``) as
``zixly_stack.hooks.<module>:<function>`` taking a :class:`HookContext` and returning a
:class:`HookResult`. :mod:`.runner` orders and runs them (needs, timeout, retries,
on_failure) and records what each applied (:mod:`.state`); :mod:`.local` is the Docker
transport for this machine. See ``docs/hooks.md``.
"""

from .base import ContainerRef, Endpoint, ExecResult, HookError, HookResult, Transport
from .context import HookContext
from .local_run import deploy_hook_runner, run_local
from .runner import HookOutcome, HooksReport, PlannedHook, plan_hooks, run_hooks

__all__ = [
    "ContainerRef",
    "Endpoint",
    "ExecResult",
    "HookContext",
    "HookError",
    "HookOutcome",
    "HookResult",
    "HooksReport",
    "PlannedHook",
    "Transport",
    "deploy_hook_runner",
    "plan_hooks",
    "run_hooks",
    "run_local",
]
