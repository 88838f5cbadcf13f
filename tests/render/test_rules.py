"""The hardening rules cannot be bypassed from the catalog or the environment.

Every case of :mod:`rule_cases` runs the real CLI on the mini repo: a negative case exits 2
with exactly the pinned, located messages from both ``render`` and ``validate``, writes
nothing and leaves the repository byte-identical; its positive neighbour renders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import zixly

from .conftest import assert_refused, edit
from .rule_cases import CASES, POSITIVE, Edit


def _apply(repo: Path, edits: list[Edit]) -> None:
    for file, old, new in edits:
        edit(repo, file, old, new)


def test_cases_are_unique_and_cover_every_bypass() -> None:
    ids = [c[0] for c in CASES] + [c[0] for c in POSITIVE]
    assert len(ids) == len(set(ids))
    rules = {line.split("hardening [", 1)[1].split("]", 1)[0] for c in CASES for line in c[2] if "hardening [" in line}
    assert rules >= {"docker_socket", "sensitive_mount", "cap_add", "non_root", "healthcheck", "limits",
                     "traefik_labels", "labels", "file_mode", "memory_budget"}


@pytest.mark.parametrize(("case_id", "edits", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bypass_is_refused(
    seeded_repo: Path, tmp_path: Path, case_id: str, edits: list[Edit], expected: list[str]
) -> None:
    _apply(seeded_repo, edits)
    assert_refused(seeded_repo, tmp_path / "out", expected)


@pytest.mark.parametrize(("case_id", "edits"), POSITIVE, ids=[c[0] for c in POSITIVE])
def test_legitimate_neighbour_renders(seeded_repo: Path, tmp_path: Path, case_id: str, edits: list[Edit]) -> None:
    _apply(seeded_repo, edits)
    result = zixly("render", "base", "--out", str(tmp_path / "out"), root=seeded_repo)
    assert result.code == 0, result.stderr
    assert zixly("validate", "base", root=seeded_repo).code == 0


def test_exceptions_are_listed(repo: Path) -> None:
    _apply(repo, [("services/crm/service.yaml", "    depends_on: [web]", "    depends_on: [web]\n    user: root\n"
                   "    exceptions: [{rule: non_root, reason: \"legacy image,   writes as root\"}]")])
    text = zixly("validate", "base", "--exceptions", root=repo)
    assert text.code == 0, text.stderr
    assert "crm / worker / non_root: legacy image, writes as root" in text.stdout
    assert "socket-proxy / socket-proxy / docker_socket:" in text.stdout
    doc = json.loads(zixly("validate", "base", "--exceptions", "--json", root=repo).stdout)
    assert {"service": "crm", "container": "worker", "rule": "non_root",
            "reason": "legacy image, writes as root"} in doc["exceptions"]
    assert all(set(e) == {"service", "container", "rule", "reason"} for e in doc["exceptions"])


@pytest.mark.parametrize(("rule", "reason", "message"), [
    ("privileged", "needs the host", "invalid value 'privileged' (expected one of"),
    ("limits", "runs unbounded", "invalid value 'limits' (expected one of"),
    ("non_root", "          ", "a reason says why this container needs the exception"),
])
def test_exceptions_need_a_known_rule_and_a_reason(repo: Path, rule: str, reason: str, message: str) -> None:
    _apply(repo, [("services/crm/service.yaml", "    depends_on: [web]", "    depends_on: [web]\n"
                   f"    exceptions: [{{rule: {rule}, reason: \"{reason}\"}}]")])
    result = zixly("validate", "base", root=repo)
    assert result.code == 2
    assert message in result.stderr and "services/crm/service.yaml:25:" in result.stderr
