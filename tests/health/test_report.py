"""Reports against a real HTTPS edge on loopback (see conftest): the verdicts the issue asks for.

The edge stands in for Traefik (Host-header routing, SNI certificates, Traefik's 404 when a
router is gone); the apps behind it answer their vendors' documented health contracts from
the catalog. Metabase, Nextcloud and n8n themselves are not run here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from tests.health.conftest import ENV, Stack
from zixly_stack.cli.main import cli
from zixly_stack.health.model import Status
from zixly_stack.health.probes import http as http_probe
from zixly_stack.health.service import report_for

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "health-report.schema.json").read_text())


def run_cli(stack: Stack, *extra: str) -> tuple[int, dict[str, object]]:
    """``zixly --root ROOT health hc --format json`` in-process; (exit code, parsed report)."""
    args = ["--root", str(stack.root), "health", ENV, "--format", "json", "--state-dir", str(stack.state_dir),
            "--backup-status", str(stack.backup_status), "--skip", "container", "--skip", "image",
            "--skip", "host", *extra]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    return res.exit_code, json.loads(res.output)


def app_statuses(doc: dict[str, object]) -> dict[str, str]:
    apps = doc["apps"]
    assert isinstance(apps, list)
    return {a["name"]: a["status"] for a in apps}


def test_all_green_on_a_healthy_stack(healthy_stack: Stack) -> None:
    code, doc = run_cli(healthy_stack)
    jsonschema.validate(doc, SCHEMA)
    assert code == 0, doc
    assert doc["status"] == "ok"
    kinds = {(c["app"], c["kind"]) for c in doc["checks"]}  # type: ignore[attr-defined]
    for app in ("n8n", "metabase", "nextcloud"):
        assert {(app, "http"), (app, "tls"), (app, "backup")} <= kinds
    assert set(app_statuses(doc).values()) == {"ok"}


def test_one_app_down_is_critical_the_rest_green_exit_2(healthy_stack: Stack) -> None:
    for key in [k for k in healthy_stack.edge.routes if k[0] == "metabase.localhost"]:
        del healthy_stack.edge.routes[key]  # Traefik drops the router: 404 page not found
    code, doc = run_cli(healthy_stack)
    jsonschema.validate(doc, SCHEMA)
    assert code == 2
    statuses = app_statuses(doc)
    assert statuses.pop("metabase") == "critical"
    assert set(statuses.values()) == {"ok"}, statuses
    down = [c for c in doc["checks"] if c["status"] != "ok"]  # type: ignore[attr-defined]
    assert [(c["id"], c["details"]["status_code"]) for c in down] == [("http:metabase:metabase.localhost/api/health",
                                                                       404)]


def test_wrong_body_is_critical(healthy_stack: Stack) -> None:
    healthy_stack.edge.routes[("n8n.localhost", "/healthz/readiness")].body = '{"status":"error"}'
    outcome = report_for(healthy_stack.root, ENV, healthy_stack.options())
    bad = {r.check_id: r.status for r in outcome.report.results if r.status is not Status.OK}
    assert bad == {"http:n8n:n8n.localhost/healthz/readiness": Status.CRITICAL}


def test_a_5xx_is_asked_again_before_it_is_critical(healthy_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """n8n's readiness reads 503 for a moment when one database ping is slow: asked again
    (CONFIRM_S later) it is ok and says what it saw; a 503 that stays is critical."""
    monkeypatch.setattr(http_probe, "CONFIRM_S", 0.2)
    route = ("n8n.localhost", "/healthz/readiness")
    good = healthy_stack.edge.routes[route]
    healthy_stack.edge.routes[route] = dataclasses.replace(good, status=503, body='{"status":"error"}', then=good)
    outcome = report_for(healthy_stack.root, ENV, healthy_stack.options())
    flap = {r.check_id: r for r in outcome.report.results}["http:n8n:n8n.localhost/healthz/readiness"]
    assert flap.status is Status.OK and flap.summary.endswith("(HTTP 503 0.2 s before)"), flap
    assert healthy_stack.edge.routes[route] is good, "the edge was asked twice"

    healthy_stack.edge.routes[route] = dataclasses.replace(good, status=503, body='{"status":"error"}')
    outcome = report_for(healthy_stack.root, ENV, healthy_stack.options())
    bad = {r.check_id: r.status for r in outcome.report.results if r.status is not Status.OK}
    assert bad == {"http:n8n:n8n.localhost/healthz/readiness": Status.CRITICAL}


@pytest.mark.parametrize(("days", "expected", "code"), [(10, "warning", 1), (1, "critical", 2)])
def test_certificate_near_expiry(healthy_stack: Stack, days: int, expected: str, code: int) -> None:
    healthy_stack.edge.certificate("cloud.localhost", days)
    exit_code, doc = run_cli(healthy_stack)
    assert exit_code == code
    tls = {c["id"]: c for c in doc["checks"] if c["kind"] == "tls"}  # type: ignore[attr-defined]
    assert tls["tls:nextcloud:cloud.localhost"]["status"] == expected
    assert round(tls["tls:nextcloud:cloud.localhost"]["details"]["days_left"]) == days
    assert {v["status"] for k, v in tls.items() if k != "tls:nextcloud:cloud.localhost"} == {"ok"}
    assert app_statuses(doc)["nextcloud"] == expected


def test_stale_backup_warns(healthy_stack: Stack) -> None:
    healthy_stack.record_backups(dt.timedelta(hours=30), only="n8n")
    code, doc = run_cli(healthy_stack)
    assert code == 1
    backups = {c["app"]: c for c in doc["checks"] if c["kind"] == "backup"}  # type: ignore[attr-defined]
    assert backups["n8n"]["status"] == "warning"
    assert backups["n8n"]["details"]["age_hours"] == pytest.approx(30, abs=0.2)
    assert {a: b["status"] for a, b in backups.items() if a != "n8n"} == dict.fromkeys(
        ("metabase", "nextcloud", "redis", "warehouse"), "ok"
    )


def test_missing_backup_status_warns_and_ancient_backup_is_critical(healthy_stack: Stack) -> None:
    healthy_stack.backup_status.unlink()
    healthy_stack.record_backups(dt.timedelta(days=5), only="metabase")
    report = report_for(healthy_stack.root, ENV, healthy_stack.options()).report
    backups = {r.app: r.status for r in report.results if r.kind == "backup"}
    assert backups == {"metabase": Status.CRITICAL, "n8n": Status.WARNING, "nextcloud": Status.WARNING,
                       "redis": Status.WARNING, "warehouse": Status.WARNING}


def test_slow_answer_warns(healthy_stack: Stack) -> None:
    (healthy_stack.root / "healthchecks" / f"{ENV}.yaml").write_text("http: {warn_ms: 1000}\n")
    healthy_stack.edge.routes[("n8n.localhost", "/healthz")].delay_s = 1.3
    report = report_for(healthy_stack.root, ENV, healthy_stack.options()).report
    slow = [r for r in report.results if r.status is not Status.OK]
    assert [(r.check_id, r.status) for r in slow] == [("http:n8n:n8n.localhost/healthz", Status.WARNING)]
    assert slow[0].latency_ms is not None and slow[0].latency_ms >= 1300


def test_probes_run_concurrently(healthy_stack: Stack) -> None:
    """Causal, not timed: each endpoint answers only once EVERY endpoint's request is in flight
    (a barrier in the edge); probed one after another, the first would wait alone until the
    barrier breaks and every answer would be a 503."""
    gate = threading.Barrier(len(healthy_stack.edge.routes), timeout=20)
    for answer in healthy_stack.edge.routes.values():
        answer.gate = gate
    report = report_for(healthy_stack.root, ENV, healthy_stack.options(history=False)).report
    http = [r for r in report.results if r.kind == "http"]
    assert len(http) == len(healthy_stack.edge.routes) and not gate.broken
    assert report.status is Status.OK, [(r.check_id, r.status, r.summary) for r in report.results]


def test_history_gives_uptime_and_latency_series(healthy_stack: Stack) -> None:
    report_for(healthy_stack.root, ENV, healthy_stack.options())
    del healthy_stack.edge.routes[("cloud.localhost", "/status.php")]
    report_for(healthy_stack.root, ENV, healthy_stack.options())
    code, doc = run_cli(healthy_stack, "--no-history")
    assert code == 2
    jsonschema.validate(doc, SCHEMA)
    apps = {a["name"]: a for a in doc["apps"]}  # type: ignore[attr-defined]
    assert apps["nextcloud"]["history"]["statuses"] == ["ok", "critical"]
    assert apps["nextcloud"]["history"]["uptime_pct"] == 50.0
    assert apps["n8n"]["history"]["uptime_pct"] == 100.0
    assert len(apps["n8n"]["history"]["latencies_ms"]) == 2


def test_table_and_markdown_name_every_app(healthy_stack: Stack) -> None:
    for fmt in ("table", "markdown"):
        res = CliRunner().invoke(cli, ["--root", str(healthy_stack.root), "health", ENV, "--format", fmt,
                                       "--state-dir", str(healthy_stack.state_dir), "--backup-status",
                                       str(healthy_stack.backup_status), "--skip", "container", "--skip", "image",
                                       "--skip", "host", "--no-history"])
        assert res.exit_code == 0, res.output
        for app in ("n8n", "metabase", "nextcloud", "warehouse"):
            assert app in res.output


def test_bad_suite_file_is_a_config_error(healthy_stack: Stack) -> None:
    (healthy_stack.root / "healthchecks" / f"{ENV}.yaml").write_text("tls: {warn_dayz: 3}\n")
    res = CliRunner().invoke(cli, ["--root", str(healthy_stack.root), "health", ENV])
    assert res.exit_code == 2
    assert "warn_dayz" in res.output


def test_untrusted_certificate_is_critical_when_the_environment_uses_acme(healthy_stack: Stack) -> None:
    """Environments with ACME must present a trusted chain; the self-signed one is not."""
    import asyncio

    from zixly_stack.health.checks import Edge as EdgeAddr
    from zixly_stack.health.checks import TlsCheck
    from zixly_stack.health.probes.tls import probe_tls

    addr = EdgeAddr("local", "127.0.0.1", healthy_stack.edge.port)
    strict = asyncio.run(probe_tls(TlsCheck("tls:n8n:x", "n8n", addr, "n8n.localhost", 21, 3, 5.0, verify=True)))
    assert strict.status is Status.CRITICAL and "not trusted" in strict.summary
    lax = asyncio.run(probe_tls(TlsCheck("tls:n8n:x", "n8n", addr, "n8n.localhost", 21, 3, 5.0)))
    assert lax.status is Status.OK


def test_every_request_carries_its_own_host_as_sni(healthy_stack: Stack) -> None:
    """Probed one after another (so a pooled connection would be reused), each request's TLS
    server name still matches its Host header: the edge answers 421 otherwise."""
    import asyncio

    from zixly_stack.health.probes.http import Clients, probe_http

    checks = healthy_stack.suite().http

    async def sequentially() -> list[Status]:
        async with Clients() as clients:
            return [(await probe_http(clients, c)).status for c in checks]

    assert len({c.vhost for c in checks}) >= 3
    assert asyncio.run(sequentially()) == [Status.OK] * len(checks)
