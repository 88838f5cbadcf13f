"""What a person sees in a real browser (Debian's Chromium via Playwright) on the shared local stack.

Every page is loaded through Traefik on the stack's edge address, as ``https://<app>.localhost``,
in a fresh browser context (a first visit: nothing cached), until the network is idle. "Loads
cleanly" means: no failed request, no HTTP status >= 400 (in particular no 429 from a rate
limit) and no console or page error. curl-based route checks (tests/deploy) prove routing;
these prove the pages work for a person.

n8n is the real application (the offline kit's n8n image). Plane, Nextcloud, Metabase,
Chatwoot, Invoice Ninja, Mautic and Portainer are labelled STAND-INS here: their vendors'
images cannot run on this machine (no registry), so their pages are the stand-in's own
page, which is what these tests load: it proves the route, TLS, headers and limits in front
of them, not the vendor's UI.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import pages
from tests.browser.conftest import BrowserRecorder
from tests.deploy.helpers import REPO
from tests.harness.stack import LocalStack
from zixly_stack.project import load

pytestmark = [pytest.mark.engine, pytest.mark.e2e]

SEEDS = REPO / "services" / "n8n" / "seeds" / "workflows"
STANDINS = {"portainer": "portainer", "chatwoot": "support", "invoiceninja": "invoices", "mautic": "marketing",
            "metabase": "metabase", "nextcloud": "cloud", "plane": "plane"}
FORM_TIMEOUT_MS = 120_000
# Traefik 3.7's dashboard fetches its "Hub demo" menu from traefik.github.io whatever the config
# (api.disableDashboardAd, which we set, only drops the Hub button): offline those fetches fail.
HUB_DEMO = (r"traefik\.github\.io", r"[Vv]erification (error|failed).*Failed to fetch")


def credentials(stack: LocalStack, app: str) -> dict[str, Any]:
    """``zixly credentials ENV APP --reveal --json``: how a person gets the password (the CLI, not the store)."""
    doc: dict[str, Any] = stack.zixly.json("credentials", stack.env, app, "--reveal")
    return doc


def test_n8n_owner_signs_in_through_traefik_and_sees_the_seeded_workflows(
    local_stack: LocalStack, browser: BrowserRecorder
) -> None:
    """The URL, user and password come from ``zixly credentials`` (as the sign-in table tells a
    person); the first load of the editor gets no 429 and no failed request; after signing in,
    the three seeded workflows are listed."""
    creds = credentials(local_stack, "n8n")
    assert creds["url"] == "https://n8n.localhost/signin" and not creds["standin"]
    page, rec = browser.open(creds["url"])
    before = rec.problems((pages.N8N_LOGIN_CHECK,))
    assert rec.count(429) == 0 and not before, f"n8n's first load: {rec.summary()}: {before[:10]}"
    assert len(rec.responses) > 300, f"the editor's assets did not load: {rec.summary()}"
    page.fill("input[name=emailOrLdapLoginId]", creds["user"], timeout=FORM_TIMEOUT_MS)
    page.fill("input[name=password]", creds["password"])
    page.click("[data-test-id=form-submit-button]")
    names = sorted(json.loads(p.read_text())["name"] for p in SEEDS.glob("*.json"))
    assert len(names) == 3
    for name in names:
        page.get_by_text(name, exact=True).first.wait_for(timeout=FORM_TIMEOUT_MS)
    assert "/signin" not in page.url, page.url
    after = rec.problems((pages.N8N_LOGIN_CHECK,))
    assert rec.count(429) == 0 and not after, f"signed in, but: {after[:10]}"


def test_traefik_dashboard_asks_for_basic_auth_then_shows_the_routers(
    local_stack: LocalStack, browser: BrowserRecorder
) -> None:
    creds = credentials(local_stack, "traefik")
    url = creds["url"]
    assert url == "https://traefik.localhost/dashboard/" and creds["user"] == "admin"
    _, anonymous = browser.open(url)  # a person gets the browser's sign-in prompt; Playwright cancels it
    assert anonymous.document == 401, f"without credentials the dashboard answered {anonymous.summary()}"
    assert any("ERR_INVALID_AUTH_CREDENTIALS" in e for e in anonymous.page_errors), anonymous.page_errors
    page, rec = browser.open(url, http_credentials={"username": creds["user"], "password": creds["password"]})
    assert rec.status == 200 and not rec.problems(HUB_DEMO), (
        f"{rec.summary()}: {rec.problems(HUB_DEMO)[:10]}\n{local_stack.unhealthy()}")
    page.goto(url + "#/http/routers", wait_until="networkidle")
    search = page.get_by_placeholder("Search")  # the table renders its first rows only: filter, as a person would
    for router in ("n8n@file", "n8n-assets@file", "n8n-signin@file", "dashboard@file"):
        search.fill(router)
        page.get_by_text(router, exact=True).first.wait_for(timeout=60_000)
    assert not rec.problems(HUB_DEMO), f"the routers page: {rec.problems(HUB_DEMO)[:10]}"


def main_page_contract(stack: LocalStack, app: str) -> int:
    """The status the vendor documents for the app's main page (the routed container's ``/``), else 200."""
    loaded = load(stack.zixly.root, stack.env)
    for c in loaded.stack.services[app].containers.values():
        main = [r for r in c.routes if not r.path_prefix and not r.methods]
        for h in (c.contract.http if c.contract and main else []):
            if h.port == main[0].port and h.path == "/":
                return h.status
    return 200


@pytest.mark.parametrize("app", sorted(STANDINS))
def test_standin_page_loads_cleanly(local_stack: LocalStack, browser: BrowserRecorder, app: str) -> None:
    """A STAND-IN's page (the vendor's image cannot run here, see the module docstring) through
    Traefik: the status the vendor documents for that page (e.g. Mautic redirects ``/``), a page
    that says it is a stand-in, nothing failed. The stand-in serves no /favicon.ico, which the
    browser asks for by itself: that one 404 is the stand-in's, not the edge's."""
    page, rec = browser.open(f"https://{STANDINS[app]}.localhost/")
    assert rec.document == main_page_contract(local_stack, app), f"{app}: {rec.summary()}"
    problems = rec.problems((pages.STANDIN_FAVICON,))
    assert rec.count(429) == 0 and not problems, f"{app}: {rec.summary()}: {problems[:10]}"
    assert "STAND-IN" in page.inner_text("body")


@pytest.fixture
def report_templates(local_stack: LocalStack) -> Iterator[None]:
    """The repo's report templates in the stack's root (which links only the catalog), removed after."""
    where = local_stack.zixly.root / "healthchecks"
    made = not where.exists()
    (where).mkdir(exist_ok=True)
    link = where / "templates"
    if not link.exists():
        link.symlink_to(REPO / "healthchecks" / "templates")
    yield
    if made:
        shutil.rmtree(where)


def test_health_report_html_loads_cleanly(local_stack: LocalStack, browser: BrowserRecorder, tmp_path: Path,
                                          report_templates: None) -> None:
    report = tmp_path / "report.html"
    res = local_stack.zixly.run("health", local_stack.env, "--format", "html", "--out", str(report), "--no-history",
                                "--state-dir", str(tmp_path / "state"), check=None, timeout=300)
    assert res.returncode in (0, 1, 2) and report.is_file(), f"zixly health: {res.returncode}\n{res.stderr[-2000:]}"
    page, rec = browser.open(report.as_uri())
    assert not rec.problems(), f"the report page: {rec.summary()}: {rec.problems()[:10]}"
    verdict = {0: "OK", 1: ("WARNING", "UNKNOWN"), 2: "CRITICAL"}[res.returncode]
    heading = page.locator("header h1").inner_text()
    assert heading.startswith(f"{local_stack.env}: ") and heading.endswith(verdict), (heading, res.returncode)
    services = set(load(local_stack.zixly.root, local_stack.env).stack.services)
    shown = {a.get_attribute("id") for a in page.locator("article.app").all()}
    assert {f"app-{name}" for name in services} <= shown, f"apps missing from the report: {services}, {shown}"
    probes = page.locator("#app-n8n li").filter(has_text="http ·")  # the real app, probed through Traefik
    assert probes.count() >= 1 and all(p.get_attribute("class") == "ok" for p in probes.all()), \
        page.locator("#app-n8n").inner_text()


def test_a_mistyped_path_and_an_unknown_host_answer_a_readable_404(
    local_stack: LocalStack, browser: BrowserRecorder
) -> None:
    """A wrong path inside n8n is n8n's own "not found" (its single-page app keeps working); a
    host no app serves is Traefik's plain 404. Neither is a blank page nor an error page."""
    page, rec = browser.open("https://n8n.localhost/nonexistent-xyz")
    assert rec.count(429) == 0 and not rec.failed and not rec.page_errors, rec.summary()
    page.get_by_text("404 Error").first.wait_for(timeout=FORM_TIMEOUT_MS)  # n8n's "Oops, couldn't find that"
    assert rec.status == 200 and len(rec.responses) > 300, f"n8n's app did not load: {rec.summary()}"
    unknown_page, unknown = browser.open("https://no-app-here.localhost/")
    assert unknown.status == 404 and "404 page not found" in unknown_page.inner_text("body")
