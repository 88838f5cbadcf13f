"""``zixly demo schedule --install`` on this machine (no systemd here: the cron.d fallback): the
entry is written once (a rerun changes nothing), and the command in it really runs `demo reap`
for the environment (its base dir is a temp dir, so no real demo can be touched)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.deploy.helpers import REPO, make_root


def _zixly(root: Path, cron_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ZIXLY_CRON_DIR": str(cron_dir)}
    return subprocess.run([sys.executable, "-m", "zixly_stack.cli", "--root", str(root), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_install_writes_a_cron_entry_once_and_its_command_reaps(tmp_path: Path) -> None:
    assert not Path("/run/systemd/system").is_dir(), "this test expects a host without systemd (cron fallback)"
    text = (REPO / "inventories" / "local" / "environment.yaml").read_text()
    assert "base_dir: /opt/zixly" in text
    root = make_root(tmp_path / "repo", "local", text.replace("base_dir: /opt/zixly", f"base_dir: {tmp_path}/opt"),
                     (REPO / "inventories" / "local" / "hosts.yaml").read_text())
    cron_dir = tmp_path / "cron.d"
    first = _zixly(root, cron_dir, "demo", "schedule", "--install")
    assert first.returncode == 0, first.stderr
    entry = cron_dir / "zixly-demo-reap-local"
    assert "installed" in first.stdout and entry.is_file() and oct(entry.stat().st_mode & 0o777) == "0o644"
    line = entry.read_text().splitlines()[-1]  # after the comment and the SHELL/PATH lines
    schedule, user, command = line[:line.index(" root ")], "root", line[line.index(" root ") + 6:]
    assert schedule == "*/15 * * * *" and user == "root"
    argv = shlex.split(command)
    assert argv[-4:] == ["demo", "reap", "--env", "local"] and str(root.resolve()) in argv
    again = _zixly(root, cron_dir, "demo", "schedule", "--install")
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.stdout + again.stderr
    ran = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_")})
    assert ran.returncode == 0 and "reaped 0 expired demo(s)" in ran.stdout, ran.stdout + ran.stderr
