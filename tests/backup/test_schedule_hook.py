"""The ``backup-schedule`` hook on this machine: cron line installed (no systemd here, PID 1 is
not systemd), REAL restic repository initialised, a rerun changes nothing, remote transports refused."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO
from zixly_stack.backup.script import render_backup
from zixly_stack.hooks.backups import install_schedule
from zixly_stack.hooks.base import HookError
from zixly_stack.hooks.context import HookContext
from zixly_stack.hooks.local import LocalDocker
from zixly_stack.models.environment import BackupTarget
from zixly_stack.project import load
from zixly_stack.secrets.value import Secret

PASSWORD = "hook-test-password-0123456789"


def _ctx(tmp_path: Path, transport: object) -> HookContext:
    loaded = load(REPO, "local")
    env = loaded.stack.environment
    backup = env.backup.model_copy(update={"target": BackupTarget(type="local", path=str(tmp_path / "repo"))})
    env = env.model_copy(update={"base_dir": str(tmp_path / "opt"), "backup": backup})
    stack = dataclasses.replace(loaded.stack, environment=env)
    release = tmp_path / "opt" / "local" / "current"
    for f in render_backup(stack, "local", PASSWORD, ()):
        path = release / f.path.split("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f.text)
        path.chmod(f.mode)
    secrets = {"backup.restic_password": Secret(PASSWORD)}
    return HookContext("local", "backup-schedule", "warehouse", stack, secrets, transport, REPO)  # type: ignore[arg-type]


def test_installs_the_cron_line_and_initialises_the_repository(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert not Path("/run/systemd/system").is_dir(), "this test expects a host without systemd (cron fallback)"
    monkeypatch.setenv("ZIXLY_CRON_DIR", str(tmp_path / "cron.d"))
    ctx = _ctx(tmp_path, LocalDocker("zixly-local"))
    first = install_schedule(ctx)
    assert first.changed and "initialised the restic repository" in first.summary
    cron = (tmp_path / "cron.d" / "zixly-backup-local").read_text()
    assert f"/bin/bash {tmp_path}/opt/local/current/backup/backup.sh" in cron
    env = {**os.environ, "RESTIC_REPOSITORY": str(tmp_path / "repo"), "RESTIC_PASSWORD": PASSWORD}
    assert subprocess.run(["restic", "cat", "config"], env=env, capture_output=True).returncode == 0
    again = install_schedule(ctx)
    assert not again.changed and "in place" in again.summary
    assert PASSWORD not in first.summary + again.summary


def test_refuses_remote_transports(tmp_path: Path) -> None:
    with pytest.raises(HookError, match="this machine only"):
        install_schedule(_ctx(tmp_path, object()))
