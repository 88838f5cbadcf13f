"""The control machine's notifier: one per environment and command, used by every producer here.

Contract:

* :meth:`Notifier.emit` sends one event occurrence to each channel that takes it, after
  retrying what earlier runs could not deliver (the outbox, :mod:`.outbox`). What fails is
  spooled for the next run and said on the command's stderr. It never raises and never waits
  longer than the slowest channel's ``timeout_s`` (plus a grace) -- a notification can neither
  fail nor block the operation that triggered it.
* :func:`notifier_for` builds it from a loaded environment; the secrets the channels name are
  read from the store only when a channel names one (:func:`channel_secrets`).
* The outbox lives in ``<state_dir>/notify-<env>/outbox`` (health settings' ``state_dir``), where
  ``zixly health`` finds it to report undelivered notifications.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .. import clock
from ..config.healthchecks import Settings, load_settings, resolve_path
from ..config.loader import EnvConfig
from ..errors import ZixlyError
from ..secrets.store import SecretStore
from ..secrets.value import Secret, redact
from .channels import Target, notification_secrets, resolve, secret_names
from .events import get
from .outbox import Entry, Outbox, pending_by_channel
from .produce import Occurrence
from .send import Message, Outcome, send

Say = Callable[[str], None]
RETRY_AGE = dt.timedelta(days=7)  # undelivered messages older than this are dropped (and said so)


@dataclass
class Notifier:
    """Sends an environment's events from this machine (see the module contract)."""

    env: str
    targets: list[Target]
    outbox: Outbox
    hide: Callable[[str], str] = lambda s: s
    say: Say = lambda s: None
    sent: list[Outcome] = field(default_factory=list)

    def emit(self, event_id: str, subject: str, body: str, severity: str | None = None,
             only: Sequence[str] = ()) -> list[Outcome]:
        """Send event *event_id* ("[zixly ENV] <event title>: *subject*", *body*); see the module contract.

        *only*: these channels, whatever their filters (``zixly notify test``).
        """
        try:
            return self._emit(event_id, subject, body, severity, only)
        except Exception as exc:  # a plugin's bug must not escape: notifying never fails the caller
            self.say(f"notify: {event_id} not sent: {type(exc).__name__}: {self.hide(str(exc))}")
            return []

    def _emit(self, event_id: str, subject: str, body: str, severity: str | None,
              only: Sequence[str]) -> list[Outcome]:
        event = get(event_id)
        level = severity or event.severity
        if only:
            chosen = [t for t in self.targets if t.name in only]
        else:
            chosen = [t for t in self.targets if t.accepts(event_id, level)]
        if not chosen:
            return []
        self.flush()
        title = f"[zixly {self.env}] {event.title}: {subject}"
        message = Message(event_id, level, self.hide(title)[:250], self.hide(f"{body}\n\nevent: {event_id} ({level})"))
        outcomes = send(chosen, message, self.hide)
        now = clock.now()
        for o, t in zip(outcomes, chosen, strict=True):
            if o.ok:
                self.say(f"notify: {event_id} sent to {t.label()}")
                continue
            self.outbox.add(Entry(t.name, event_id, level, f"{now:%Y-%m-%dT%H:%M:%SZ}", 1, o.detail, message.title,
                                  message.body), now)
            self.say(f"notify: {event_id} to {t.label()} FAILED: {o.detail} (kept; retried on the next run)")
        self.sent += outcomes
        return outcomes

    def emit_once(self, occurrence: Occurrence) -> list[Outcome]:
        """:meth:`emit` unless an occurrence with the same ``key`` was emitted before (kept 30 days)."""
        seen = _Seen(self.outbox.directory.parent / "sent.json")
        if occurrence.key and seen.has(occurrence.key):
            return []
        outcomes = self.emit(occurrence.event, occurrence.subject, occurrence.body)
        if occurrence.key:
            seen.add(occurrence.key, clock.now())
        return outcomes

    def flush(self) -> list[Outcome]:
        """Retry the outbox: per channel oldest first, stopping at the first failure."""
        out: list[Outcome] = []
        by_name = {t.name: t for t in self.targets}
        now = clock.now()
        for channel, entries in pending_by_channel(self.outbox.entries()).items():
            target = by_name.get(channel)
            for entry in entries:
                if target is None or _too_old(entry, now):
                    why = "its channel is no longer configured" if target is None else "older than 7 days"
                    self.say(f"notify: dropped an undelivered {entry.event} for {channel}: {why}")
                    self.outbox.delivered(entry)
                    continue
                message = Message(entry.event, entry.severity, entry.title, entry.body)
                outcome = send([target], message, self.hide)[0]
                out.append(outcome)
                if not outcome.ok:
                    self.outbox.failed_again(entry, outcome.detail)
                    break
                self.outbox.delivered(entry)
                self.say(f"notify: delivered an earlier {entry.event} to {target.label()}")
        return out


