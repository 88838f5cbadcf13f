"""Which events commands and reports produce (pure)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from zixly_stack.health.model import Result, Status
from zixly_stack.health.notify import event_of
from zixly_stack.notify.produce import demo_events, deploy_events


def report(*runs: tuple[str, str], hooks: list[tuple[str, bool, str]] | None = None) -> SimpleNamespace:
    return SimpleNamespace(env="prod", seconds=42.0, runs=[
        SimpleNamespace(name=n, status=s, error="boom" if s == "failed" else "", hooks=hooks or [],
                        plan=SimpleNamespace(release_to="20261207T000000Z-abcd")) for n, s in runs])


def test_deploy_events() -> None:
    assert deploy_events(report(("vps1", "unchanged")), "deploy") == []
    (ok,) = deploy_events(report(("vps1", "changed"), ("vps2", "unchanged")), "deploy")
    assert ok.event == "deploy.succeeded" and "vps1: release 20261207T000000Z-abcd" in ok.body
    (rolled,) = deploy_events(report(("vps1", "rolled back"), ("vps2", "changed")), "deploy")
    assert rolled.event == "deploy.rolled_back" and rolled.subject == "vps1 back on the previous release"
    events = [o.event for o in deploy_events(report(("vps1", "rolled back"), ("vps2", "failed")), "up")]
    assert events == ["deploy.rolled_back", "deploy.failed"]
    assert [o.event for o in deploy_events(report(("vps1", "locked")), "deploy")] == ["deploy.failed"]
    (hook,) = deploy_events(report(("vps1", "changed"), hooks=[("n8n-owner", False, "failed: 500")]), "deploy")
    assert hook.event == "deploy.failed" and "n8n-owner" in hook.body


def test_demo_expiring_within_a_day_once_per_expiry() -> None:
    now = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    recs = [SimpleNamespace(client=c, services=["metabase"], expires=e) for c, e in
            (("soon", "2026-12-07T18:00:00Z"), ("later", "2026-12-09T12:00:00Z"), ("gone", "2026-12-07T11:00:00Z"))]
    (occ,) = demo_events(recs, now)
    assert occ.event == "demo.expiring" and occ.subject == "demo soon expires in 6.0 h"
    assert occ.key == "demo.expiring:soon:2026-12-07T18:00:00Z" and "zixly demo extend soon" in occ.body


def test_report_checks_map_onto_events() -> None:
    def r(kind: str, status: Status, **details: object) -> Result:
        return Result(f"{kind}:x", "x", kind, "x", status, "s", None, dict(details))

    assert event_of(r("backup", Status.WARNING)) == ("backup.missing", "critical")
    assert event_of(r("tls", Status.WARNING)) == ("cert.expiring", "warning")
    assert event_of(r("tls", Status.CRITICAL)) == ("cert.expiring", "critical")
    assert event_of(r("host", Status.WARNING, over=["disk /"])) == ("host.disk", "warning")
    assert event_of(r("host", Status.CRITICAL, over=["memory"])) == ("host.memory", "critical")
    assert event_of(r("container", Status.CRITICAL)) == ("health.changed", "critical")
    assert event_of(r("http", Status.OK)) == ("health.changed", "info")
