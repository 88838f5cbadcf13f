"""The health report's drift section in every format (pure: a report in, text out)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from zixly_stack.health.formats import FORMATS, render
from zixly_stack.health.model import Drift, Report, Result, Status
from zixly_stack.plan.drift import Finding

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs" / "health-report.schema.json").read_text())
TEMPLATES = REPO / "healthchecks" / "templates"
FINDING = Finding("edited-file", "vps1", "n8n/compose.yaml", "sha256 0123456789ab as release r1 wrote it",
                  "sha256 ba9876543210", "edited by hand <b>not</b> markup")
STRAY = Finding("stray-container", "vps1", "stray-1", "only containers the release's compose files make",
                "project zixly-p-n8n | no org.zixly.env label", "remove it")


def report(drift: Drift | None) -> Report:
    ok = Result("http:n8n", "n8n", "http", "https://n8n.example", Status.OK, "200")
    return Report("prod", "2026-12-07T14:00:00+00:00", 0.5, (ok,), drift=drift)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_shows_each_finding(fmt: str) -> None:
    text = render(report(Drift(True, (FINDING.to_json(), STRAY.to_json()))), fmt, TEMPLATES)
    for f in (FINDING, STRAY):
        assert f.subject in text and f.kind in text, fmt
    assert "2 finding(s)" in text or fmt == "json"
    if fmt == "html":
        assert "<b>not</b>" not in text and "&lt;b&gt;not&lt;/b&gt;" in text
    if fmt == "markdown":
        assert "\\| no org.zixly.env label" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_says_none_or_why_not_checked(fmt: str) -> None:
    none = render(report(Drift(True)), fmt, TEMPLATES)
    skipped = render(report(Drift(False, note="skipped (--skip drift)", errors={})), fmt, TEMPLATES)
    unread = render(report(Drift(True, errors={"vps2": "unreachable: timed out"})), fmt, TEMPLATES)
    if fmt == "json":
        assert json.loads(none)["drift"] == {"checked": True, "count": 0, "findings": [], "errors": {}, "note": ""}
        assert json.loads(skipped)["drift"]["checked"] is False
        assert json.loads(unread)["drift"]["errors"] == {"vps2": "unreachable: timed out"}
    else:
        assert "none" in none.lower().split("drift", 1)[1]
        assert "not checked: skipped (--skip drift)" in skipped
        assert "not read: vps2: unreachable: timed out" in unread


def test_the_json_report_with_drift_validates_and_drift_leaves_the_status_alone() -> None:
    doc = json.loads(render(report(Drift(True, (FINDING.to_json(),))), "json", TEMPLATES))
    jsonschema.validate(doc, SCHEMA)
    assert doc["status"] == "ok" and doc["exit_code"] == 0 and doc["drift"]["count"] == 1
    assert doc["drift"]["findings"][0] == FINDING.to_json()
    assert "drift" not in json.loads(render(report(None), "json", TEMPLATES))


def test_the_schema_refuses_a_finding_of_an_unknown_kind() -> None:
    doc = json.loads(render(report(Drift(True, ({**FINDING.to_json(), "kind": "other"},))), "json", TEMPLATES))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
