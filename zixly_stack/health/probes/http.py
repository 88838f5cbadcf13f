"""HTTP probes through the edge proxy: one GET per check, Host header and SNI set to the route.

Contract: :func:`probe_http` never raises for the target's failures; it returns a result:
connection error, timeout, wrong status or missing body text -> critical; slower than
``warn_ms`` -> warning. Certificates are not verified here (the TLS check judges them), so a
self-signed local edge and an edge reached by IP address both work.

Connections are pooled per origin, and the origin here is the edge's address, not the
virtual host: :class:`Clients` therefore keeps one client per (edge, virtual host), so every
request travels on a connection whose SNI matches its ``Host`` header (as a browser's would).

The requests use httpx's blocking client, each on a daemon thread of its own, not the
asyncio client: anyio's TLS handshake (under httpx's async client) spins without yielding to
the event loop when the peer closes the connection mid-handshake, so no timeout could end it
and a whole report hung (seen in CI). A blocking socket has a timeout the kernel enforces.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ssl
import threading
import time
from collections.abc import Callable

import httpx

from ...catalog.routes import https_origin
from ..checks import HttpCheck
from ..model import Result, Status

BODY_LIMIT = 65536


def _unverified() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Clients(contextlib.AsyncExitStack):
    """One HTTP client per (edge address, port, virtual host) for one report, and the threads
    its requests run on; closed on exit."""

    def __init__(self) -> None:
        super().__init__()
        self._ssl = _unverified()
        self._clients: dict[tuple[str, int, str], httpx.Client] = {}
        self._lock = threading.Lock()
        self.callback(self._close)

    def _close(self) -> None:
        for client in self._clients.values():
            client.close()

    async def call(self, fn: Callable[[], Result], limit: float) -> Result | None:
        """*fn* on a daemon thread of its own; None when it has not returned within *limit*
        seconds. A daemon thread: one request that never returns cannot hold the report, nor
        keep the process alive at exit (a pool's threads are joined then)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Result] = loop.create_future()

        def settle(outcome: Callable[[], None]) -> None:
            if not done.done():
                outcome()

        def run() -> None:
            try:
                result = fn()
                outcome = functools.partial(done.set_result, result)
            except BaseException as exc:  # handed to the awaiting coroutine
                outcome = functools.partial(done.set_exception, exc)
            with contextlib.suppress(RuntimeError):  # the report ended without it: the loop is closed
                loop.call_soon_threadsafe(settle, outcome)

        threading.Thread(target=run, name="zixly-http", daemon=True).start()
        try:
            return await asyncio.wait_for(done, limit)
        except TimeoutError:
            return None

    def for_check(self, check: HttpCheck) -> httpx.Client:
        """The client for ``check``'s edge and virtual host."""
        key = (check.edge.address, check.edge.port, check.vhost)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = httpx.Client(verify=self._ssl, follow_redirects=False, trust_env=False)
            return self._clients[key]


def target_of(check: HttpCheck) -> str:
    """What the check is about, as a person would type it."""
    return https_origin(check.vhost) + check.path


def url_of(check: HttpCheck) -> str:
    """The URL actually requested: the edge address, with the route's path."""
    host = f"[{check.edge.address}]" if ":" in check.edge.address else check.edge.address
    return f"https://{host}:{check.edge.port}{check.path}"


CONFIRM_S = 2.0


async def probe_http(clients: Clients, check: HttpCheck) -> Result:
    """Run one HTTP check; a 5xx answer is asked again once, CONFIRM_S later, before it is
    critical: n8n's readiness reads 503 for a moment when one database ping is slow, and
    Traefik answers 502/503 while a container restarts, which is not what a person sees."""
    limit = 2 * check.timeout_s + 5  # connect and read each have the timeout; past that, something hangs

    async def once() -> Result:
        result = await clients.call(lambda: _probe_once(clients, check), limit)
        if result is None:
            return Result(check.check_id, check.app, "http", target_of(check), Status.CRITICAL,
                          f"no answer within {limit:g}s (the request did not end)", limit * 1000)
        return result

    first = await once()
    code = first.details.get("status_code")
    if first.status is not Status.CRITICAL or not isinstance(code, int) or code < 500:
        return first
    await asyncio.sleep(CONFIRM_S)
    second = await once()
    if second.status is Status.CRITICAL:
        return second
    return dataclasses.replace(second, summary=f"{second.summary} (HTTP {code} {CONFIRM_S:g} s before)")


def _probe_once(clients: Clients, check: HttpCheck) -> Result:
    target = target_of(check)
    http = clients.for_check(check)
    started = time.perf_counter()
    try:
        resp = http.get(
            url_of(check),
            headers={"Host": check.vhost},
            extensions={"sni_hostname": check.vhost},
            timeout=check.timeout_s,
        )
    except httpx.TimeoutException:
        ms = (time.perf_counter() - started) * 1000
        return Result(check.check_id, check.app, "http", target, Status.CRITICAL,
                      f"no answer within {check.timeout_s:g}s", ms)
    except httpx.HTTPError as exc:
        ms = (time.perf_counter() - started) * 1000
        return Result(check.check_id, check.app, "http", target, Status.CRITICAL,
                      f"request failed: {type(exc).__name__}: {exc}".rstrip(": "), ms)
    ms = (time.perf_counter() - started) * 1000
    details: dict[str, object] = {"status_code": resp.status_code}
    if check.status is None:
        if resp.status_code >= 500:
            return Result(check.check_id, check.app, "http", target, Status.CRITICAL,
                          f"HTTP {resp.status_code}", ms, details)
    elif resp.status_code != check.status:
        return Result(check.check_id, check.app, "http", target, Status.CRITICAL,
                      f"HTTP {resp.status_code}, expected {check.status}", ms, details)
    if check.body is not None and check.body not in resp.text[:BODY_LIMIT]:
        return Result(check.check_id, check.app, "http", target, Status.CRITICAL,
                      f"HTTP {resp.status_code} but the body lacks {check.body!r}", ms, details)
    if ms > check.warn_ms:
        return Result(check.check_id, check.app, "http", target, Status.WARNING,
                      f"HTTP {resp.status_code} in {ms:.0f} ms (slower than {check.warn_ms:.0f} ms)", ms, details)
    return Result(check.check_id, check.app, "http", target, Status.OK, f"HTTP {resp.status_code} in {ms:.0f} ms",
                  ms, details)
