"""A real HTTPS edge on 127.0.0.1 for health tests: routes by Host header, certificates by SNI.

Stands in for Traefik as the health probes see it: one TLS port, virtual hosts chosen by the
``Host`` header, the certificate chosen by SNI (self-signed, made here with ``cryptography``
with the validity the test asks for), and Traefik's ``404 page not found`` for hosts without
a router (what Traefik answers once a stopped container's router is gone), and ``421
Misdirected Request`` when the TLS server name (SNI) differs from the ``Host`` header, as a
strict edge answers.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.harness.leaks import run_tempdir


@dataclass
class Answer:
    """What one (host, path) answers."""

    status: int = 200
    body: str = "ok"
    delay_s: float = 0.0
    content_type: str = "text/plain"
    # When set, the answer waits until every party of the barrier has arrived (requests in
    # flight at the same moment) and answers 503 "not concurrent" when it breaks (timeout).
    gate: threading.Barrier | None = None
    # When set, the route answers this from its second request on (a flap: 503 once, then ok).
    then: Answer | None = None


def self_signed(directory: Path, name: str, days_valid: float) -> tuple[Path, Path]:
    """Write a self-signed EC certificate for ``name`` valid ``days_valid`` more days; return (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days_valid))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / f"{name}.crt"
    key_path = directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: concurrent probes overflow it and the kernel drops
    # SYNs, which the client retransmits after 1 s (a latency artefact of the test server).
    request_queue_size = 256
    edge: Edge

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the request's own thread, so a slow client never blocks accept().
        try:
            tls = self.edge.default_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        answer = self.server.edge.routes.get((host, self.path))
        if getattr(self.connection, "zixly_sni", None) != host:
            answer = Answer(421, "Misdirected Request\n")  # strict SNI: the name must match Host
        elif answer is None:
            answer = Answer(404, "404 page not found\n")
        if answer.then is not None:
            self.server.edge.routes[(host, self.path)] = answer.then
        if answer.delay_s:
            time.sleep(answer.delay_s)
        if answer.gate is not None:
            try:
                answer.gate.wait()
            except threading.BrokenBarrierError:
                answer = Answer(503, "not concurrent: the other probes never arrived\n")
        body = answer.body.encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Edge:
    """The server. ``routes[(host, path)] = Answer(...)``; ``certs[name] = days_valid``."""

    def __init__(self, default_days: float = 365.0) -> None:
        self.routes: dict[tuple[str, str], Answer] = {}
        self._dir = run_tempdir("health-edge")
        self.default_ctx = self._context("edge-default", default_days)
        self.default_ctx.sni_callback = self._pick
        self._by_name: dict[str, ssl.SSLContext] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.edge = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-edge", daemon=True)

    def _context(self, name: str, days: float) -> ssl.SSLContext:
        cert, key = self_signed(self._dir, name, days)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def _pick(self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        sock.zixly_sni = name  # type: ignore[union-attr]
        if name and name in self._by_name:
            sock.context = self._by_name[name]

    def certificate(self, name: str, days_valid: float) -> None:
        """Present a certificate valid ``days_valid`` more days when a client asks for ``name``."""
        self._by_name[name] = self._context(name, days_valid)

    def __enter__(self) -> Edge:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        for f in self._dir.iterdir():
            f.unlink()
        self._dir.rmdir()
