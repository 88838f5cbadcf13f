"""Fixtures of the notification tests: real receivers on loopback (tests/notify/receivers.py)."""

from __future__ import annotations

from tests.notify.receivers import sinks

__all__ = ["sinks"]
