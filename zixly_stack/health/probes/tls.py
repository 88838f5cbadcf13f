"""TLS certificate expiry of the certificate the edge presents for a host name (SNI).

Contract: :func:`probe_tls` never raises for the target's failures. Days left below
``critical_days`` (or expired) -> critical, below ``warn_days`` -> warning; no TLS answer ->
critical. With ``verify`` (environments with ACME) a certificate the system trust store does
not accept for the name is critical too; without it (local edges serve Traefik's self-signed
default certificate) only the expiry counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import ssl
import time

from cryptography import x509

from ..checks import TlsCheck
from ..model import Result, Status


@functools.cache
def _context() -> ssl.SSLContext:
    # No CA loading: the chain is not verified, and loading the store costs ~30 ms of CPU.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@functools.cache
def _verifying() -> ssl.SSLContext:
    return ssl.create_default_context()


async def peer_certificate(address: str, port: int, server_name: str, timeout: float, verify: bool = False) -> bytes:
    """The DER certificate presented for ``server_name`` at ``address:port`` (verified if asked)."""
    ctx = _verifying() if verify else _context()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(address, port, ssl=ctx, server_hostname=server_name), timeout
    )
    del reader
    try:
        obj = writer.get_extra_info("ssl_object")
        der = obj.getpeercert(binary_form=True) if obj is not None else None
        if not der:
            raise ssl.SSLError("no peer certificate")
        return bytes(der)
    finally:
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), 2)


async def probe_tls(check: TlsCheck, now: dt.datetime | None = None) -> Result:
    """Run one TLS expiry check."""
    target = f"{check.server_name} via {check.edge.address}:{check.edge.port}"
    started = time.perf_counter()
    try:
        der = await peer_certificate(check.edge.address, check.edge.port, check.server_name, check.timeout_s)
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return Result(check.check_id, check.app, "tls", target, Status.CRITICAL,
                      f"no TLS answer: {type(exc).__name__}: {exc}".rstrip(": "))
    ms = (time.perf_counter() - started) * 1000
    trust_problem = None
    if check.verify:
        try:
            await peer_certificate(check.edge.address, check.edge.port, check.server_name, check.timeout_s, True)
        except ssl.SSLCertVerificationError as exc:
            trust_problem = exc.verify_message or str(exc)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            trust_problem = f"{type(exc).__name__}: {exc}"
    cert = x509.load_der_x509_certificate(der)
    not_after = cert.not_valid_after_utc
    left = not_after - (now or dt.datetime.now(dt.UTC))
    days = left.total_seconds() / 86400
    details = {
        "not_after": not_after.isoformat(),
        "days_left": round(days, 1),
        "subject": cert.subject.rfc4514_string(),
    }
    if trust_problem is not None:
        status, text = Status.CRITICAL, f"certificate not trusted: {trust_problem}"
    elif days < check.critical_days:
        status = Status.CRITICAL
        text = "expired" if days < 0 else f"expires in {days:.1f} days"
    elif days < check.warn_days:
        status, text = Status.WARNING, f"expires in {days:.1f} days (warn under {check.warn_days})"
    else:
        status, text = Status.OK, f"valid for {days:.0f} more days"
    details["verified"] = check.verify and trust_problem is None
    return Result(check.check_id, check.app, "tls", target, status, text, ms, details)
