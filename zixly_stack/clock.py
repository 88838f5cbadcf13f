"""The time zixly acts on: the clock, or ``ZIXLY_NOW`` (tests only).

``ZIXLY_NOW`` (an ISO-8601 time with a zone, e.g. ``2026-11-27T09:00:00+00:00``) moves the
clock of the health report (backup freshness, certificate expiry, the daily digest) and of
notifications (repeat suppression, the digest, demo expiry warnings), so end-to-end tests
can step past a window without waiting for it. It is read from the environment only; no
option sets it, and a malformed value is an error (exit 1) rather than the real time.
"""

from __future__ import annotations

import datetime as dt
import os

from .errors import ZixlyError

ENV_NOW = "ZIXLY_NOW"
TIME_FMT = "%Y-%m-%dT%H:%M:%SZ"


def fmt_time(t: dt.datetime) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SSZ`` (the demo registry's and the notifications' stamps)."""
    return t.astimezone(dt.UTC).strftime(TIME_FMT)


def parse_time(text: str) -> dt.datetime:
    """Inverse of :func:`fmt_time`."""
    return dt.datetime.strptime(text, TIME_FMT).replace(tzinfo=dt.UTC)


def now() -> dt.datetime:
    """The current time (aware, UTC), or ``ZIXLY_NOW`` when set."""
    text = os.environ.get(ENV_NOW, "").strip()
    if not text:
        return dt.datetime.now(dt.UTC)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ZixlyError(f"{ENV_NOW}={text!r} is not an ISO-8601 time (e.g. 2026-11-27T09:00:00+00:00)") from None
    if when.tzinfo is None:
        raise ZixlyError(f"{ENV_NOW}={text!r} has no time zone (add +00:00)")
    return when.astimezone(dt.UTC)
