"""Which checks the catalog yields (pure): contracts through the edge, containers, backups, DNS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from zixly_stack.config.healthchecks import load_settings
from zixly_stack.errors import ConfigError
from zixly_stack.health.checks import DnsCheck, Suite, derive
from zixly_stack.health.model import Status
from zixly_stack.health.probes.dns import probe_dns
from zixly_stack.project import load

REPO = Path(__file__).resolve().parents[2]


def suite(env: str, **kw: bool) -> Suite:
    return derive(load(REPO, env), load_settings(REPO / "healthchecks", env), **kw)


def test_local_probes_vendor_contracts_through_loopback_edge() -> None:
    s = suite("local")
    http = {c.check_id: c for c in s.http}
    n8n = http["http:n8n:n8n.localhost/healthz"]
    assert (n8n.edge.address, n8n.edge.port, n8n.vhost, n8n.status, n8n.body) == (
        "127.0.0.1", 443, "n8n.localhost", 200, '{"status":"ok"}')
    assert "http:n8n:n8n.localhost/healthz/readiness" in http
    # The runner's contract is on port 5680, which no route publishes: not probed through the edge.
    assert not any(c.vhost == "n8n.localhost" and c.path.startswith("/healthz") and c.status is None
                   for c in s.http)
    assert http["http:metabase:metabase.localhost/api/health"].status == 200
    assert {c.server_name for c in s.tls} >= {"n8n.localhost", "metabase.localhost", "cloud.localhost"}
    assert s.dns == ()  # *.localhost never goes to DNS


def test_containers_expected_per_service_and_jobs_left_out() -> None:
    (engine,) = suite("local").engines
    keys = {(e.app, e.container) for e in engine.expected}
    assert {("n8n", "n8n"), ("n8n", "runner"), ("postgres", "server"), ("traefik", "traefik")} <= keys
    assert ("postgres", "provision") not in keys  # a one-shot job, exits by design
    images = {(e.app, e.container): e.image for e in engine.expected}
    assert images[("postgres", "server")].startswith("zixly-offline/postgres:")  # what `zixly up` renders


def test_production_resolves_dns_unless_offline_and_runs_dedicated_stores() -> None:
    prod = suite("production")
    assert "dns:n8n:n8n.zixly.example.com" in {c.check_id for c in prod.dns}
    assert prod.http[0].edge.address == "203.0.113.10"
    (engine,) = prod.engines
    keys = {(e.app, e.container) for e in engine.expected}
    assert ("n8n", "postgres") in keys and ("postgres", "server") not in keys
    assert suite("production", offline=True).dns == ()
    assert all(t.verify for t in prod.tls)  # ACME: the chain must be trusted
    assert not any(t.verify for t in suite("local").tls)  # Traefik's self-signed default certificate


def test_backups_only_for_services_with_something_to_back_up() -> None:
    apps = {b.app for b in suite("local").backups}
    assert {"n8n", "metabase", "nextcloud", "warehouse"} <= apps
    assert "traefik" not in apps and "socket-proxy" not in apps


def test_unknown_skip_kind_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text("skip: [htp]\n")
    with pytest.raises(ConfigError, match="htp"):
        load_settings(tmp_path, "local")


def test_dns_probe_resolves_for_real() -> None:
    ok = asyncio.run(probe_dns(DnsCheck("dns:x:localhost", "x", "localhost")))
    assert ok.status is Status.OK and "127.0.0.1" in ok.details["addresses"]
    bad = asyncio.run(probe_dns(DnsCheck("dns:x:bad", "x", "no-such-name.invalid"), timeout=3))
    assert bad.status is Status.CRITICAL
