"""A real browser for the tests and the edge benchmark: Debian's Chromium driven by Playwright.

Playwright comes from PyPI; the browser is the machine's ``/usr/bin/chromium`` (no browser
download). :func:`launch` starts it headless with every ``*.localhost`` name resolved to the
address that reaches the stack's edge (Chromium's ``--host-resolver-rules``), so a page at
``https://n8n.localhost/`` reaches the stack's Traefik wherever the test bound it.
:func:`load` opens one URL in a fresh context (no cache, the local self-signed certificate
accepted) and records what a person's browser saw: every response, every failed request,
console errors and page errors, and the time until the network went idle.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # playwright is a test extra; importing this module must not need it
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

CHROMIUM = Path(os.environ.get("ZIXLY_CHROMIUM", "/usr/bin/chromium"))
# Expected answers on this stack, not faults: until someone signs in, n8n's editor asks
# GET /rest/login and gets 401 (n8n asking "who is this?"); the stand-ins serve no
# /favicon.ico, which the browser requests by itself.
N8N_LOGIN_CHECK = r"401.*https://n8n\.[a-z0-9.-]+(:[0-9]+)?/rest/login\b"
STANDIN_FAVICON = r"404.*/favicon\.ico"
EXPECTED = (N8N_LOGIN_CHECK, STANDIN_FAVICON)
LOAD_TIMEOUT_MS = 180_000


def chromium_args(bind: str) -> list[str]:
    """Flags for headless Chromium as root in a container-less CI, with ``*.localhost`` -> *bind*."""
    return [
        "--no-sandbox",  # root has no user-namespace sandbox here
        "--disable-dev-shm-usage",
        "--disable-gpu",
        # the stack's names reach its edge; every other name fails at once, as on a machine without
        # DNS -- a page's call home (the Traefik dashboard's traefik.github.io) must not wait on a
        # resolver that never answers and hold the page's network-idle for minutes
        f"--host-resolver-rules=MAP *.localhost {bind}, MAP * ~NOTFOUND",
        "--disable-background-networking",  # no update, safe-browsing or metrics calls of its own
    ]


def launch(pw: Playwright, bind: str, executable: Path = CHROMIUM) -> Browser:
    """Debian's Chromium (or a wrapper that runs it: :mod:`tests.browser.quiet_net`), headless,
    resolving ``*.localhost`` to *bind*."""
    return pw.chromium.launch(executable_path=str(executable), headless=True, args=chromium_args(bind))


@dataclass
class PageLoad:
    """What one page load showed: responses, failures, console errors and the time to network idle."""

    url: str
    seconds: float = 0.0
    responses: list[tuple[int, str, str]] = field(default_factory=list)  # status, method, url
    failed: list[tuple[str, str]] = field(default_factory=list)  # url, error text
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    status: int | None = None  # the document's own status

    @property
    def document(self) -> int | None:
        """The page's own status: the navigation's, else the first response for the URL (a navigation
        the browser abandoned, such as a basic-auth prompt nobody answers, has no final response)."""
        if self.status is not None:
            return self.status
        return next((s for s, _, u in self.responses if u == self.url), None)

    @property
    def bad(self) -> list[tuple[int, str, str]]:
        """Responses with an HTTP status >= 400."""
        return [r for r in self.responses if r[0] >= 400]

    def count(self, status: int) -> int:
        """How many responses had *status*."""
        return sum(1 for r in self.responses if r[0] == status)

    def problems(self, allow: tuple[str, ...] = ()) -> list[str]:
        """Everything a person would call broken: failed requests, HTTP >= 400, console and page
        errors -- minus those matching a regex in *allow* (e.g. :data:`EXPECTED`)."""
        out = [f"HTTP {s} {m} {u}" for s, m, u in self.bad]
        out += [f"failed {u}: {e}" for u, e in self.failed]
        out += [f"console error: {t}" for t in self.console_errors]
        out += [f"page error: {t}" for t in self.page_errors]
        return [p for p in out if not any(re.search(a, p) for a in allow)]

    def log(self) -> str:
        """The full network and console log, one line per event (kept with a failure's screenshot)."""
        lines = [f"{self.url}: document {self.status}, {len(self.responses)} responses, {self.seconds:.2f}s"]
        lines += [f"{s} {m} {u}" for s, m, u in self.responses]
        lines += [f"FAILED {u}: {e}" for u, e in self.failed]
        lines += [f"CONSOLE ERROR {t}" for t in self.console_errors]
        lines += [f"PAGE ERROR {t}" for t in self.page_errors]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """One line: time, response count, 4xx/5xx/429 counts, failures."""
        return (f"{self.seconds:.2f}s, {len(self.responses)} responses, {len(self.bad)} >= 400 "
                f"({self.count(429)} x 429), {len(self.failed)} failed, {len(self.console_errors)} console errors")


def watch(page: Page, url: str) -> PageLoad:
    """Start recording *page*'s network and console into a new :class:`PageLoad`."""
    rec = PageLoad(url)
    page.on("response", lambda r: rec.responses.append((r.status, r.request.method, r.url)))
    page.on("requestfailed", lambda r: rec.failed.append((r.url, str(r.failure))))
    page.on("console", lambda m: rec.console_errors.append(f"{m.text} [{m.location.get('url', '')}]")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: rec.page_errors.append(str(e)))
    return rec


def new_context(browser: Browser, **kwargs: Any) -> BrowserContext:
    """A fresh context (empty cache and cookies) that accepts the local self-signed certificate."""
    return browser.new_context(ignore_https_errors=True, **kwargs)


def load(page: Page, url: str, rec: PageLoad | None = None, timeout_ms: int = LOAD_TIMEOUT_MS) -> PageLoad:
    """Open *url* in *page* and wait until the network is idle; the record of what happened."""
    rec = rec or watch(page, url)
    started = time.monotonic()
    response = page.goto(url, wait_until="networkidle", timeout=timeout_ms)
    rec.seconds = time.monotonic() - started
    rec.status = response.status if response is not None else None
    return rec


def load_fresh(browser: Browser, url: str, timeout_ms: int = LOAD_TIMEOUT_MS) -> PageLoad:
    """:func:`load` in a new context that is closed afterwards (a first visit, nothing cached)."""
    context = new_context(browser)
    try:
        page = context.new_page()
        return load(page, url, timeout_ms=timeout_ms)
    finally:
        context.close()


def slug(text: str) -> str:
    """A file-system-safe name for a test id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]
