"""The hooks' ``ssh -L`` (zixly_stack/hooks/tunnel.py), its forwarding logic on this machine.

The SSH side is a stand-in here: ``open_channel`` returns a plain TCP connection to the
address asked for, with the channel methods the forwarder uses (``recv``, ``sendall``,
``shutdown_write``, ``close``). The real SSH path (paramiko's ``direct-tcpip`` to a container
on a test host) is in tests/deploy/test_remote_hooks_e2e.py.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from zixly_stack.hooks.tunnel import Forwarder


class FakeChannel:
    """A TCP connection dressed as a paramiko Channel (stand-in, see module doc)."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=10)

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


class FakeTransport:
    def __init__(self) -> None:
        self.opened: list[tuple[str, tuple[str, int]]] = []

    def open_channel(self, kind: str, dest: tuple[str, int], src: Any, timeout: float = 0) -> FakeChannel:
        self.opened.append((kind, dest))
        return FakeChannel(dest)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"path={self.path}".encode() * 2000  # 100 kB: several channel reads
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[::-1])

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[0], srv.server_address[1]  # type: ignore[misc]
    srv.shutdown()
    srv.server_close()


def test_requests_and_bodies_cross_the_forwarder(server: tuple[str, int]) -> None:
    transport = FakeTransport()
    with Forwarder(lambda: transport) as fwd:
        url = fwd.url(*server)
        assert url.startswith("http://127.0.0.1:") and fwd.url(*server) == url  # one listener per target
        with httpx.Client(base_url=url, timeout=10) as client:
            got = client.get("/healthz")
            assert got.status_code == 200 and got.text == "path=/healthz" * 2000
            payload = bytes(range(256)) * 400
            assert client.post("/echo", content=payload).content == payload[::-1]
        for _ in range(5):  # new connections each time
            assert httpx.get(url + "/x", timeout=10).status_code == 200
    assert transport.opened[0] == ("direct-tcpip", server)
    assert len(transport.opened) >= 6


def test_the_listener_is_on_loopback_only_and_gone_after_close(server: tuple[str, int]) -> None:
    fwd = Forwarder(FakeTransport)
    url = fwd.url(*server)
    port = int(url.rsplit(":", 1)[1])
    fwd.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(RuntimeError):
        fwd.url(*server)


def test_a_channel_that_cannot_open_closes_the_client_connection() -> None:
    class Refusing:
        def open_channel(self, *args: Any, **kw: Any) -> None:
            raise OSError("administratively prohibited")

    with Forwarder(Refusing) as fwd:
        url = fwd.url("10.9.9.9", 80)
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=5)
