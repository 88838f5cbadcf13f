"""``zixly notify test`` and a deploy's events, from a real environment on disk through the real
Apprise library to the real loopback receivers of tests/notify/receivers.py.

The environment is the shipped ``local`` one with four channels (Apprise JSON, ntfy, SMTP and one
whose receiver accepts and never answers). Checked: per channel what happened, exit 1 when a
channel failed, no URL in the output, ``--channel`` picks one, an unknown channel is a
configuration error at its key; a deploy that rolled back reaches the channels that take it and
returns within the hanging channel's timeout (plus the grace), its failed delivery kept for the
next run and shown by the health report's ``notify:<channel>`` check.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from tests.helpers import zixly
from tests.notify.conftest import ENV
from tests.notify.receivers import Sinks, wait_for
from zixly_stack.cli.prepared import Prepared, notify_deploy
from zixly_stack.health.probes.notify import from_outbox, judge
from zixly_stack.notify.outbox import Outbox
from zixly_stack.notify.send import GRACE_S
from zixly_stack.notify.service import outbox_dir
from zixly_stack.project import load


def test_notify_test_says_per_channel_what_happened(root: Path, sinks: Sinks) -> None:
    started = time.monotonic()
    run = zixly("notify", "test", ENV, root=root)
    took = time.monotonic() - started
    assert run.code == 1, (run.stdout, run.stderr)  # one channel did not take it
    rows = {line.split()[0]: line for line in run.stdout.splitlines() if line.strip()}
    assert set(rows) == {"json", "ntfy", "smtp", "hang"}, run.stdout
    assert all(" sent (" in rows[n] for n in ("json", "ntfy", "smtp")), run.stdout
    assert "FAILED" in rows["hang"], run.stdout
    assert took < 1 + GRACE_S + 10, took  # the hanging receiver holds its connection for 600 s
    assert wait_for(lambda: all(len(s.got) == 1 for s in (sinks.json, sinks.ntfy, sinks.smtp)))
    # filters are ignored for a test message: the ntfy (critical only) and smtp (deploy.*) channels got it
    for got in (sinks.json.got[0], sinks.ntfy.got[0], sinks.smtp.got[0]):
        assert got.event == "notify.test" and got.title == "[zixly local] test message: test message", got
    output = run.stdout + run.stderr
    for url in sinks.urls().values():
        assert url.split("?")[0] not in output, "a channel is shown by name and scheme, never by URL"

    one = zixly("notify", "test", ENV, "--channel", "json", root=root)
    assert one.code == 0 and [ln.split()[0] for ln in one.stdout.splitlines()] == ["json"], one.stdout
    assert len(sinks.json.got) == 2 and len(sinks.ntfy.got) == 1


def test_notify_test_of_an_unknown_channel_is_a_config_error(root: Path, sinks: Sinks) -> None:
    run = zixly("notify", "test", ENV, "--channel", "jsno", root=root)
    assert run.code == 2, (run.stdout, run.stderr)
    assert "notifications.channels" in run.stderr and "'jsno'" in run.stderr and "json" in run.stderr
    assert sinks.all_got() == [] and sinks.hang.accepted == []


def test_a_rolled_back_deploy_reaches_its_channels_and_a_hanging_one_delays_it_by_its_timeout_only(
        root: Path, sinks: Sinks) -> None:
    loaded = load(root, ENV)
    prep = Prepared(loaded, (), lambda text: text)  # no store: the channels name no secret
    run = SimpleNamespace(name="local", status="rolled back", error="metabase did not become healthy", hooks=[],
                          plan=SimpleNamespace(release_to="20261207T050000Z-beef"))
    report = SimpleNamespace(env=ENV, seconds=93.0, runs=[run])
    started = time.monotonic()
    notify_deploy(prep, report, "deploy")
    took = time.monotonic() - started
    assert took < 1 + GRACE_S + 10, took
    assert wait_for(lambda: len(sinks.smtp.got) == 1)
    for s in (sinks.json, sinks.ntfy, sinks.smtp):  # critical: every channel's filter takes it
        (got,) = s.got
        assert got.event == "deploy.rolled_back" and got.title == \
            "[zixly local] deploy rolled back: local back on the previous release", got
        assert "metabase did not become healthy" in got.body
    assert sinks.hang.accepted, "the hanging channel was tried"
    pending = Outbox(outbox_dir(loaded)).entries()
    assert [(e.channel, e.event) for e in pending] == [("hang", "deploy.rolled_back")]
    shown = {r.check_id: r for r in judge(["json", "ntfy", "smtp", "hang"], from_outbox(pending))}
    assert shown["notify:hang"].status.value == "warning" and "1 notification(s) not delivered" in \
        shown["notify:hang"].summary
    assert shown["notify:json"].status.value == "ok"


def test_a_channel_token_is_set_with_secrets_set_and_used_by_notify_test(root: Path, sinks: Sinks) -> None:
    """A channel whose whole URL is ``${secret:notify.NAME}``: ``zixly secrets set`` accepts that name
    (it is no service's secret) and the next message goes to the URL stored there."""
    env_file = root / "inventories" / ENV / "environment.yaml"
    env_file.write_text(env_file.read_text() + "    - name: tok\n      url: '${secret:notify.json_url}'\n")
    missing = zixly("notify", "test", ENV, "--channel", "tok", root=root)
    assert missing.code != 0 and "notify.json_url" in missing.stderr and "secrets set" in missing.stderr, missing
    assert zixly("secrets", "init", ENV, root=root).code in (0, 1)
    typo = zixly("secrets", "set", ENV, "notify.json_ulr", root=root, input="x\n")
    assert typo.code != 0 and "notify.json_url" in typo.stderr, "an unknown name is refused with the close one"
    done = zixly("secrets", "set", ENV, "notify.json_url", root=root, input=sinks.urls()["json"] + "\n")
    assert done.code == 0, (done.stdout, done.stderr)
    sent = zixly("notify", "test", ENV, "--channel", "tok", root=root)
    assert sent.code == 0, (sent.stdout, sent.stderr)
    assert wait_for(lambda: len(sinks.json.got) == 1) and sinks.json.got[0].event == "notify.test"
