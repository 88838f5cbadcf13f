"""compose-lint (PyPI) on the rendered stack: no high or critical finding that is not
justified in .compose-lint.yml."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

from .conftest import ALL_ENVS


@pytest.mark.parametrize("env", ALL_ENVS)
def test_compose_lint_has_no_unjustified_high_findings(env: str, rendered_trees: dict[str, Path]) -> None:
    binary = shutil.which("compose-lint")
    assert binary, "compose-lint (pip install compose-lint) is required"
    config = REPO / ".compose-lint.yml"
    failures = []
    for f in sorted(rendered_trees[env].rglob("compose.yaml")):
        proc = subprocess.run([binary, "check", "--format", "json", "--config", str(config), "--fail-on", "high",
                               str(f)], capture_output=True, text=True, check=False)
        doc = json.loads(proc.stdout)
        assert not doc.get("errors"), f"{f}: {doc['errors']}"
        for finding in doc["findings"]:
            if finding["severity"] in ("high", "critical") and not finding.get("suppressed"):
                where = f"{f.parent.name}/{finding['service']}"
                failures.append(f"{where}: {finding['rule_id']} {finding['message'][:100]}")
        if proc.returncode not in (0,):
            assert failures, f"{f}: compose-lint exited {proc.returncode}: {proc.stderr[:500]}"
    assert not failures, "\n".join(failures)


def test_suppressions_all_have_reasons() -> None:
    import yaml

    doc = yaml.safe_load((REPO / ".compose-lint.yml").read_text())
    for rule, body in doc["rules"].items():
        for service, reason in body["exclude_services"].items():
            assert isinstance(reason, str) and len(reason) > 30 and "TODO" not in reason, (rule, service)
