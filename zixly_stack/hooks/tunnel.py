"""``ssh -L`` for hooks: reach a remote container's HTTP port through the deploy's SSH connection.

Contract:

* :class:`Forwarder` opens, per remote ``(address, port)``, one listening socket on
  ``127.0.0.1`` (a free port) and carries every connection made to it over a ``direct-tcpip``
  channel of the SSH transport to that address *as the remote host sees it* -- a container's
  address on its Docker network. Nothing listens on any other interface; nothing is opened
  on the remote host but the channel.
* The transport is asked for lazily (``transport()``), so a reconnect in between is picked up.
* :meth:`Forwarder.close` stops the listeners; connections still open end with them.
* Works with plain threads and under gevent's monkey-patching (pyinfra's SSH connector uses
  gevent): only blocking socket/channel calls, one thread per direction.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any


class Forwarder:
    """Local listeners forwarding to remote addresses over SSH (module contract)."""

    def __init__(self, transport: Callable[[], Any]) -> None:
        self._transport = transport
        self._listeners: dict[tuple[str, int], socket.socket] = {}
        self._lock = threading.Lock()
        self._closed = False

    def url(self, address: str, port: int) -> str:
        """``http://127.0.0.1:<local port>`` that reaches ``address:port`` from the remote host."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the forwarder is closed")
            sock = self._listeners.get((address, port))
            if sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", 0))
                sock.listen(16)
                self._listeners[(address, port)] = sock
                threading.Thread(target=self._accept, args=(sock, address, port), daemon=True,
                                 name=f"zixly-forward-{address}:{port}").start()
            return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def _accept(self, sock: socket.socket, address: str, port: int) -> None:
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return  # closed
            try:
                chan = self._transport().open_channel("direct-tcpip", (address, port), peer, timeout=30)
            except Exception:  # the client sees a closed connection; the hook reports it
                conn.close()
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(conn, chan)
            threading.Thread(target=_pump, args=(conn.recv, chan.sendall, chan.shutdown_write, pair),
                             daemon=True).start()
            threading.Thread(target=_pump, args=(chan.recv, conn.sendall, lambda c=conn: _shut(c), pair),
                             daemon=True).start()

    def close(self) -> None:
        """Stop every listener."""
        with self._lock:
            self._closed = True
            for sock in self._listeners.values():
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._listeners.clear()

    def __enter__(self) -> Forwarder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Pair:
    """A forwarded connection: both ends close when both directions are done."""

    def __init__(self, conn: socket.socket, chan: Any) -> None:
        self.conn, self.chan, self.open = conn, chan, 2
        self.lock = threading.Lock()

    def done(self) -> None:
        with self.lock:
            self.open -= 1
            last = self.open == 0
        if last:
            for end in (self.chan, self.conn):
                with contextlib.suppress(Exception):
                    end.close()


def _shut(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_WR)


def _pump(recv: Callable[[int], bytes], send: Callable[[bytes], Any], eof: Callable[[], Any], pair: _Pair) -> None:
    """Copy until EOF, then half-close the other side; errors just end the copy."""
    try:
        while True:
            data = recv(65536)
            if not data:
                break
            send(data)
    except (OSError, EOFError):
        pass
    finally:
        with contextlib.suppress(Exception):
            eof()
        pair.done()


def pyinfra_forwarder(host: Any) -> Forwarder:
    """A :class:`Forwarder` over a connected pyinfra host's paramiko transport."""
    return Forwarder(lambda: host.connector.client.get_transport())
