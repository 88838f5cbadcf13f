"""Print where a CI run's time went, its coverage per package, and the budget verdict.

Usage (``.ci/run`` calls it on exit, whatever failed)::

    python3 .ci/report.py OUT_DIR [--budget SECONDS]

Reads, each only when present (a phase that never ran is simply missing):

* ``OUT_DIR/phases.tsv``: ``name<TAB>start<TAB>end<TAB>exit status<TAB>fg|bg`` per CI phase
  (epoch seconds; ``end`` empty while unfinished);
* ``OUT_DIR/tests.jsonl``: one line per finished test (``pytest --timings``, see
  ``tests/harness/timing.py``);
* ``OUT_DIR/coverage.json``: ``coverage json`` of the combined run.
* ``OUT_DIR/pytest.log``: its last summary line is printed again at the very end.

Prints the phase table, the test workers and groups (busy time and span), the modules
slowest first (session-scoped fixture setups, such as the shared stack's, on their own lines), the
figures tests measured (``tests/harness/timing.py::figure``), the coverage per package, then a
loud warning naming the slowest modules when the total passes
the budget (default 2400 s: 40 minutes). Always exits 0: the verdict is ``.ci/run``'s.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

BUDGET_S = 2400


def _phases(path: Path) -> list[dict[str, Any]]:
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            name, start, end, status, kind = [*line.split("\t"), "", "", "", ""][:5]
            rows.append({"name": name, "start": float(start), "end": float(end) if end else None,
                         "status": status, "kind": kind or "fg"})
    return rows


def _tests(path: Path) -> list[dict[str, Any]]:
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a killed run
    return out


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.0f}"


def phase_table(phases: list[dict[str, Any]], t0: float, now: float) -> list[str]:
    lines = [f"{'phase':<44} {'start':>6} {'took':>6}  status"]
    for p in phases:
        end = p["end"] if p["end"] is not None else now
        status = {"0": "ok", "": "unfinished"}.get(p["status"], f"FAILED ({p['status']})")
        if p["end"] is None:
            status = "unfinished"
        note = "  (in the background)" if p["kind"] == "bg" else ""
        lines.append(f"{p['name']:<44} {p['start'] - t0:>6.0f} {end - p['start']:>6.0f}  {status}{note}")
    lines.append(f"{'total':<44} {'':>6} {now - t0:>6.0f}")
    return lines


def _busy(t: dict[str, Any]) -> float:
    return float(t["setup"] + t["call"] + t["teardown"])


def worker_table(tests: list[dict[str, Any]]) -> list[str]:
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for t in tests:
        by[(t["worker"], t["group"] or "-")].append(t)
    lines = [f"{'worker':<8} {'group':<8} {'tests':>6} {'busy':>6} {'from':>6} {'to':>6}  failed"]
    t0 = min((t["start"] for t in tests), default=0.0)
    for (worker, group), ts in sorted(by.items(), key=lambda kv: (kv[0][0], min(t["start"] for t in kv[1]))):
        failed = sum(t["outcome"] == "failed" for t in ts)
        first, last = min(t["start"] for t in ts) - t0, max(t["stop"] for t in ts) - t0
        lines.append(f"{worker:<8} {group:<8} {len(ts):>6} {sum(map(_busy, ts)):>6.0f} "
                     f"{first:>6.0f} {last:>6.0f}  {failed or ''}")
    if tests:
        lines.append(f"{'wall':<8} {'':<8} {len(tests):>6} {'':>6} {0:>6} {max(t['stop'] for t in tests) - t0:>6.0f}")
    return lines


def module_rows(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per module: tests, seconds (fixture setups taken out), and one row per shared fixture setup."""
    mods: dict[str, dict[str, Any]] = {}
    fixtures: list[dict[str, Any]] = []
    for t in tests:
        m = mods.setdefault(t["module"], {"name": t["module"], "group": t["group"] or "-", "worker": t["worker"],
                                          "tests": 0, "seconds": 0.0, "failed": 0})
        if t["worker"] not in m["worker"].split(","):
            m["worker"] = "many" if m["worker"].count(",") >= 1 else f"{m['worker']},{t['worker']}"
        m["tests"] += 1
        m["failed"] += t["outcome"] == "failed"
        m["seconds"] += _busy(t)
        for name, scope, secs in t.get("fixtures", []):
            if scope == "session" and secs >= 1.0:  # a shared fixture: not the cost of the module that came first
                m["seconds"] -= secs
                fixtures.append({"name": f"setup of {name} (session fixture, first used by {t['module']})",
                                 "group": m["group"], "worker": t["worker"], "tests": 0, "seconds": secs,
                                 "failed": 0})
    return sorted([*mods.values(), *fixtures], key=lambda r: -r["seconds"])


