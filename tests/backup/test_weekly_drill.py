"""``zixly backup schedule-drill``: the weekly restore drill as systemd units / a cron.d entry on
this machine (no systemd here: cron.d, directory from ZIXLY_CRON_DIR), two hours after Sunday's
backup, with the age key FILE it needs -- and refused when the key exists only in ZIXLY_AGE_KEY."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO
from zixly_stack.backup.weekly import drill_schedule, drill_time


def test_two_hours_after_the_backup_wrapping_midnight() -> None:
    assert drill_time("03:15") == (5, 15)
    assert drill_time("23:30") == (1, 30)


def test_units_and_cron_run_the_drill_with_the_key_file() -> None:
    files = drill_schedule(["/usr/bin/python3", "-m", "zixly_stack.cli"], "/srv/ops repo", "prod", "03:15",
                           "/root/keys/age.key")
    service, timer, cron = files["zixly-drill-prod.service"], files["zixly-drill-prod.timer"], files["zixly-drill-prod"]
    assert "Environment=ZIXLY_AGE_KEY_FILE=/root/keys/age.key" in service
    assert "OnCalendar=Sun *-*-* 05:15:00" in timer and "Persistent=true" in timer
    assert cron.splitlines()[-2] == "ZIXLY_AGE_KEY_FILE=/root/keys/age.key"
    line = cron.splitlines()[-1]
    assert line.startswith("15 5 * * 0 root ")
    assert shlex.split(line[len("15 5 * * 0 root "):]) == [
        "/usr/bin/python3", "-m", "zixly_stack.cli", "--root", "/srv/ops repo", "backup", "verify", "prod",
        "--read-data-subset", "1/4"]
    assert "Environment" not in drill_schedule(["z"], "/r", "prod", "03:15", None)["zixly-drill-prod.service"]


def _cli(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")}
    return subprocess.run([sys.executable, "-m", "zixly_stack.cli", "--root", str(REPO), *args],
                          env={**base, "HOME": str(tmp), "XDG_CONFIG_HOME": "", "ZIXLY_CRON_DIR": str(tmp / "cron.d"),
                               **env}, capture_output=True, text=True, timeout=120)


def test_install_once_then_nothing_changes(tmp_path: Path) -> None:
    assert not Path("/run/systemd/system").is_dir(), "this test expects a host without systemd (cron fallback)"
    key = tmp_path / "age.key"
    key.write_text("# not read by schedule-drill: only its path goes into the entry\n")
    first = _cli(tmp_path, {"ZIXLY_AGE_KEY_FILE": str(key)}, "backup", "schedule-drill", "local", "--install")
    assert first.returncode == 0 and "installed" in first.stdout, first.stdout + first.stderr
    entry = (tmp_path / "cron.d" / "zixly-drill-local").read_text()
    assert f"ZIXLY_AGE_KEY_FILE={key}" in entry and " backup verify local --read-data-subset 1/4" in entry
    again = _cli(tmp_path, {"ZIXLY_AGE_KEY_FILE": str(key)}, "backup", "schedule-drill", "local", "--install")
    assert again.returncode == 0 and "nothing changed" in again.stdout


def test_a_key_only_in_the_environment_is_refused(tmp_path: Path) -> None:
    res = _cli(tmp_path, {"ZIXLY_AGE_KEY": "AGE-SECRET-" + "KEY-1" + "Q" * 58}, "backup", "schedule-drill", "local",
               "--install")
    assert res.returncode == 10, res.stdout + res.stderr
    assert "ZIXLY_AGE_KEY holds it" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "cron.d").exists(), "something was installed"
