"""Channels: the event list, checks with their key paths, the older settings mapped onto channels,
secrets filled in and never shown, filters and severities."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from zixly_stack.cli.main import cli
from zixly_stack.errors import SecretsError
from zixly_stack.models.environment import Environment
from zixly_stack.notify import channels as ch
from zixly_stack.notify.events import EVENTS, SEVERITIES, matches
from zixly_stack.secrets.value import Secret


def env(notifications: dict[str, object], **extra: object) -> Environment:
    return Environment.model_validate({"domain": "example.com", "notifications": notifications, **extra})


def test_every_event_has_a_stable_id_a_severity_and_a_producer() -> None:
    ids = [e.id for e in EVENTS]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", i) for i in ids)
    assert all(e.severity in SEVERITIES and e.produced_by for e in EVENTS)
    wanted = {"deploy.succeeded", "deploy.failed", "deploy.rolled_back", "backup.failed", "backup.missing",
              "restore.failed", "drill.failed", "cert.expiring", "host.disk", "host.memory", "health.changed",
              "demo.expiring", "digest.daily"}
    assert wanted <= set(ids)
    assert {e.id for e in EVENTS if e.future} == {"upgrade.checkpoint_restored", "drift.found"}


def test_notify_events_lists_ids_severities_and_marks_future_ones() -> None:
    res = CliRunner().invoke(cli, ["notify", "events"])
    assert res.exit_code == 0, res.output
    for e in EVENTS:
        assert re.search(rf"^{re.escape(e.id)}\s+{e.severity}\s", res.output, re.M), e.id
    assert "drift.found" in res.output and "not produced yet: issue 17" in res.output


def test_patterns() -> None:
    assert matches("*", "backup.failed") and matches("backup.*", "backup.failed")
    assert not matches("backup.*", "deploy.failed") and not matches("backup", "backup.failed")


@pytest.mark.parametrize(("notifications", "path", "message"), [
    ({"channels": [{"name": "a", "url": "json://h/x"}, {"name": "a", "url": "json://h/y"}]},
     ("channels", 1, "name"), "used twice"),
    ({"webhook": "https://hooks.example.com/x", "channels": [{"name": "webhook", "url": "json://h/x"}]},
     ("channels", 0, "name"), "used twice"),
    ({"channels": [{"name": "a", "url": "json://h/x", "events": ["backup.faild"]}]},
     ("channels", 0, "events", 0), "no event matches 'backup.faild'"),
    ({"channels": [{"name": "a", "url": "json://h/${secret:n8n.encryption_key}"}]},
     ("channels", 0, "url"), "placeholder ${secret:n8n.encryption_key} is not allowed"),
    ({"channels": [{"name": "a", "url": "json://h/${url:n8n}"}]}, ("channels", 0, "url"), "not allowed"),
    ({"channels": [{"name": "a", "url": "mailtos://me:hunter2pass@smtp.example.com"}]},
     ("channels", 0, "url"), "a password written into the URL"),
    ({"channels": [{"name": "a", "url": "hooks.slack.com/services/x"}]}, ("channels", 0, "url"), "not an Apprise URL"),
    ({"email_to": ["ops@example.com"]}, ("email_to",), "needs the environment's smtp"),
])
def test_check_finds_each_problem_at_its_key(notifications: dict[str, object], path: tuple[object, ...],
                                              message: str) -> None:
    problems = ch.check(env(notifications))
    assert [(p.path, message in p.message) for p in problems] == [(path, True)], problems


def test_check_accepts_secret_references_and_hints_typos() -> None:
    ok = {"channels": [{"name": "a", "url": "mailtos://me:${secret:notify.smtp_pw}@smtp.example.com?to=x@y.z"},
                       {"name": "b", "url": "${secret:notify.slack_url}", "events": ["backup.*", "deploy.failed"]}]}
    assert ch.check(env(ok)) == []
    assert ch.secret_names(env(ok)) == ["notify.slack_url", "notify.smtp_pw"]
    bad = ch.check(env({"channels": [{"name": "a", "url": "json://h/", "events": ["backup.faild"]}]}))
    assert "did you mean 'backup.failed'" in bad[0].hint


@pytest.mark.parametrize(("webhook", "apprise"), [
    ("https://hooks.slack.com/services/T00/B00/XXXX", "slack://T00/B00/XXXX"),
    ("https://discord.com/api/webhooks/123/abc/slack", "discord://123/abc"),
    ("https://chat.example.com/hooks/k3y", "mmosts://chat.example.com/k3y"),
    ("http://127.0.0.1:8065/sub/hooks/k3y", "mmost://127.0.0.1:8065/sub/k3y"),
    ("https://hooks.example.com/services/zixly-alerts", "jsons://hooks.example.com/services/zixly-alerts"),
])
def test_the_older_webhook_maps_onto_an_apprise_url(webhook: str, apprise: str) -> None:
    assert ch.legacy_webhook_url(webhook) == apprise


def test_the_older_settings_become_channels_taking_every_event() -> None:
    e = env({"webhook": "https://hooks.slack.com/services/T/B/C", "email_to": ["a@example.com", "b@example.com"]},
            smtp={"host": "smtp.example.com", "port": 587, "from": "zixly@example.com"})
    declared = ch.declared(e)
    assert [(c.name, c.events) for c in declared] == [("webhook", ["*"]), ("email", ["*"])]
    assert declared[1].url == ("mailtos://smtp.example.com:587?from=zixly%40example.com&"
                               "to=a%40example.com%2Cb%40example.com&format=text&mode=starttls")


def test_resolve_fills_secrets_adds_timeouts_and_never_shows_the_url() -> None:
    e = env({"channels": [{"name": "slack", "url": "${secret:notify.slack_url}", "timeout_s": 4},
                          {"name": "mm", "url": "mmost://chat.example.com/${secret:notify.mm}", "min_severity":
                           "critical", "events": ["*", "digest.daily"]}]})
    secrets = {"notify.slack_url": Secret("slack://T1/B2/sekrit-token"), "notify.mm": Secret("tok-123456")}
    slack, mm = ch.resolve(e, secrets, "prod")
    assert slack.url.reveal() == "slack://T1/B2/sekrit-token?cto=4&rto=4"
    assert mm.url.reveal() == "mmost://chat.example.com/tok-123456?cto=10&rto=10"
    assert slack.label() == "slack (slack://…)" and mm.label() == "mm (mmost://chat.example.com)"
    assert "sekrit" not in repr(slack) and "tok-123456" not in repr(mm)
    assert mm.accepts("backup.failed", "critical") and not mm.accepts("deploy.succeeded", "info")
    assert mm.accepts("digest.daily", "info"), "a channel that names an event takes it whatever its severity"
    config = ch.apprise_config([slack, mm])
    assert "slack=slack://T1/B2/sekrit-token?cto=4&rto=4\n" in config and "mm=mmost://" in config
    with pytest.raises(SecretsError, match=r"notify\.mm.*zixly secrets set prod notify\.mm"):
        ch.resolve(e, {"notify.slack_url": secrets["notify.slack_url"]}, "prod")
    with pytest.raises(SecretsError, match="not an Apprise URL"):
        ch.resolve(e, {**secrets, "notify.slack_url": Secret("slack://x\nevil=json://attacker/")}, "prod")
