"""Deliver notices on this machine through the Apprise library, never blocking the caller for long.

Contract:

* :func:`send` sends one message to each given channel, all channels at once (one thread
  each), and waits at most the channel's ``timeout_s`` plus :data:`GRACE_S` for it (Apprise's
  own connect/read timeouts are the channel's ``timeout_s`` too, :func:`.channels.with_timeouts`).
  A channel that does not answer in time counts as failed; its thread is left to die with
  the process (a daemon thread), it never holds the caller.
* Nothing raises out of :func:`send`: every failure is a :class:`Outcome` whose ``detail`` has
  been through the redactor and has every URL masked (Apprise's log lines can quote URLs).
* Apprise's own log output is captured per thread and never reaches the terminal.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..secrets.value import redact
from .channels import Target
from .events import rank

GRACE_S = 5.0
_URL = re.compile(r"\b([a-z][a-z0-9+]{1,31})://\S+", re.IGNORECASE)
_lock = threading.Lock()


@dataclass(frozen=True)
class Message:
    """What goes out: an event occurrence with its text."""

    event: str
    severity: str
    title: str
    body: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one message on one channel."""

    channel: str
    event: str
    ok: bool
    detail: str
    seconds: float


def mask_urls(text: str) -> str:
    """Every ``scheme://...`` in *text* reduced to ``scheme://***``."""
    return _URL.sub(lambda m: f"{m.group(1)}://***", text)


def notify_type(message: Message) -> str:
    """Apprise's message type: success for a succeeded deploy, else by severity."""
    if message.event == "deploy.succeeded":
        return "success"
    return ("info", "warning", "failure")[rank(message.severity)]


class _Capture(logging.Handler):
    """Apprise's warnings and errors, by thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: dict[int, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.setdefault(record.thread or 0, []).append(record.getMessage())


def _apprise_logger() -> tuple[logging.Logger, _Capture]:
    log = logging.getLogger("apprise")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())  # never Python's last-resort handler on stderr
    log.propagate = False
    capture = _Capture()
    log.addHandler(capture)
    return log, capture


def _deliver(target: Target, message: Message) -> tuple[bool, str]:
    """Send with Apprise in the calling thread: (ok, why not)."""
    # lazy: Apprise takes seconds to import; loaded only when a notification goes out
    import apprise

    asset = apprise.AppriseAsset(async_mode=False)
    client = apprise.Apprise(asset=asset)
    if not client.add(target.url.reveal()):
        return False, f"Apprise does not accept this {target.scheme}:// URL (see `apprise --details`)"
    ok = client.notify(body=message.body, title=message.title, notify_type=notify_type(message))
    return bool(ok), "" if ok else "the service refused it or did not answer"


def send(targets: Sequence[Target], message: Message,
         hide: Callable[[str], str] = lambda s: s) -> list[Outcome]:
    """Send *message* to every target (see the module contract)."""
    if not targets:
        return []
    # lazy: Apprise takes seconds to import; loaded only when a notification goes out
    import apprise  # noqa: F401  (imported once, before any timer starts: it takes seconds)

    results: dict[str, tuple[bool, str, float]] = {}
    threads: dict[str, tuple[threading.Thread, float]] = {}
    with _lock:
        log, capture = _apprise_logger()
    try:
        for t in targets:
            def run(t: Target = t) -> None:
                started = time.monotonic()
                try:
                    ok, why = _deliver(t, message)
                except Exception as exc:  # a plugin's bug must not escape: notifying never fails the caller
                    ok, why = False, f"{type(exc).__name__}: {exc}"
                if not ok:
                    lines = capture.lines.get(threading.get_ident(), [])
                    why = "; ".join([why, *lines[-2:]]) if lines else why
                results[t.name] = (ok, why, time.monotonic() - started)

            thread = threading.Thread(target=run, name=f"zixly-notify-{t.name}", daemon=True)
            threads[t.name] = (thread, time.monotonic())
            thread.start()
        out = []
        for t in targets:
            thread, started = threads[t.name]
            thread.join(max(0.0, started + t.timeout_s + GRACE_S - time.monotonic()))
            ok, why, took = results.get(t.name, (False, f"no answer within {t.timeout_s:g} s", t.timeout_s))
            secret_values = [t.url] if not ok else []
            detail = mask_urls(hide(redact(why, secret_values))) if why else ""
            out.append(Outcome(t.name, message.event, ok, detail, took))
        return out
    finally:
        log.removeHandler(capture)