def module_table(rows: list[dict[str, Any]], limit: int = 40) -> list[str]:
    lines = [f"{'seconds':>7}  {'group':<6} {'worker':<8} {'tests':>5}  module (or shared fixture setup)"]
    for r in rows[:limit]:
        failed = f"  ({r['failed']} failed)" if r["failed"] else ""
        lines.append(f"{r['seconds']:>7.0f}  {r['group']:<6} {r['worker']:<8} {r['tests'] or '':>5}  "
                     f"{r['name']}{failed}")
    if len(rows) > limit:
        rest = rows[limit:]
        lines.append(f"{sum(r['seconds'] for r in rest):>7.0f}  {'':<6} {'':<6} "
                     f"{sum(r['tests'] for r in rest):>5}  ({len(rest)} more rows)")
    return lines


def package_of(path: str) -> str:
    parts = Path(path).parts
    if "zixly_stack" in parts:
        rest = parts[parts.index("zixly_stack") + 1:]
        return "zixly_stack/" + rest[0] if len(rest) > 1 else "zixly_stack (top-level modules)"
    return path


def coverage_table(cov: dict[str, Any]) -> list[str]:
    pkgs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path, data in cov.get("files", {}).items():
        s = data["summary"]
        pkg = pkgs[package_of(path)]
        pkg[0] += s["num_statements"]
        pkg[1] += s["missing_lines"]
    lines = [f"{'package':<36} {'stmts':>6} {'miss':>6} {'cover':>6}"]
    for name, (stmts, miss) in sorted(pkgs.items()):
        lines.append(f"{name:<36} {stmts:>6} {miss:>6} {100 * (stmts - miss) / max(stmts, 1):>5.0f}%")
    total = cov.get("totals", {})
    if total:
        lines.append(f"{'total':<36} {total['num_statements']:>6} {total['missing_lines']:>6} "
                     f"{total['percent_covered']:>5.0f}%")
    return lines


def pytest_summary(log: Path) -> str | None:
    if not log.exists():
        return None
    found = None
    for line in log.read_text(errors="replace").splitlines():
        bare = line.strip("= ")
        if re.match(r"^(\d+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?)(, )?)+ in [0-9.]+s",
                    bare) or re.match(r"^no tests ran in [0-9.]+s", bare):
            found = line
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--budget", type=float, default=BUDGET_S)
    args = ap.parse_args(argv)
    out: Path = args.out
    now = time.time()
    phases = _phases(out / "phases.tsv")
    t0 = min((p["start"] for p in phases), default=now)
    tests = _tests(out / "tests.jsonl")
    say = print
    say("\n==================== CI timing (seconds, wall clock from the start of .ci/run) ====================")
    for line in phase_table(phases, t0, now):
        say(line)
    if tests:
        say("\n-- tests by worker and group (busy: sum of its tests' setup+call+teardown; "
            "from/to: since the first test)")
        for line in worker_table(tests):
            say(line)
        say("\n-- slowest modules (their tests' setup+call+teardown; session fixture setups on their own lines)")
        rows = module_rows(tests)
        for line in module_table(rows):
            say(line)
        measured = [t for t in tests if t.get("figures")]
        if measured:
            say("\n-- figures the tests measured")
            for t in measured:
                say(f"{t['nodeid']}: " + ", ".join(f"{k} {v}" for k, v in t["figures"].items()))
        failed = [t for t in tests if t["outcome"] == "failed"]
        if failed:
            say(f"\n-- {len(failed)} failed (group/worker: node id; pytest's report above has the details)")
            for t in failed[:40]:
                say(f"{t['group'] or '-'}/{t['worker']}: {t['nodeid']}")
    else:
        rows = []
        say("\n(no test timings recorded)")
    cov_file = out / "coverage.json"
    if cov_file.exists():
        say("\n-- coverage per package (unit and end-to-end tests, CLI subprocesses included)")
        for line in coverage_table(json.loads(cov_file.read_text())):
            say(line)
    else:
        say("\n(no coverage data)")
    total = now - t0
    if total > args.budget:
        slow = ", ".join(f"{r['name'].strip()} {r['seconds']:.0f}s" for r in rows[:5]) or "no test timings"
        banner = "!" * 100
        say(f"\n{banner}\nWARNING: CI took {total:.0f} s, over its budget of {args.budget:.0f} s "
            f"({args.budget / 60:.0f} minutes).\nSlowest: {slow}\n{banner}")
        print(f"WARNING: CI over budget: {total:.0f} s > {args.budget:.0f} s; slowest: {slow}", file=sys.stderr)
    else:
        say(f"\nCI time {total:.0f} s: within the budget of {args.budget:.0f} s ({args.budget / 60:.0f} minutes).")
    errors = [t for t in tests if t["outcome"] == "failed" and t.get("error")]
    if errors:  # near the end, so a shortened copy of this report still shows why
        say(f"\n-- why they failed (first {min(len(errors), 5)}; pytest's E lines, then the end of its report)")
        for t in errors[:5]:
            lines = str(t["error"]).splitlines()
            say(f"{t['nodeid']}:")
            say("\n".join("    " + line for line in lines[:40]) + ("\n    [...]" if len(lines) > 40 else ""))
    summary = pytest_summary(out / "pytest.log")
    if summary:
        say(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
