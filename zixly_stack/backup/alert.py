"""Failures of a restore or a restore drill go to the environment's notification channels.

The nightly script sends its own failures (``backup.failed``, through the ``apprise`` CLI, see
:mod:`.script`); a restore (``restore.failed``) or ``zixly backup verify`` (``drill.failed``)
runs our Python, so it sends through the control machine's notifier
(:mod:`zixly_stack.notify.service`). The text has already passed the environment's secret
redaction; a channel that cannot be reached is said on stderr, kept for the next run, and
never hides the original failure.
"""

from __future__ import annotations

from collections.abc import Callable

from ..notify.service import quiet_notifier_for
from .local import Env

Say = Callable[[str], None]
EVENTS = {"restore": "restore.failed", "restore drill": "drill.failed"}


def alert_failure(env: Env, kind: str, text: str, say: Say) -> list[str]:
    """Send *kind*'s failure (``restore`` or ``restore drill``); return the channels that took it."""
    notifier = quiet_notifier_for(env.loaded, env.secrets, env.redact, say)
    if notifier is None:
        return []
    outcomes = notifier.emit(EVENTS[kind], f"{kind} FAILED", env.redact(text)[:3000])
    reached = [o.channel for o in outcomes if o.ok]
    if reached:
        say(f"notify: failure sent to {', '.join(reached)}")
    return reached
