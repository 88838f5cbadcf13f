"""Demo benchmark: time from ``zixly demo up`` to healthy and seeded (goal: < 90 s with warm images).

Run: ``python bench/bench_demo_up.py [--env local] [--root .] [--services warehouse,metabase]
[--client benchdemo]`` on a machine where the environment's stack is up (``zixly up``). Brings
one demo up through the CLI (``--json``), prints the phases the command reports (prepare:
checks + render + secrets; healthy: every container healthy; seeded: hooks done), the
wall time of the whole command, then ``zixly demo down`` and its time. Exit 1 when the
demo is not ready or seeded is over the goal. Credentials in the output are not printed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

GOAL_S = 90.0


def zixly(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a subprocess."""
    return subprocess.run([sys.executable, "-m", "zixly_stack.cli", "--root", str(root), *args],
                          capture_output=True, text=True, check=False, timeout=1800)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="local")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--services", default="warehouse,metabase")
    ap.add_argument("--client", default="benchdemo")
    args = ap.parse_args()
    start = time.monotonic()
    res = zixly(args.root, "demo", "up", args.client, "--ttl", "1h", "--services", args.services,
                "--env", args.env, "--json")
    wall = time.monotonic() - start
    if res.returncode != 0:
        print(f"demo up failed ({res.returncode}):\n{res.stderr}", file=sys.stderr)
        zixly(args.root, "demo", "down", args.client, "--env", args.env)
        return 1
    out = json.loads(res.stdout)
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in out["seconds"].items())
    print(f"demo up {args.client} ({args.services}): {out['status']}; {phases}; command wall {wall:.1f}s")
    for name, status, summary in out["hooks"]:
        print(f"  hook {name}: {status} {summary}")
    start = time.monotonic()
    down = zixly(args.root, "demo", "down", args.client, "--env", args.env)
    print(f"demo down: exit {down.returncode} in {time.monotonic() - start:.1f}s")
    ok = out["status"] == "ready" and out["seconds"]["seeded"] < GOAL_S
    print(f"goal < {GOAL_S:.0f}s to healthy and seeded: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