@dataclass(frozen=True)
class _Seen:
    """Keys of occurrences already emitted (a JSON object key -> first time), pruned after 30 days."""

    path: Path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def has(self, key: str) -> bool:
        return key in self._load()

    def add(self, key: str, now: dt.datetime) -> None:
        cutoff = f"{now - dt.timedelta(days=30):%Y-%m-%dT%H:%M:%SZ}"
        keep = {k: v for k, v in self._load().items() if v >= cutoff}
        keep[key] = f"{now:%Y-%m-%dT%H:%M:%SZ}"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(keep, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


def _too_old(entry: Entry, now: dt.datetime) -> bool:
    try:
        created = dt.datetime.strptime(entry.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return False
    return now - created > RETRY_AGE


class LoadedEnvironment(Protocol):
    """What the notifier needs of a loaded environment (:class:`zixly_stack.project.Loaded` is one):
    notify sits below the project, so it names the shape, not the class."""

    @property
    def root(self) -> Path: ...

    @property
    def config(self) -> EnvConfig: ...


def outbox_dir(loaded: LoadedEnvironment) -> Path:
    """``<state_dir>/notify-<env>/outbox`` (health settings' ``state_dir``; its default when they do not load)."""
    env = loaded.config.name
    try:
        settings = load_settings(loaded.root / "healthchecks", env)
    except ZixlyError:
        settings = Settings()
    return resolve_path(loaded.root, settings.state_dir, env) / f"notify-{env}" / "outbox"


def channel_secrets(loaded: LoadedEnvironment) -> dict[str, Secret]:
    """The secrets the channels name, from the store (opened only when a channel names one)."""
    names = secret_names(loaded.config.environment)
    if not names:
        return {}

    return notification_secrets(loaded.config.environment, loaded.config.name,
                                SecretStore.open(loaded.config.directory))


def notifier_for(loaded: LoadedEnvironment, secrets: Mapping[str, Secret] | None = None,
                 hide: Callable[[str], str] | None = None, say: Say = lambda s: None) -> Notifier:
    """The notifier of a loaded environment (*secrets*: already opened ones, else read as needed;
    *hide*: the caller's redactor, by default one masking the channels' secrets and URLs)."""
    values = dict(secrets) if secrets is not None else channel_secrets(loaded)
    env = loaded.config.name
    targets = resolve(loaded.config.environment, values, env)
    known = [*values.values(), *(t.url for t in targets)]

    def mask(text: str) -> str:
        return redact(text, known)

    return Notifier(env, targets, Outbox(outbox_dir(loaded)), hide or mask, say)


def quiet_notifier_for(loaded: LoadedEnvironment, secrets: Mapping[str, Secret] | None,
                       hide: Callable[[str], str] | None, say: Say) -> Notifier | None:
    """:func:`notifier_for`, or None (said on *say*) when the channels cannot be resolved."""
    try:
        return notifier_for(loaded, secrets, hide, say)
    except ZixlyError as exc:
        say(f"notify: channels unavailable: {hide(str(exc)) if hide else exc}")
        return None
