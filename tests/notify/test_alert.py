"""A restore drill that meets a damaged pack sends ``drill.failed`` (and a failed restore
``restore.failed``) through the real Apprise library to real loopback receivers, with the
environment's secrets masked and a hanging channel costing no more than its timeout.

The fault is real: restic (Debian's, as in tests/backup/test_faults.py) reads a repository
whose biggest pack was overwritten, and its own output is what the drill reports.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.notify.conftest import ENV
from tests.notify.receivers import Sinks, wait_for
from zixly_stack.backup.alert import alert_failure
from zixly_stack.backup.local import Env
from zixly_stack.notify.outbox import Outbox
from zixly_stack.notify.send import GRACE_S
from zixly_stack.notify.service import outbox_dir
from zixly_stack.project import load
from zixly_stack.render.backup.faults import RepoCorruptError, classify
from zixly_stack.secrets.value import Secret

PW = "drill-repo-password-93c1"


def restic(repo: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD": PW}
    return subprocess.run(["restic", *args], env=env, input=stdin, capture_output=True, timeout=120, check=False)


def damaged_pack_output(tmp: Path) -> str:
    """What ``restic check --read-data`` says about a repository with an overwritten pack."""
    repo = tmp / "restic"
    assert restic(repo, "init").returncode == 0
    assert restic(repo, "backup", "--stdin", "--stdin-filename", "x", stdin=os.urandom(2_000_000)).returncode == 0
    biggest = max((p for p in (repo / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    biggest.chmod(0o600)
    data = bytearray(biggest.read_bytes())
    data[100:5000] = b"\0" * 4900
    biggest.write_bytes(bytes(data))
    res = restic(repo, "check", "--read-data")
    text = (res.stdout + res.stderr).decode(errors="replace")
    assert res.returncode != 0 and classify(text)[0] is RepoCorruptError, text
    return text


def test_a_drill_on_a_damaged_pack_is_drill_failed_on_every_channel_secrets_masked(root: Path, sinks: Sinks,
                                                                                    tmp_path: Path) -> None:
    loaded = load(root, ENV)
    env = Env(loaded, {"restic.password": Secret(PW)}, "local")
    output = damaged_pack_output(tmp_path)
    said: list[str] = []
    started = time.monotonic()
    reached = alert_failure(env, "restore drill", f"restic check --read-data (RESTIC_PASSWORD={PW}):\n{output}",
                            said.append)
    took = time.monotonic() - started
    assert sorted(reached) == ["json", "ntfy"], said  # smtp takes deploy.* only; hang never answers
    assert took < 1 + GRACE_S + 10, took
    assert wait_for(lambda: len(sinks.json.got) == 1 and len(sinks.ntfy.got) == 1)
    for got in (sinks.json.got[0], sinks.ntfy.got[0]):
        assert got.event == "drill.failed" and got.title == "[zixly local] restore drill failed: restore drill FAILED"
        assert "RESTIC_PASSWORD=" in got.body and PW not in got.raw, got
        assert "Pack ID does not match" in got.body and "repository contains errors" in got.body, got.body
    assert sinks.smtp.got == []
    assert [(e.channel, e.event) for e in Outbox(outbox_dir(loaded)).entries()] == [("hang", "drill.failed")]
    assert not any(PW in line for line in said) and any("FAILED" in line and "hang" in line for line in said)


def test_a_failed_restore_is_restore_failed(root: Path, sinks: Sinks) -> None:
    env = Env(load(root, ENV), {}, "local")
    reached = alert_failure(env, "restore", "restore of local failed: postgres did not become healthy", lambda s: None)
    assert sorted(reached) == ["json", "ntfy"]
    assert [g.event for g in sinks.json.got] == ["restore.failed"]
