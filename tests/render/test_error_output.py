"""Errors reach the terminal exactly as written: the CLI's consoles do not turn text into emoji
(rich renders ``:100:`` as an emoji code, so every problem on line 100 lost its location)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import copy_repo, zixly_proc


def test_a_problem_on_line_100_keeps_its_location(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo", envs=("local",))
    svc = repo / "services" / "n8n" / "service.yaml"
    text = svc.read_text()
    assert "\nname: n8n\n" in text
    svc.write_text("# padding\n" * 99 + "nmae: n8n\n" + text.replace("\nname: n8n\n", "\n", 1))
    run = zixly_proc("validate", "local", root=repo)
    assert run.code == 2, (run.stdout, run.stderr)
    assert "services/n8n/service.yaml:100:1: " in run.stderr, run.stderr
