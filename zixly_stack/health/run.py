"""Run a :class:`~.checks.Suite` concurrently and assemble a :class:`~.model.Report`.

Contract: every probe starts at once, bounded by ``concurrency`` simultaneous network probes
(an :class:`asyncio.Semaphore`), so a report takes about as long as its slowest probe.
Probes turn failures into results; :func:`run_suite` itself raises only for programming errors.
Engines, host runners and the backup source are injected so remote hosts (SSH) and other
snapshot sources plug in without touching the probes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..models.environment import Host
from .checks import Suite
from .model import Report, Result
from .probes.backup import BackupSource, probe_backups
from .probes.dns import probe_dns
from .probes.engine import DockerCli, Engine, probe_engine
from .probes.hostcmd import HostRunner, runner_for
from .probes.hoststats import probe_host
from .probes.http import Clients, probe_http
from .probes.tls import probe_tls

T = TypeVar("T")


def docker_engine(host: Host) -> Engine:
    """The default engine for a host: its ``docker`` CLI (here, or over SSH)."""
    return DockerCli(runner_for(host))


@dataclass(frozen=True)
class Probes:
    """How to reach things: engines and command runners per host, and the backup source."""

    backup_source: BackupSource
    engine_for: Callable[[Host], Engine] = docker_engine
    runner_for: Callable[[Host], HostRunner] = runner_for
    now: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


async def run_async(suite: Suite, probes: Probes, concurrency: int = 32) -> Report:
    """Run every check of ``suite``; see the module contract."""
    started = time.perf_counter()
    now = probes.now()
    gate = asyncio.Semaphore(concurrency)

    async def bounded(coro: Awaitable[T]) -> T:
        async with gate:
            return await coro

    async with Clients() as http:
        singles: list[Awaitable[Result]] = [bounded(probe_http(http, c)) for c in suite.http]
        singles += [bounded(probe_tls(c, now)) for c in suite.tls]
        singles += [bounded(probe_dns(c)) for c in suite.dns]
        singles += [probe_host(probes.runner_for(c.target), c) for c in suite.hosts]
        multi = [probe_engine(probes.engine_for(c.target), c) for c in suite.engines]
        backups = asyncio.to_thread(probe_backups, probes.backup_source, suite.backups, now)
        single_results, multi_results, backup_results = await asyncio.gather(
            asyncio.gather(*singles), asyncio.gather(*multi), backups
        )
    results: list[Result] = list(single_results)
    for group in multi_results:
        results.extend(group)
    results.extend(backup_results)
    results.sort(key=lambda r: (r.app, r.kind, r.check_id))
    return Report(
        environment=suite.env,
        generated_at=now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - started,
        results=tuple(results),
    )


def run_suite(suite: Suite, probes: Probes, concurrency: int = 32) -> Report:
    """Synchronous wrapper around :func:`run_async` (for the CLI)."""
    return asyncio.run(run_async(suite, probes, concurrency))
