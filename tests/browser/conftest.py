"""Fixtures of the browser tests: one headless Chromium for this package, a recorder per test.

``chromium`` (package scope: started by the first browser test, closed after the last one,
so the rest of the shared stack's tests run without a browser in memory): Debian's Chromium
driven by Playwright (:mod:`tests.browser.pages`), in a network namespace of its own
(:mod:`tests.browser.quiet_net`), ``*.localhost`` resolved to the shared ``local_stack``'s
edge. When Playwright, the browser or what the namespace needs is missing, the test
**fails** under CI (``CI=true``) and is skipped elsewhere.

``browser`` (function): opens pages in fresh contexts and remembers each page and its
network/console record. When a test fails, its screenshots, HTML and logs are written to
``build/browser-failures/<test>/`` and that directory is named in the failure report.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.browser import pages, quiet_net
from tests.deploy.helpers import REPO
from tests.harness.local_engine import unavailable
from tests.harness.stack import LocalStack

FAILURES = REPO / "build" / "browser-failures"


@pytest.fixture(scope="package")
def playwright_session() -> Iterator[Any]:
    """Playwright's sync driver for the browser tests (this package)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -e '.[test]' (or pip install playwright)")
    if not pages.CHROMIUM.exists():
        unavailable(f"{pages.CHROMIUM} is missing: apt-get install chromium (the Makefile's deps target does)")
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def chromium(playwright_session: Any, local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Any]:
    """Headless Chromium whose ``*.localhost`` is the shared stack's edge: the browser runs in a
    network namespace of its own (:mod:`tests.browser.quiet_net`: the engine's network churn
    would abort its requests with ERR_NETWORK_CHANGED) and reaches the edge's published 80/443
    through ``docker-proxy`` on the namespace's veth."""
    missing = quiet_net.missing_tools()
    if missing:
        unavailable(f"the browser tests need {', '.join(missing)}")
    local_stack.wait_healthy()  # a person opens a running stack, not one a previous test is restarting
    tmp = tmp_path_factory.mktemp("chromium")
    with (quiet_net.quiet_namespace(tmp) as net,
          quiet_net.userland_proxy(net.host_ip, 443, local_stack.bind),
          quiet_net.userland_proxy(net.host_ip, 80, local_stack.bind)):
        browser = pages.launch(playwright_session, net.host_ip, net.chromium)
        yield browser
        browser.close()


@dataclass
class BrowserRecorder:
    """Pages a test opened, with their records; saved as artefacts when the test fails."""

    browser: Any
    opened: list[tuple[Any, pages.PageLoad]] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)

    def page(self, url: str, **context_args: Any) -> tuple[Any, pages.PageLoad]:
        """A new page in a fresh context, recording from now on (navigate with :meth:`load`)."""
        context = pages.new_context(self.browser, **context_args)
        self.contexts.append(context)
        page = context.new_page()
        rec = pages.watch(page, url)
        self.opened.append((page, rec))
        return page, rec

    def open(self, url: str, **context_args: Any) -> tuple[Any, pages.PageLoad]:
        """A first visit of *url* (fresh context), loaded until the network is idle."""
        page, rec = self.page(url, **context_args)
        try:
            pages.load(page, url, rec)
        except Exception as exc:  # a timeout or a refused connection is a finding, kept with its log
            rec.page_errors.append(f"navigation: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return page, rec

    def save(self, where: Path) -> None:
        """Screenshots, HTML and the network/console log of every page opened."""
        if where.is_dir():  # this failure's artefacts only, not an earlier run's
            shutil.rmtree(where)
        where.mkdir(parents=True)
        for i, (page, rec) in enumerate(self.opened):
            stem = f"{i:02d}-{pages.slug(rec.url)}"
            (where / f"{stem}.log").write_text(rec.log())
            try:
                page.screenshot(path=str(where / f"{stem}.png"), full_page=True)
                (where / f"{stem}.html").write_text(page.content())
            except Exception as exc:  # a closed or crashed page: the log is still there
                (where / f"{stem}.error").write_text(f"{type(exc).__name__}: {exc}\n")

    def close(self) -> None:
        """Close every context the test opened."""
        for context in self.contexts:
            with contextlib.suppress(Exception):  # already closed by the test
                context.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[BrowserRecorder]:
    """A recorder for this test's pages (artefacts on failure: see the module docstring)."""
    rec = BrowserRecorder(chromium)
    yield rec
    rec.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failed call, save the browser's artefacts (pages still open) and name the directory."""
    outcome = yield
    report = outcome.get_result()
    recorder = getattr(item, "funcargs", {}).get("browser")
    if report.when != "call" or not report.failed or not isinstance(recorder, BrowserRecorder):
        return
    where = FAILURES / pages.slug(item.nodeid)
    try:
        recorder.save(where)
        report.sections.append(("browser artefacts", f"screenshots and network/console logs: {where}"))
    except Exception as exc:
        report.sections.append(("browser artefacts", f"could not be saved to {where}: {exc}"))
