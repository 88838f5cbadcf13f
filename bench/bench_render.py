"""Render benchmark: time to load, check and render a whole environment (goal < 0.5 s).

Run: ``python bench/bench_render.py [ENV ...]`` (default: production). Prints the median
and best of N runs for load+check and for render, with fake deterministic secrets (the
secrets store's age decryption is measured separately as ``secrets``).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import fake_secrets  # noqa: E402
from zixly_stack.project import load, render  # noqa: E402


def bench(env: str, runs: int = 15) -> dict[str, float]:
    """Median seconds for load+check, render, and both together."""
    loads, renders, totals = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        loaded = load(ROOT, env)
        t1 = time.perf_counter()
        files = render(loaded, fake_secrets(loaded))
        t2 = time.perf_counter()
        loads.append(t1 - t0)
        renders.append(t2 - t1)
        totals.append(t2 - t0)
    assert files
    return {"load": statistics.median(loads), "render": statistics.median(renders),
            "total": statistics.median(totals), "best": min(totals), "files": float(len(files))}


def main() -> None:
    envs = sys.argv[1:] or ["production"]
    for env in envs:
        r = bench(env)
        print(f"{env}: load+check {r['load'] * 1000:.1f} ms, render {r['render'] * 1000:.1f} ms, "
              f"total median {r['total'] * 1000:.1f} ms (best {r['best'] * 1000:.1f} ms), {int(r['files'])} files")


if __name__ == "__main__":
    main()
