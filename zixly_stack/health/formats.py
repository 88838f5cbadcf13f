"""Report formats: ``table`` (terminal), ``json`` (the stable schema), ``markdown`` and ``html``.

Pure: (report, template directory) -> text. The HTML page is one self-contained document
(inline CSS and SVG, no scripts, no external assets) rendered from
``healthchecks/templates/report.html.j2`` with an autoescaping sandboxed Jinja environment.
"""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from .model import AppHistory, Drift, Report, Result, Status

FORMATS = ("table", "json", "markdown", "html")
ICON = {"ok": "OK", "warning": "WARN", "critical": "CRIT", "unknown": "??", "skipped": "skip"}


def to_json(report: Report) -> str:
    """The report as indented JSON (``docs/health-report.schema.json``)."""
    return json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n"


def _ms(r: Result) -> str:
    return "" if r.latency_ms is None else f"{r.latency_ms:.0f} ms"


def to_table(report: Report) -> str:
    """Aligned plain text for terminals: one line per check, apps grouped."""
    rows = [(ICON[r.status.value], r.app, r.kind, r.target, _ms(r), r.summary) for r in report.results]
    head = ("STATUS", "APP", "KIND", "TARGET", "TIME", "SUMMARY")
    widths = [max(len(x[i]) for x in [head, *rows]) for i in range(5)]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:5])) + "  " + row[5] for row in [head, *rows]]
    counts = ", ".join(f"{v} {k}" for k, v in report.counts().items() if v)
    lines += drift_lines(report.drift)
    lines.append("")
    lines.append(
        f"{report.environment}: {report.status.value.upper()} — {len(report.results)} checks ({counts}) "
        f"in {report.duration_s:.2f}s"
    )
    return "\n".join(lines) + "\n"


def drift_headline(drift: Drift) -> str:
    """One line: ``no drift``, ``N finding(s)``, or why it was not checked."""
    if not drift.checked:
        return f"not checked: {drift.note}"
    text = f"{len(drift.findings)} finding(s)" if drift.findings else "none"
    if drift.errors:
        text += "; not read: " + "; ".join(f"{h}: {why}" for h, why in sorted(drift.errors.items()))
    return text


def drift_lines(drift: Drift | None) -> list[str]:
    """The table format's drift section (nothing when the report has none)."""
    if drift is None:
        return []
    out = ["", f"DRIFT (the hosts against their deployed release): {drift_headline(drift)}"]
    for f in drift.findings:
        out.append(f"  {f['host']}  {f['kind']}  {f['subject']}: {f['found']} (expected {f['expected']})")
        out.append(f"      {f['hint']}")
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    """GitHub-flavoured Markdown: a per-app summary, then every check."""
    out = [
        f"# Health: {report.environment} — {report.status.value.upper()}",
        "",
        f"Generated {report.generated_at} in {report.duration_s:.2f}s.",
        "",
        "| App | Status | Checks |",
        "|---|---|---|",
    ]
    for app, results in report.apps().items():
        out.append(f"| {_md(app)} | {report.app_status(app).value} | {len(results)} |")
    out += ["", "| Status | App | Kind | Target | Time | Summary |", "|---|---|---|---|---|---|"]
    for r in report.results:
        out.append(
            f"| {r.status.value} | {_md(r.app)} | {r.kind} | {_md(r.target)} | {_ms(r)} | {_md(r.summary)} |"
        )
    if report.drift is not None:
        out += ["", "## Drift", "", f"Against the deployed release: {_md(drift_headline(report.drift))}."]
        if report.drift.findings:
            out += ["", "| Host | Kind | Subject | Found | Expected | Hint |", "|---|---|---|---|---|---|"]
            out += [f"| {_md(f['host'])} | {f['kind']} | {_md(f['subject'])} | {_md(f['found'])} | "
                    f"{_md(f['expected'])} | {_md(f['hint'])} |" for f in report.drift.findings]
    return "\n".join(out) + "\n"


def sparkline(values: tuple[float, ...], width: int = 120, height: int = 28) -> str:
    """SVG polyline points for a latency series ('' when fewer than two points)."""
    if len(values) < 2:
        return ""
    top = max(values) or 1.0
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values))


def _app_view(report: Report, app: str, results: list[Result]) -> dict[str, object]:
    hist = report.history.get(app, AppHistory())
    return {
        "name": app,
        "status": report.app_status(app).value,
        "checks": results,
        "uptime": hist.uptime_pct,
        "runs": len(hist.statuses),
        "statuses": hist.statuses[-48:],
        "spark": sparkline(hist.latencies_ms),
        "last_ms": hist.latencies_ms[-1] if hist.latencies_ms else None,
        "max_ms": max(hist.latencies_ms) if hist.latencies_ms else None,
    }


def to_html(report: Report, templates: Path) -> str:
    """The self-contained HTML page."""
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    apps = [_app_view(report, app, results) for app, results in report.apps().items()]
    rank = {s.value: s.rank for s in Status}
    apps.sort(key=lambda a: (-rank[str(a["status"])], str(a["name"])))
    drift = report.drift
    return env.get_template("report.html.j2").render(
        report=report, apps=apps, counts=report.counts(), status=report.status.value,
        drift=drift, drift_headline=drift_headline(drift) if drift is not None else "",
    )


def render(report: Report, fmt: str, templates: Path) -> str:
    """Render ``report`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return to_json(report)
    if fmt == "markdown":
        return to_markdown(report)
    if fmt == "html":
        return to_html(report, templates)
    return to_table(report)
