"""Views of deploy results for the CLI: summary table, failure report, JSON, app URLs, status.

Pure formatting of :mod:`zixly_stack.deploy` results (plus the Traefik probe of
``print_urls``); every caller redacts secret values before printing lines that came from
a host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .common import make_console

if TYPE_CHECKING:
    from ..project import Loaded

err = make_console(stderr=True)
out = make_console()


def plain(text: str) -> str:
    """*text* with rich markup escaped."""
    return escape(text)


def summary(report: Any, what: str = "deploy") -> tuple[Table, list[str]]:
    """The summary table (host, result, release, changes) and one note line per host that has one."""
    table = Table(title=f"{what} {report.env}: {report.seconds:.1f}s", title_justify="left")
    for col in ("host", "result", "release", "changes"):
        table.add_column(col, overflow="fold")
    styles = {"unchanged": "cyan", "changed": "green"}
    notes = []
    for r in report.runs:
        plan = r.plan
        release, changes = "", ""
        if plan is not None:
            release = plan.release_to or plan.release_from or ""
            c = plan.counts()
            changes = f"{c['files']} files, {c['projects']} projects" if plan.changed else "none"
        note = r.error or "; ".join(r.messages[-1:])
        if r.converge is not None and r.converge.rolled_back and plan is not None:
            ok = "healthy" if r.converge.rollback_ok else "NOT healthy"
            note = f"rolled back: {plan.release_from} is current again ({ok})" + (f"; {r.error}" if r.error else "")
        failed_hooks = [n for n, ok_, _ in r.hooks if not ok_]
        if failed_hooks:
            note = (note + "; " if note else "") + "degraded, hooks failed: " + ", ".join(failed_hooks)
        table.add_row(r.name, f"[{styles.get(r.status, 'red')}]{r.status}[/]", release, changes)
        if note:
            notes.append(f"{r.name}: {note}")
    return table, notes


def print_summary(report: Any, redact: Callable[[str], str], what: str) -> None:
    """The summary table, then notes and failures (each line redacted)."""
    table, notes = summary(report, what)
    err.print(table)
    for line in notes + hook_lines(report) + failure_lines(report):
        err.print(redact(line), markup=False)


def hook_lines(report: Any) -> list[str]:
    """One line per post-deploy hook that ran: ``host: hook NAME: status: summary``."""
    return [f"{r.name}: hook {name}: {message}" for r in report.runs for name, _, message in r.hooks]


def failure_lines(report: Any) -> list[str]:
    """Per failed project: each failed container with state, logs, health; then how the rollback went."""
    lines = []
    for r in report.runs:
        c = r.converge
        if c is None or c.ok:
            continue
        for p in c.failed:
            lines.append(f"{r.name}: {p.project} did not become healthy")
            for f in p.failed:
                lines.extend(f"  {line}" for line in f.lines())
            if not p.failed and p.output.strip():
                lines.extend("  " + x for x in p.output.strip().splitlines()[-15:])
        if c.rolled_back:
            state = "healthy" if c.rollback_ok else "NOT healthy either"
            lines.append(f"{r.name}: rolled back to release {r.plan.release_from if r.plan else '?'}: {state}")
            for p in c.rollback:
                if not p.ok:
                    lines.append(f"  rollback of {p.project} failed")
                    for f in p.failed:
                        lines.extend(f"    {line}" for line in f.lines())
                    if not p.failed and p.output.strip():
                        lines.extend("    " + x for x in p.output.strip().splitlines()[-15:])
        elif c.note:
            lines.append(f"{r.name}: {c.note}")
    return lines


def report_json(report: Any) -> dict[str, Any]:
    """A JSON view of a deploy report."""
    hosts = []
    for r in report.runs:
        c = r.converge
        hosts.append(
            {
                "host": r.name,
                "status": r.status,
                "error": r.error,
                "plan": r.plan.to_json() if r.plan else None,
                "rolled_back": bool(c and c.rolled_back),
                "failed_containers": [
                    {"name": f.name, "problem": f.problem, "logs": f.logs}
                    for p in (c.failed if c else [])
                    for f in p.failed
                ],
                "hooks": [{"name": n, "ok": ok, "message": m} for n, ok, m in r.hooks],
                "window": [round(t, 3) for t in r.window],
                "messages": r.messages,
            }
        )
    return {"environment": report.env, "ok": report.ok, "seconds": round(report.seconds, 2), "hosts": hosts}


def edge_address(loaded: Loaded) -> tuple[str, int]:
    """Where Traefik listens for HTTPS on this machine (0.0.0.0 probed as 127.0.0.1)."""
    edge = loaded.config.environment.edge
    address = "127.0.0.1" if edge.bind in ("0.0.0.0", "") else edge.bind
    return address, edge.https_port


def print_urls(loaded: Loaded, *, probe: bool, console: Console = out) -> bool:
    """The apps' URLs (one per app), their health through Traefik, stand-ins named; True when all answered."""
    # lazy: keeps the CLI start-up fast
    from ..deploy.urls import app_urls, main_urls
    from ..deploy.urls import probe as do_probe

    urls = [u for u in app_urls(loaded) if u.kind != "edge"]
    results = {}
    if probe and urls:
        address, port = edge_address(loaded)
        results = {(r.app.service, r.app.container): r for r in do_probe(urls, address, port)}
    table = Table(title="apps", title_justify="left")
    for col in ("app", "url", "through Traefik", "image"):
        table.add_column(col)
    for u in main_urls(urls):
        mine = [r for (svc, _), r in results.items() if svc == u.service]
        if not mine:
            health = ""
        elif all(r.ok for r in mine):
            health = f"[green]ok ({len(mine)} route(s))[/]"
        else:
            bad = [f"{r.app.container} {r.status or r.error}" for r in mine if not r.ok]
            health = "[red]" + plain(", ".join(bad)) + "[/]"
        table.add_row(u.service, u.url, health, "[bold yellow]STAND-IN[/]" if u.standin else "real")
    console.print(table)
    standins = sorted({u.service for u in urls if u.standin})
    if standins:
        console.print(
            f"[bold yellow]STAND-INS:[/] {', '.join(standins)} run labelled stand-in images "
            "(no registry here): they answer the vendor's health contract, they are NOT the real apps.",
        )
    return all(r.ok for r in results.values())


def print_status(s: Any) -> None:
    """One host's release, lock, containers and last deploys."""
    if s.error:
        out.print(f"{s.host}: {s.error}", markup=False)
        return
    f = s.facts
    head = f"{s.host}: release {f.release or '(none)'}"
    if f.lock:
        head += f" — locked by {f.lock.describe()}"
    out.print(head, markup=False)
    table = Table(show_header=True, box=None, pad_edge=False)
    for col in ("container", "state", "health", "image"):
        table.add_column(col, overflow="fold")
    for c in f.containers:
        state = c.status if c.status != "exited" else f"exited ({c.exit_code})"
        style = "green" if c.ok else "red"
        table.add_row(c.name, f"[{style}]{state}[/]", c.health or "-", plain(c.ref))
    out.print(table)
    for entry in s.log[-3:]:
        release = entry.get("release") or "(same files)"
        out.print(f"  {entry.get('at')} {entry.get('command')} {release}: {entry.get('result')}", markup=False)
