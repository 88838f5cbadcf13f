"""The control machine's notifier through the real Apprise library to real loopback receivers:
Apprise's JSON and form posts, a Mattermost (Slack-format) incoming webhook whose token is a
secret, an ntfy publish and SMTP (aiosmtpd). A receiver that accepts and never answers holds
nobody longer than its channel's timeout; what it did not take waits in the outbox and goes
out on the next run; no secret reaches a body, a log line or a failure."""

from __future__ import annotations

import time
from pathlib import Path

from tests.notify.receivers import TOKEN, Sinks, wait_for
from zixly_stack.models.environment import Environment
from zixly_stack.notify.channels import resolve
from zixly_stack.notify.outbox import Outbox
from zixly_stack.notify.produce import Occurrence
from zixly_stack.notify.send import GRACE_S
from zixly_stack.notify.service import Notifier
from zixly_stack.secrets.value import Secret


def notifier(sinks: Sinks, tmp: Path, said: list[str], names: tuple[str, ...] = ("json", "form", "mmost", "ntfy",
                                                                                 "smtp"), **per: dict[str, object]
             ) -> Notifier:
    urls = sinks.urls()
    channels = [{"name": n, "url": urls[n], "timeout_s": 2, **per.get(n, {})} for n in names]
    env = Environment.model_validate({"domain": "example.com", "notifications": {"channels": channels}})
    secrets = {"notify.mm_token": Secret(TOKEN)}
    targets = resolve(env, secrets, "t")
    return Notifier("t", targets, Outbox(tmp / "outbox"), lambda s: s.replace(TOKEN, "********"), said.append)


def test_one_event_reaches_every_wire_format_without_its_secrets(sinks: Sinks, tmp_path: Path) -> None:
    said: list[str] = []
    n = notifier(sinks, tmp_path, said)
    outcomes = n.emit("backup.failed", "backup of t FAILED", "restic: wrong password\nexit 11")
    assert [(o.channel, o.ok) for o in outcomes] == [(c, True) for c in ("json", "form", "mmost", "ntfy", "smtp")]
    assert wait_for(lambda: all(len(s.got) == 1 for s in sinks.answering()))
    for got in sinks.all_got():
        assert got.title == "[zixly t] backup failed: backup of t FAILED", got
        assert "restic: wrong password" in got.body and got.event == "backup.failed", got
        assert TOKEN not in got.raw
    assert sinks.mmost.paths == [f"/hooks/{TOKEN}"], "the token is the channel's address, nowhere else"
    assert all("sent to" in line for line in said) and not any(TOKEN in line for line in said)


def test_filters_and_minimum_severity_choose_the_channels(sinks: Sinks, tmp_path: Path) -> None:
    n = notifier(sinks, tmp_path, [], names=("json", "ntfy"),
                 json={"events": ["deploy.*"]}, ntfy={"min_severity": "critical"})
    assert [o.channel for o in n.emit("deploy.succeeded", "1 host changed", "ok")] == ["json"]
    assert [o.channel for o in n.emit("backup.failed", "x", "y")] == ["ntfy"]
    assert n.emit("health.changed", "recovered", "z", severity="info") == []


def test_a_channel_that_hangs_holds_nobody_and_its_message_is_retried(sinks: Sinks, tmp_path: Path) -> None:
    said: list[str] = []
    n = notifier(sinks, tmp_path, said, names=("json", "hang"), hang={"timeout_s": 1})
    started = time.monotonic()
    outcomes = n.emit("deploy.rolled_back", "local back on the previous release", "metabase unhealthy")
    took = time.monotonic() - started
    assert [(o.channel, o.ok) for o in outcomes] == [("json", True), ("hang", False)]
    assert sinks.hang.accepted, "the hanging receiver was reached"
    # the receiver holds the connection for 600 s: returning at all proves the bound; the figure is the timeout
    assert took < 1 + GRACE_S + 10, took
    pending = n.outbox.entries()
    assert [(e.channel, e.event, e.attempts) for e in pending] == [("hang", "deploy.rolled_back", 1)]
    assert "FAILED" in said[-1] and "retried on the next run" in said[-1]
    sinks.hang.hang = False  # the service is back
    delivered = n.flush()
    assert [(o.channel, o.ok) for o in delivered] == [("hang", True)]
    assert n.outbox.entries() == [] and [g.event for g in sinks.hang.got] == ["deploy.rolled_back"]


def test_a_failure_names_the_channel_never_its_url(sinks: Sinks, tmp_path: Path) -> None:
    n = notifier(sinks, tmp_path, [], names=("mmost",))
    sinks.mmost.close()  # nothing listens any more: connection refused
    (o,) = n.emit("drill.failed", "restore drill of t FAILED", "warehouse: rows differ")
    assert not o.ok and o.detail and TOKEN not in o.detail and "127.0.0.1:" not in o.detail, o.detail
    entry = n.outbox.entries()[0]
    assert TOKEN not in entry.text() and entry.error == o.detail


def test_emit_once_sends_an_occurrence_once(sinks: Sinks, tmp_path: Path) -> None:
    n = notifier(sinks, tmp_path, [], names=("json",))
    occ = Occurrence("demo.expiring", "demo acme expires in 5.0 h", "extend it", key="demo.expiring:acme:T")
    assert len(n.emit_once(occ)) == 1 and n.emit_once(occ) == []
    assert [g.event for g in sinks.json.got] == ["demo.expiring"]
