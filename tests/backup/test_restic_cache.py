"""restic's cache stays under what zixly owns, never in the home of whoever runs it (a host's root
``~/.cache`` filled by every nightly backup and upgrade checkpoint is a path we wrote outside our
root). Real restic, real rendered script."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.harness.local_engine import unavailable
from tests.helpers import REPO
from zixly_stack.commands import restic as rc
from zixly_stack.project import load
from zixly_stack.render.backup.plan import plan_backup
from zixly_stack.render.backup.script import backup_script


def test_zixlys_restic_argv_writes_its_cache_where_it_is_told_and_nothing_in_home(tmp_path: Path) -> None:
    if shutil.which("restic") is None:
        unavailable("restic is not installed")
    home, cache, repo = tmp_path / "home", tmp_path / "scratch" / "cache", tmp_path / "repo"
    home.mkdir()
    pw = tmp_path / "pw"
    pw.write_text("a-test-password-1\n")
    data = tmp_path / "data.txt"
    data.write_text("payload\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    for args in (["init"], ["backup", str(data)], ["snapshots", "--json"]):
        argv = rc.restic(args, repository=str(repo), password_file=str(pw),
                         credentials=str(tmp_path / "no-such-credentials.env"), cache_dir=str(cache))
        res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 0, (args, res.stderr)
    assert (cache / "CACHEDIR.TAG").is_file(), sorted(p.name for p in cache.rglob("*"))
    assert not (home / ".cache").exists(), sorted(str(p) for p in home.rglob("*"))


def test_the_nightly_script_points_restics_cache_under_its_state_dir_before_any_restic_call() -> None:
    script = backup_script(plan_backup(load(REPO, "local").stack, "local"), load(REPO, "local").stack.environment)
    lines = script.splitlines()
    export = [i for i, line in enumerate(lines) if line.startswith("export RESTIC_CACHE_DIR=")]
    assert len(export) == 1, "one export of RESTIC_CACHE_DIR"
    assert lines[export[0]].endswith(':-$STATE/restic-cache}"'), lines[export[0]]
    state = next(i for i, line in enumerate(lines) if line.startswith("STATE="))
    calls = [i for i, line in enumerate(lines) if re.search(r"(^|[\s;(|&])restic\s", line)
             and not line.lstrip().startswith("#")]
    assert calls, "the script calls restic"
    assert state < export[0] < min(calls), (state, export[0], min(calls))


def _forget_lines(script: str) -> str:
    """The rendered script's retention step: its ``if`` over the two ``restic forget`` commands, as one
    shell command that exits 7 where the script would report the retention failed."""
    lines = script.splitlines()
    start = next(i for i, line in enumerate(lines) if 'restic forget --quiet --tag "env:$ENV"' in line)
    assert lines[start].lstrip().startswith("if ! ") and "restic forget" in lines[start + 1], lines[start:start + 2]
    assert lines[start + 2].strip() == "restic_failed retention", lines[start + 2]
    return f"{lines[start].strip()}\n{lines[start + 1].strip()}\nexit 7\nfi"


def test_upgrade_checkpoints_outlive_the_nightly_retention_and_keep_their_own_count(tmp_path: Path) -> None:
    """Real restic, the rendered script's own retention commands: nightly snapshots thin out by the
    policy; checkpoints (older than every nightly one here) are kept, the newest N per item."""
    if shutil.which("restic") is None:
        unavailable("restic is not installed")
    loaded = load(REPO, "local")
    env = loaded.stack.environment
    retention = env.backup.retention.model_copy(update={"daily": 2, "weekly": 0, "monthly": 0, "checkpoints": 2})
    env = env.model_copy(update={"backup": env.backup.model_copy(update={"retention": retention})})
    cmd = _forget_lines(backup_script(plan_backup(loaded.stack, "local"), env))
    repo, pw, state = tmp_path / "repo", tmp_path / "pw", tmp_path / "st"
    pw.write_text("a-test-password-1\n")
    state.mkdir()
    base = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RESTIC_REPOSITORY": str(repo),
            "RESTIC_PASSWORD_FILE": str(pw), "RESTIC_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run(["restic", "init"], env=base, check=True, capture_output=True)

    def snap(day: int, *tags: str) -> None:
        args = ["restic", "backup", "--stdin", "--stdin-filename", "n8n.sql", "--host", "h",
                "--time", f"2026-11-{day:02d} 03:00:00", "--tag", ",".join(("env:local", *tags))]
        subprocess.run(args, env=base, input=f"day {day}\n", text=True, check=True, capture_output=True)

    for day in (1, 2, 3, 4):
        snap(day, "zixly-checkpoint", f"upgrade:n8n:{day}->{day + 1}")
    for day in (10, 11, 12, 13, 14):
        snap(day, "service:n8n")
    res = subprocess.run(["bash", "-c", f"ENV=local STATE={state}\n{cmd}"], env=base,
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr + (state / "restic.err").read_text()
    listed = subprocess.run(["restic", "snapshots", "--json"], env=base, capture_output=True, text=True,
                            check=True).stdout
    kept = sorted((s["time"][:10], "zixly-checkpoint" in s["tags"]) for s in json.loads(listed))
    assert kept == [("2026-11-03", True), ("2026-11-04", True), ("2026-11-13", False), ("2026-11-14", False)], kept
