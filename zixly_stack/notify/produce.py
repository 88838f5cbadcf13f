"""Event occurrences from what commands did. Pure: reports in, (event, severity, subject, body) out.

* :func:`deploy_events` -- one deploy's report: ``deploy.rolled_back`` when the health gate
  put a host's previous release back, ``deploy.failed`` when a host failed, was unreachable,
  its lock was held, or a blocking hook failed, ``deploy.succeeded`` when it changed a host
  and nothing went wrong. A deploy that changed nothing and failed nowhere sends nothing.
* :func:`demo_events` -- client demos expiring within :data:`DEMO_WARNING`, one occurrence
  per (demo, expiry time): extending a demo warns again about its new expiry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..clock import parse_time

DEMO_WARNING = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Occurrence:
    """One event to send."""

    event: str
    subject: str
    body: str
    key: str = ""  # what repeats are recognised by (empty: never a repeat)


def deploy_events(report: Any, command: str) -> list[Occurrence]:
    """See the module contract (*report*: a :class:`~zixly_stack.deploy.runner.DeployReport`)."""
    runs: Sequence[Any] = report.runs
    lines = [f"{r.name}: {r.status}" + (f" -- {r.error}" if r.error else "") for r in runs]
    rolled = [r.name for r in runs if r.status == "rolled back"]
    failed = [r.name for r in runs if r.status in ("failed", "unreachable", "locked")]
    hooks = [f"{r.name}: {name} ({message})" for r in runs for name, ok, message in r.hooks
             if not ok and message.startswith("failed")]
    changed = [r.name for r in runs if r.status == "changed"]
    tail = f"\n\nzixly {command} {report.env} took {report.seconds:.0f} s"
    out: list[Occurrence] = []
    if rolled:
        out.append(Occurrence("deploy.rolled_back", f"{', '.join(rolled)} back on the previous release",
                              "The new release did not come up healthy; the previous one runs again.\n"
                              + "\n".join(lines) + tail))
    if failed or hooks:
        what = ", ".join(failed) if failed else "blocking hook(s) failed"
        out.append(Occurrence("deploy.failed", what, "\n".join(lines + [f"hook failed: {h}" for h in hooks]) + tail))
    if changed and not out:
        releases = [f"{r.name}: release {r.plan.release_to}" for r in runs
                    if r.status == "changed" and r.plan is not None and r.plan.release_to]
        out.append(Occurrence("deploy.succeeded", f"{len(changed)} host(s) changed",
                              "\n".join(releases or lines) + tail))
    return out


def demo_events(records: Iterable[Any], now: dt.datetime) -> list[Occurrence]:
    """Demos whose expiry is within :data:`DEMO_WARNING` and not past (*records*: demo registry records)."""
    out = []
    for r in records:
        expires = parse_time(r.expires)
        left = expires - now
        if dt.timedelta(0) < left <= DEMO_WARNING:
            hours = left.total_seconds() / 3600
            out.append(Occurrence(
                "demo.expiring", f"demo {r.client} expires in {hours:.1f} h",
                f"Client demo {r.client} ({', '.join(r.services)}) expires at {r.expires} and will then be removed "
                f"with its data.\nKeep it longer: zixly demo extend {r.client} --ttl 7d",
                key=f"demo.expiring:{r.client}:{r.expires}"))
    return out
