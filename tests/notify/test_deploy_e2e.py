"""A real deploy that rolls back sends ``deploy.rolled_back`` through the real Apprise library to
real loopback receivers of four wire formats (Apprise JSON, Apprise form, ntfy, SMTP/aiosmtpd).

Joins the session's shared local stack: the fault is the one tests/deploy/test_local_e2e.py
uses (the Metabase stand-in made unhealthy with ``ZIXLY_STANDIN_FAIL=1``, so the health gate
puts the previous release back); the environment file gets the four channels for this deploy
only and is restored afterwards, after which a plan of the stack shows no change.
"""

from __future__ import annotations

import pytest

from tests.harness.stack import LocalStack, _with
from tests.notify.receivers import Sinks, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

NAMES = ("json", "form", "ntfy", "smtp")


def test_a_deploy_that_rolls_back_is_deploy_rolled_back_on_every_channel(local_stack: LocalStack,
                                                                          sinks: Sinks) -> None:
    urls = sinks.urls()
    channels = "".join(f"    - {{name: {n}, url: '{urls[n]}', timeout_s: 5}}\n" for n in NAMES)
    failing = _with(local_stack, "metabase: {env: {metabase: {ZIXLY_STANDIN_FAIL: '1'}}}")
    local_stack.env_file.write_text(failing.rstrip("\n") + "\nnotifications:\n  channels:\n" + channels)
    try:
        res = local_stack.zixly.run("deploy", local_stack.env, "--yes", "--no-hooks", check=1, timeout=1800)
        assert "rolled back" in res.stderr, res.stderr
        receivers = [sinks.json, sinks.form, sinks.ntfy, sinks.smtp]
        assert wait_for(lambda: all(len(s.got) == 1 for s in receivers)), [s.got for s in receivers]
        for s in receivers:
            (got,) = s.got
            assert got.event == "deploy.rolled_back", got
            assert got.title.startswith(f"[zixly {local_stack.env}] deploy rolled back: "), got
            assert "back on the previous release" in got.title and "rolled back" in got.body, got
            assert not any(u.split("?")[0] in got.raw for u in urls.values()), "no channel URL in a message"
        for n in NAMES:
            assert f"notify: deploy.rolled_back sent to {n} (" in res.stderr, res.stderr
        assert not any(u.split("?")[0] in res.stdout + res.stderr for u in urls.values())
    finally:
        local_stack.set_overrides("")
    plan = local_stack.zixly.run("plan", local_stack.env, "--detailed-exitcode", check=None)
    assert plan.returncode == 0, plan.stdout + local_stack.unhealthy()
