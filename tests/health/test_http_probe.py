"""The HTTP probe against edges that misbehave at the TCP/TLS level: each ends in a critical
result within the check's timeout, never a hang (a real socket server on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from zixly_stack.health.checks import Edge, HttpCheck
from zixly_stack.health.model import Status
from zixly_stack.health.probes.http import Clients, probe_http


@pytest.fixture(params=["close-after-hello", "close-at-once", "silent"])
def bad_edge(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A listener that reads the ClientHello and closes (a proxy dropping a TLS connection
    mid-handshake), closes at once, or never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            if request.param == "close-after-hello":
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                conn.close()
            elif request.param == "close-at-once":
                conn.close()
            else:
                held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", srv.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for c in held:
            c.close()
        srv.close()


def test_an_edge_that_drops_the_handshake_is_critical_within_the_timeout(bad_edge: tuple[str, int]) -> None:
    address, port = bad_edge
    check = HttpCheck("http:n8n:n8n.localhost/healthz", "n8n", Edge("local", address, port), "n8n.localhost",
                      "/healthz", 200, None, 2000.0, 1.5)

    async def probe() -> tuple[Status, str]:
        async with Clients() as clients:
            result = await asyncio.wait_for(probe_http(clients, check), 20)
            return result.status, result.summary

    started = time.monotonic()
    status, summary = asyncio.run(probe())
    assert status is Status.CRITICAL, summary
    assert time.monotonic() - started < 10, "one attempt, bounded by the 1.5 s timeout"


def test_a_request_that_never_ends_is_critical_at_its_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever blocks inside the client (a CI report once waited 300 s and was killed), the probe
    answers at 2 x timeout + 5 s, and the stuck thread is a daemon: it cannot keep zixly alive."""
    from zixly_stack.health.probes import http as http_probe

    release = threading.Event()

    def stuck(clients: object, check: object) -> object:
        release.wait(60)
        raise AssertionError("released")

    monkeypatch.setattr(http_probe, "_probe_once", stuck)
    check = HttpCheck("http:n8n:n8n.localhost/healthz", "n8n", Edge("local", "127.0.0.1", 9), "n8n.localhost",
                      "/healthz", 200, None, 2000.0, 0.5)

    async def probe() -> tuple[Status, str]:
        async with Clients() as clients:
            result = await probe_http(clients, check)
            return result.status, result.summary

    started = time.monotonic()
    try:
        status, summary = asyncio.run(probe())
        took = time.monotonic() - started
        stuck_threads = [t for t in threading.enumerate() if t.name == "zixly-http"]
    finally:
        release.set()
    assert status is Status.CRITICAL and summary == "no answer within 6s (the request did not end)", summary
    assert 5.5 < took < 20, took
    assert stuck_threads and all(t.daemon for t in stuck_threads)
