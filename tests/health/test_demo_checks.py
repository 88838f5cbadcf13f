"""The report's ``demo:`` checks come from each demo host's agent state (zixly_stack/health/probes/demos.py),
and fit the report schema."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema

from zixly_stack.health.model import Status
from zixly_stack.health.probes.demos import from_agent, read_demos

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "health-report.schema.json").read_text())
LAST = json.dumps({"checks": [
    {"id": "demo:acme", "app": "demos", "status": "warning", "summary": "expires in 3.0 h (2026-01-01T10:00:00Z)"},
    {"id": "demo:beta", "app": "demos", "status": "ok", "summary": "expires 2026-02-01T00:00:00Z"},
    {"id": "container:x:y", "app": "x", "status": "critical", "summary": "not ours"},
]})


class Files:
    """A host runner that serves one file (``cat`` of anything else: no such file)."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    async def run(self, argv: list[str], timeout: float = 20.0) -> tuple[int, str, str]:
        path = argv[-1]
        if path in self.files:
            return 0, self.files[path], ""
        return 1, "", f"cat: {path}: No such file or directory"


def test_demo_checks_of_an_agent_state_become_report_results() -> None:
    got = from_agent(LAST, "h2")
    assert [(r.check_id, r.kind, r.target, r.status) for r in got] == [
        ("demo:acme", "demo", "h2/acme", Status.WARNING), ("demo:beta", "demo", "h2/beta", Status.OK)]
    assert got[0].summary == "expires in 3.0 h (2026-01-01T10:00:00Z) (on h2)"
    check = SCHEMA["$defs"]["check"]
    for r in got:
        jsonschema.validate(r.to_json(), {**check, "$defs": SCHEMA["$defs"]})


def test_hosts_without_agent_state_add_nothing() -> None:
    path = "/var/lib/zixly/duo/health/last.json"
    found = asyncio.run(read_demos([("h1", Files({}), path), ("h2", Files({path: LAST}), path)]))
    assert [r.check_id for r in found] == ["demo:acme", "demo:beta"]
    assert from_agent("not json", "h1") == []
