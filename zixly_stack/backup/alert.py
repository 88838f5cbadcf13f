"""Failures of a restore or a restore drill go to the environment's notifier.

The nightly script posts its own failures (bash + curl, see :mod:`.script`); a restore or
``zixly backup verify`` runs our Python, so it uses the health report's channels (webhook,
SMTP email; ``notifications`` and ``smtp`` in the environment). The text has already passed
the environment's secret redaction; a notifier that cannot be reached is reported on stderr
and never hides the original failure.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable

import httpx

from ..health.notify import Message
from ..health.service import channels_for
from .local import Env

Say = Callable[[str], None]


def alert_failure(env: Env, kind: str, text: str, say: Say) -> list[str]:
    """Send "*kind* of ENV FAILED" with *text* on every configured channel; return the channels reached."""
    environment = env.loaded.config.environment
    channels = channels_for(environment.notifications, environment.smtp)
    message = Message(kind, f"[zixly {env.name}] {kind} FAILED", env.redact(text)[:3000])
    reached = []
    for ch in channels:
        try:
            ch.send(message)
            reached.append(ch.name)
        except (OSError, httpx.HTTPError, smtplib.SMTPException) as exc:
            say(f"notify: {ch.name} failed: {type(exc).__name__}: {env.redact(str(exc))}")
    if reached:
        say(f"notify: failure sent to {', '.join(reached)}")
    return reached
