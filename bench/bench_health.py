"""Health benchmark: 40 HTTPS endpoints on loopback, one of which takes 2 s (goal: report < 3 s).

Run: ``python bench/bench_health.py``. Starts a TLS edge on 127.0.0.1 in a child process
(the test edge of ``tests/health/edge.py``: Host-header routing, self-signed certificate;
a separate process so its handshakes do not share the client's interpreter), probes 40 HTTP
checks plus a TLS check per host through :func:`zixly_stack.health.run.run_async` with the
default concurrency, and prints the wall time of the whole report. Exit 1 when over 3 s.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import multiprocessing.connection
import multiprocessing.synchronize
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.health.edge import Answer, Edge  # noqa: E402
from zixly_stack.health.checks import Edge as EdgeAddr  # noqa: E402
from zixly_stack.health.checks import HttpCheck, Suite, TlsCheck  # noqa: E402
from zixly_stack.health.probes.backup import JsonStatusFile  # noqa: E402
from zixly_stack.health.run import Probes, run_async  # noqa: E402

ENDPOINTS = 40
SLOW_S = 2.0
GOAL_S = 3.0


def serve(port_out: mp.connection.Connection, stop: mp.synchronize.Event) -> None:
    """Child process: the edge with 40 routes (the first one slow) until ``stop``."""
    with Edge() as edge:
        for i in range(ENDPOINTS):
            edge.routes[(f"app{i:02d}.localhost", "/health")] = Answer(200, '{"status":"ok"}',
                                                                       SLOW_S if i == 0 else 0.0)
        port_out.send(edge.port)
        stop.wait(120)


def main() -> int:
    """Run the benchmark once; print the figures."""
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    child = ctx.Process(target=serve, args=(send, stop), daemon=True)
    child.start()
    try:
        port = int(receive.recv())
        addr = EdgeAddr("bench", "127.0.0.1", port)
        checks = []
        tls = []
        for i in range(ENDPOINTS):
            vhost = f"app{i:02d}.localhost"
            checks.append(HttpCheck(f"http:app{i:02d}:health", f"app{i:02d}", addr, vhost, "/health", 200,
                                    '"ok"', 5000.0, 10.0))
            tls.append(TlsCheck(f"tls:app{i:02d}", f"app{i:02d}", addr, vhost, 21, 3, 10.0))
        suite = Suite(env="bench", http=tuple(checks), tls=tuple(tls))
        probes = Probes(backup_source=JsonStatusFile(Path("/nonexistent")))
        started = time.perf_counter()
        report = asyncio.run(run_async(suite, probes))
        took = time.perf_counter() - started
    finally:
        stop.set()
        child.join(10)
    counts = ", ".join(f"{v} {k}" for k, v in report.counts().items() if v)
    slowest = max(r.latency_ms or 0 for r in report.results)
    print(f"health bench: {ENDPOINTS} HTTP + {len(tls)} TLS probes ({counts}); slowest probe {slowest:.0f} ms; "
          f"whole report {took:.2f} s (goal < {GOAL_S:g} s)")
    return 0 if took < GOAL_S and report.status.value == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
