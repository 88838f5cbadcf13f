"""An environment made ready for a command: loaded, its secrets opened, its files rendered
(:func:`prepare`), and what the deploy-like commands share: host progress lines (:func:`say_host`)
and the deploy's notifications (:func:`notify_deploy`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SecretsError
from ..secrets.value import redact
from .deploy_report import err

if TYPE_CHECKING:
    from ..project import Loaded


@dataclass
class Prepared:
    """An environment loaded, its secrets ready (``secrets``: None for throwaway values) and its files rendered."""

    loaded: Loaded
    files: tuple[Any, ...]
    redact: Callable[[str], str]
    secrets: Any = None

    def preflight(self, *, commit: bool = True) -> Any:
        """The deploy's store check on the hosts' facts, committing new secrets once it passes
        (``plan``: *commit* False, it refuses like the deploy would and writes nothing)."""
        # lazy: keeps the CLI start-up fast
        from ..deploy.runner import env_target
        from ..deploy.storecheck import preflight

        return preflight(self.secrets, env_target(self.loaded, self.files), self.loaded.catalog.services,
                         commit=commit)


def prepare(root: Path, env: str, *, create: bool = False, loaded: Loaded | None = None) -> Prepared:
    """Load, open secrets (*create*: this machine's store on first use, judged against what exists here), render.

    Nothing is saved: a deploy commits new secrets in its preflight, once the hosts'
    facts show the store made their data (:mod:`zixly_stack.deploy.storecheck`).
    """
    # lazy: keeps the CLI start-up fast
    from ..deploy.storecheck import local_evidence
    from ..project import load, prepare_secrets, render

    loaded = loaded or load(root, env)
    secrets = prepare_secrets(loaded, create=create, evidence=(lambda: local_evidence(loaded)) if create else None)
    files = render(loaded, secrets.values)
    values = list(secrets.values.values())
    return Prepared(loaded, files, lambda text: redact(text, values), secrets)


def prepare_teardown(root: Path, env: str) -> Prepared:
    """Like :func:`prepare`, but a missing or unreadable store gives throwaway values (never saved or written):
    ``down`` and ``status`` need the environment's project names, not its secrets."""
    # lazy: keeps the CLI start-up fast
    from ..project import load, render, throwaway_secrets

    loaded = load(root, env)
    try:
        return prepare(root, env, loaded=loaded)
    except SecretsError:
        return Prepared(loaded, render(loaded, throwaway_secrets(loaded)), lambda text: text)


def say_host(host: str, text: str) -> None:
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] [bold]{host}[/bold] {text}", markup=True, highlight=False)


def notify_deploy(prep: Prepared, report: Any, command: str) -> None:
    """Send the deploy's events (:func:`zixly_stack.notify.produce.deploy_events`); never raises, and waits
    at most the slowest channel's timeout."""
    # lazy: keeps the CLI start-up fast
    from ..notify.produce import deploy_events
    from ..notify.service import quiet_notifier_for

    occurrences = deploy_events(report, command)
    if not occurrences or not prep.loaded.config.environment.notifications.model_dump(exclude_defaults=True):
        return
    say = lambda text: err.print(text, markup=False)  # noqa: E731
    values = prep.secrets.values if prep.secrets is not None else None
    notifier = quiet_notifier_for(prep.loaded, values, prep.redact, say)
    if notifier is None:
        return
    for occ in occurrences:
        notifier.emit(occ.event, occ.subject, occ.body)
