"""restic's cache stays under what zixly owns, never in the home of whoever runs it (a host's root
``~/.cache`` filled by every nightly backup and upgrade checkpoint is a path we wrote outside our
root). Real restic, real rendered script."""

from __future__ import annotations

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
