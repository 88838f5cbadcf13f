"""Run an environment's hooks on this machine: secrets from the store, Docker locally.

:func:`run_local` is what ``zixly hooks run`` and the deploy's hook step use for
environments whose hosts are all ``@local``. The hook state lives in
``<base_dir>/<env>/state/hooks.json`` (0600), next to the deploy's releases.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SecretsError
from ..secrets.value import Secret
from .base import ContainerRef, Transport
from .context import HookContext, Log
from .local import LocalDocker
from .runner import HookOutcome, HooksReport, PlannedHook, plan_hooks, run_hooks
from .state import HookRecord, JsonStateFile, StateStore

if TYPE_CHECKING:
    from ..project import Loaded


def state_path(base_dir: str, env: str) -> Path:
    """``<base_dir>/<env>/state/hooks.json``."""
    return Path(posixpath.join(base_dir, env, "state", "hooks.json"))


def context_factory(loaded: Loaded, secrets: Mapping[str, Secret], transport: Transport,
                    log: Log) -> Callable[[PlannedHook, HookRecord | None, float], HookContext]:
    """Builds each hook's :class:`HookContext` for one environment."""

    def make(ph: PlannedHook, previous: HookRecord | None, deadline: float) -> HookContext:
        return HookContext(env=loaded.stack.env_name, hook=ph.name, service=ph.service, stack=loaded.stack,
                           secrets=secrets, transport=transport, root=loaded.root, previous=previous,
                           deadline=deadline, log=log)

    return make


def open_secrets(loaded: Loaded) -> dict[str, Secret]:
    """Every secret the environment needs, read from its store (nothing generated or written)."""
    # lazy: keeps the CLI start-up fast
    from ..project import prepare_secrets

    prepared = prepare_secrets(loaded)  # a missing store is an error here too, never a fresh one
    values, added = prepared.values, prepared.added
    if added:
        raise SecretsError(
            f"{len(added)} secret(s) of {loaded.config.name!r} are not in the store yet ({', '.join(added[:3])}...): "
            "deploy the environment first (`zixly up` / `zixly deploy`); nothing was written"
        )
    return dict(values)


def run_local(
    loaded: Loaded,
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


def standin_check(loaded: Loaded, transport: Transport) -> Callable[[PlannedHook], str | None]:
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


def hooks_on_host(loaded: Loaded, host: str) -> list[str]:
    """Names of the environment's hooks whose service is placed on *host*, in run order."""
    on_host = {p.name for p in loaded.stack.on_host(host)}
    return [ph.name for ph in plan_hooks(loaded.stack) if ph.service in on_host]


def run_remote(
    loaded: Loaded,
    host: str,
    connection: Any,
    *,
    only: Iterable[str] = (),
    secrets: Mapping[str, Secret] | None = None,
    log: Log = lambda _: None,
    on_outcome: Callable[[HookOutcome], None] | None = None,
) -> HooksReport:
    """Run *host*'s hooks (or *only* these) over the deploy's SSH connection (:mod:`.remote`).

    State lives on that host in ``<base_dir>/<env>/state/hooks.json``.
    """
    # lazy: keeps the CLI start-up fast
    from .remote import RemoteStateFile, SshDocker, pyinfra_runner
    from .tunnel import pyinfra_forwarder

    names = list(only) or hooks_on_host(loaded, host)
    if not names:
        return HooksReport()
    planned = plan_hooks(loaded.stack, names)
    values = dict(secrets) if secrets is not None else open_secrets(loaded)
    runner = pyinfra_runner(connection)
    env = loaded.config.environment
    store = RemoteStateFile(runner, str(state_path(env.base_dir, loaded.stack.env_name)))
    with pyinfra_forwarder(connection) as forwarder:
        transport = SshDocker(runner, prefix=loaded.stack.prefix, host=host, tunnel=forwarder.url)
        return run_hooks(planned, context_factory(loaded, values, transport, log), store, on_outcome=on_outcome,
                         applicable=standin_check(loaded, transport))


def deploy_hook_runner(loaded: Loaded) -> Callable[..., list[tuple[str, bool, str]]]:
    """The deploy's hook step: ``(host, hook names, connection) -> [(name, ok, "status: summary")]``.

    Hooks of ``@local`` hosts run here through this machine's engine; hooks of remote
    hosts run over *connection*, the deploy's own connected (pyinfra) host.
    """

    def run(host: str, names: list[str] | tuple[str, ...], connection: Any = None) -> list[tuple[str, bool, str]]:
        model = loaded.config.hosts.hosts.get(host)
        if model is not None and model.address == "@local":
            report = run_local(loaded, only=names)
        elif connection is not None:
            report = run_remote(loaded, host, connection, only=names)
        else:
            return [(n, False, "not run: no connection to the host") for n in names]
        return [(o.name, o.succeeded, f"{o.status}: {o.summary}") for o in report.outcomes]

    return run
