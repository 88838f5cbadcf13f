"""The one list of events zixly notifies about: stable ids, severities, who produces them. Pure data.

Ids are ``<area>.<what>`` and never change meaning (channels filter on them, docs name them).
Severity orders ``info < warning < critical``; a channel's ``min_severity`` drops what is
below it unless the channel names the event itself. An occurrence may be raised above its
event's severity (a threshold check that is critical, not just warning) and a recovery is
sent as ``info``.

``produced_by`` says where the event comes from; ``future`` marks events whose producer is not
built yet (an issue still open): their ids are reserved so channels can subscribe now, and
nothing emits them -- :func:`zixly_stack.notify.service.Notifier.emit` is the hook their
producer will call.

The on-host agent (stdlib only, shipped verbatim) carries its own copy of the ids it emits;
``tests/notify`` pins that copy against this list.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("info", "warning", "critical")


def rank(severity: str) -> int:
    """0 info, 1 warning, 2 critical (unknown text ranks as critical: never drop what we cannot read)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


@dataclass(frozen=True)
class Event:
    """One kind of notification."""

    id: str
    severity: str
    title: str
    produced_by: str
    future: str = ""  # the open issue whose producer will emit it; empty: produced today


EVENTS: tuple[Event, ...] = (
    Event("deploy.succeeded", "info", "deploy succeeded",
          "zixly deploy / zixly up (this machine), when a host changed"),
    Event("deploy.failed", "critical", "deploy failed",
          "zixly deploy / zixly up: a host failed or was unreachable, the deploy lock was held, or a hook "
          "declared on_failure: fail failed"),
    Event("deploy.rolled_back", "critical", "deploy rolled back",
          "zixly deploy / zixly up: the health gate put the previous release back"),
    Event("upgrade.checkpoint_restored", "critical", "upgrade checkpoint restored",
          "safe upgrades: a failed upgrade's data checkpoint was restored", future="issue 16 (safe upgrades)"),
    Event("backup.failed", "critical", "backup failed",
          "the backup script (nightly timer on each host, and zixly backup): any failed run"),
    Event("backup.missing", "critical", "backup missing",
          "the on-host health agent (and zixly health --notify): no successful backup of a service within "
          "backup.max_age_hours"),
    Event("restore.failed", "critical", "restore failed", "zixly restore"),
    Event("drill.failed", "critical", "restore drill failed", "zixly backup verify (and its weekly schedule)"),
    Event("cert.expiring", "warning", "certificate expiring",
          "the on-host agent (its edge's certificates) and zixly health --notify: fewer than tls.warn_days left "
          "(critical below tls.critical_days)"),
    Event("host.disk", "warning", "disk threshold",
          "the on-host agent and zixly health --notify: disk use above host.disk_warn_pct (critical above "
          "host.disk_critical_pct)"),
    Event("host.memory", "warning", "memory threshold",
          "the on-host agent and zixly health --notify: memory use above host.memory_warn_pct (critical above "
          "host.memory_critical_pct)"),
    Event("health.changed", "warning", "health status changed",
          "the on-host agent and zixly health --notify: any other check changed status (routes, containers, "
          "images, DNS); every recovery, as info"),
    Event("drift.found", "warning", "drift found",
          "drift detection: a host differs from git", future="issue 17 (drift and import)"),
    Event("demo.expiring", "warning", "demo expiring",
          "the on-host health agent of a host carrying client demos, and zixly demo reap: a client demo expires "
          "within 24 hours"),
    Event("digest.daily", "info", "daily digest",
          "the on-host agent and zixly health --notify: once a day after notify.digest_hour (UTC)"),
    Event("notify.test", "info", "test message", "zixly notify test: sent to every channel, filters ignored"),
)

BY_ID: dict[str, Event] = {e.id: e for e in EVENTS}


def get(event_id: str) -> Event:
    """The event *event_id* (KeyError for an unknown id: a programming error)."""
    return BY_ID[event_id]


def matches(pattern: str, event_id: str) -> bool:
    """``*`` matches every event, ``area.*`` every event of the area, anything else itself."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_id.startswith(pattern[:-1])
    return pattern == event_id


def known_pattern(pattern: str) -> bool:
    """True when *pattern* matches at least one event of the list."""
    return any(matches(pattern, e.id) for e in EVENTS)
