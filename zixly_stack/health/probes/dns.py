"""DNS: each public route's host name resolves (A or AAAA). Failure -> critical."""

from __future__ import annotations

import asyncio
import socket
import time

from ..checks import DnsCheck
from ..model import Result, Status


async def probe_dns(check: DnsCheck, timeout: float = 5.0) -> Result:
    """Resolve ``check.name`` with the system resolver."""
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(check.name, 443, type=socket.SOCK_STREAM), timeout)
    except (OSError, TimeoutError) as exc:
        return Result(check.check_id, check.app, "dns", check.name, Status.CRITICAL, f"does not resolve: {exc}")
    ms = (time.perf_counter() - started) * 1000
    addrs = sorted({str(i[4][0]) for i in infos})
    return Result(check.check_id, check.app, "dns", check.name, Status.OK, ", ".join(addrs), ms, {"addresses": addrs})
