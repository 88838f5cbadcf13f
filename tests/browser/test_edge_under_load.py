"""Traefik stays healthy while five browsers load app pages at once (shared local stack).

Five fresh browser contexts (separate sessions: no shared cache, cookies or connections) in
Debian's Chromium load n8n (the real app, ~460 requests per first load) and the stand-in
apps' pages (Plane, Nextcloud, Metabase, Chatwoot, Invoice Ninja, Mautic, Portainer: their
vendors' images cannot run here) through Traefik, five at a time, while Traefik's Docker
health status and ``GET /ping`` on its ``traefik`` entry point are polled every 0.5 s. The
memory peak is printed (``-s``); the figures that set Traefik's limit come from
``bench/bench_edge_load.py``, not from an assertion here.
"""

from __future__ import annotations

import pytest

from tests.browser import pages
from tests.browser.conftest import BrowserRecorder
from tests.browser.edge import EdgeWatch, load_together
from tests.harness.stack import LocalStack

pytestmark = [pytest.mark.engine, pytest.mark.e2e]

HOSTS = ("n8n", "plane", "cloud", "metabase", "support", "invoices", "marketing", "portainer")
BROWSERS = 5


def test_traefik_stays_healthy_while_five_browsers_load_app_pages(
    local_stack: LocalStack, browser: BrowserRecorder
) -> None:
    urls = [f"https://{HOSTS[i % len(HOSTS)]}.localhost/" for i in range(2 * BROWSERS)]
    assert sum(u.startswith("https://n8n.") for u in urls) >= 2  # the heavy page is among them, twice
    loads = []
    with EdgeWatch(local_stack.container("traefik", "traefik"), health=True) as watch:
        for start in range(0, len(urls), BROWSERS):
            loads += load_together(browser.browser, urls[start:start + BROWSERS], browser)
    print(f"{len(loads)} page loads, {sum(len(r.responses) for r in loads)} responses; {watch.memory_line()}")
    unhealthy = [s for s in watch.health_states if s != "healthy"]
    assert watch.pings >= 2 and not watch.ping_failures, f"/ping failed: {watch.ping_failures[:5]}"
    assert not unhealthy, f"Traefik's health check: {unhealthy[:5]} of {len(watch.health_states)}"
    too_many = [(r.url, r.count(429)) for r in loads if r.count(429)]
    assert not too_many, f"rate-limited while five browsers loaded pages: {too_many}"
    problems = [f"{r.url}: {p}" for r in loads for p in r.problems(pages.EXPECTED)]
    assert not problems, problems[:10]
    assert all(len(r.responses) > 300 for r in loads if r.url.startswith("https://n8n.")), "n8n did not load"
