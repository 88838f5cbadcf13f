"""Run an environment's hooks on this machine: secrets from the store, Docker locally.

:func:`run_local` is what ``zixly hooks run`` and the deploy's hook step use for
environments whose hosts are all ``@local``. The hook state lives in
``<base_dir>/<env>/state/hooks.json`` (0600), next to the deploy's releases.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..secrets.value import Secret
from .base import ContainerRef, Transport
from .context import HookContext, Log
from .local import LocalDocker
from .runner import HookOutcome, HooksReport, PlannedHook, plan_hooks, run_hooks
from .state import HookRecord, JsonStateFile, StateStore


def state_path(base_dir: str, env: str) -> Path:
    """``<base_dir>/<env>/state/hooks.json``."""
    return Path(posixpath.join(base_dir, env, "state", "hooks.json"))


def context_factory(loaded: Any, secrets: Mapping[str, Secret], transport: Transport,
                    log: Log) -> Callable[[PlannedHook, HookRecord | None, float], HookContext]:
    """Builds each hook's :class:`HookContext` for one environment."""

    def make(ph: PlannedHook, previous: HookRecord | None, deadline: float) -> HookContext:
        return HookContext(env=loaded.stack.env_name, hook=ph.name, service=ph.service, stack=loaded.stack,
                           secrets=secrets, transport=transport, root=loaded.root, previous=previous,
                           deadline=deadline, log=log)

    return make


def open_secrets(loaded: Any) -> dict[str, Secret]:
    """Every secret the environment needs, read from its store (nothing generated or written)."""
    from ..errors import SecretsError
    from ..render.context import required_secrets
    from ..secrets.store import SecretStore

    store = SecretStore.open(loaded.config.directory, None)
    values, added = store.ensure(required_secrets(loaded.stack))
    if added:
        raise SecretsError(
            f"{len(added)} secret(s) of {loaded.config.name!r} are not in the store yet ({', '.join(added[:3])}...): "
            "deploy the environment first (`zixly up` / `zixly deploy`); nothing was written"
        )
    return dict(values)


def run_local(
    loaded: Any,
    *,
    only: Iterable[str] = (),
    secrets: Mapping[str, Secret] | None = None,
    transport: Transport | None = None,
    state: StateStore | None = None,
    log: Log = lambda _: None,
    on_outcome: Callable[[HookOutcome], None] | None = None,
) -> HooksReport:
    """Plan and run the environment's hooks with the local Docker transport (overridable)."""
    planned = plan_hooks(loaded.stack, only)
    values = dict(secrets) if secrets is not None else open_secrets(loaded)
    env = loaded.config.environment
    chosen = transport or LocalDocker(prefix=loaded.stack.prefix)
    store = state or JsonStateFile(state_path(env.base_dir, loaded.stack.env_name))
    return run_hooks(planned, context_factory(loaded, values, chosen, log), store, on_outcome=on_outcome,
                     applicable=standin_check(loaded, chosen))


def standin_check(loaded: Any, transport: Transport) -> Callable[[PlannedHook], str | None]:
    """Hooks of services running the kit's stand-in image are n/a (a stand-in has no app to set up)."""
    probe = getattr(transport, "standin", None)

    def check(ph: PlannedHook) -> str | None:
        if probe is None:
            return None
        svc = loaded.stack.services[ph.service]
        primary = next(iter(svc.containers))
        if probe(ContainerRef(ph.service, primary)):
            return f"not applicable: {ph.service} runs a stand-in image here"
        return None

    return check


def deploy_hook_runner(loaded: Any) -> Callable[[str, list[str] | tuple[str, ...]], list[tuple[str, bool, str]]]:
    """The deploy's hook step: ``(host, hook names) -> [(name, ok, message)]``.

    Hooks of ``@local`` hosts run here; remote hosts need a transport over SSH, which the
    deploy executor does not expose yet, so their hooks are reported as not run.
    """

    def run(host: str, names: list[str] | tuple[str, ...]) -> list[tuple[str, bool, str]]:
        model = loaded.config.hosts.hosts.get(host)
        if model is None or model.address != "@local":
            return [(n, False, "not run: hooks on remote hosts need the SSH transport (not implemented yet)")
                    for n in names]
        report = run_local(loaded, only=names)
        return [(o.name, o.succeeded, f"{o.status}: {o.summary}") for o in report.outcomes]

    return run
