"""Notification channels of an environment (``notifications.channels`` in environment.yaml).

A channel is an Apprise URL (https://github.com/caronc/apprise/wiki: ``mailto://``, ``slack://``,
``ntfy://``, ``json://`` ... about a hundred services) with the events it takes. A URL that
carries a token or password names a secret of the environment's store instead of holding it:
``${secret:notify.<name>}``, the whole URL or a part of it (set the value with
``zixly secrets set ENV notify.<name>``). Event ids and patterns are checked against the event
list (:mod:`zixly_stack.notify.events`) when the environment is loaded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Model

Severity = Literal["info", "warning", "critical"]
ChannelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
# "*", "area.*" or an event id; checked against the event list at load time
EventPattern = Annotated[str, Field(max_length=64, pattern=r"^(\*|[a-z]+\.\*|[a-z]+\.[a-z_]+)$")]
# no whitespace (one line of Apprise's configuration file); ${secret:notify.NAME} for tokens
ChannelUrl = Annotated[str, Field(min_length=4, max_length=2048, pattern=r"^\S+$")]


class Channel(Model):
    """One channel: an Apprise URL (tokens as `${secret:notify.NAME}`), the events it takes, a minimum severity.

    ``events``: ids or ``area.*`` patterns (``zixly notify events``); ``min_severity`` drops what is
    below it unless the channel names the event; ``timeout_s`` bounds each delivery.
    """

    name: ChannelName = Field(examples=["ops"])
    """The channel's name (shown by `zixly notify test`; names its secret `notify.<name>`)."""
    url: ChannelUrl = Field(examples=["ntfy://ntfy.sh/zixly-example-ops"])
    """An Apprise URL; a token or password in it is written `${secret:notify.<name>}`."""
    events: list[EventPattern] = Field(default=["*"], min_length=1, max_length=64,
        examples=[["backup.*", "deploy.failed"]])
    """Event ids or `area.*` patterns this channel takes (`zixly notify events`)."""
    min_severity: Severity = "info"
    """Drop events below this severity unless `events` names them exactly."""
    timeout_s: float = Field(default=10.0, ge=1, le=120)
    """Seconds one delivery may take."""
