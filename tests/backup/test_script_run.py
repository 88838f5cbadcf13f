"""The rendered backup script run for real (bash + restic 0.14, no engine): a failure before any
container is touched -- here a wrong repository password -- exits with its own code, records
the failed run in the status file (no service backed up), never says the backup completed, and
sends ``backup.failed`` through Debian's ``apprise`` CLI (what host preparation installs) to real
loopback receivers: Apprise's JSON, and a Mattermost-style webhook whose token is a secret of
the channel file (0600, never on an argv). The same fault again is not repeated; a channel that
hangs is given up after its timeout, its message kept in the outbox and sent by the next run."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.helpers import REPO
from tests.notify.receivers import TOKEN, Sinks, sinks, wait_for
from tests.notify.test_agent import debian_apprise
from zixly_stack.models.environment import Notifications
from zixly_stack.notify.channels import apprise_config, resolve
from zixly_stack.notify.outbox import Outbox
from zixly_stack.project import load
from zixly_stack.render.backup.plan import plan_backup
from zixly_stack.render.backup.script import backup_script
from zixly_stack.secrets.value import Secret

__all__ = ["sinks"]  # the receivers fixture


def test_wrong_password_exits_11_and_sends_backup_failed_once_without_secrets(tmp_path: Path, sinks: Sinks) -> None:
    loaded = load(REPO, "local")
    urls = sinks.urls()
    channels = [{"name": n, "url": urls[n], "timeout_s": 1 if n == "hang" else 10} for n in ("json", "mmost", "hang")]
    env = loaded.stack.environment.model_copy(update={"notifications": Notifications(channels=channels)})
    script = tmp_path / "backup.sh"
    script.write_text(backup_script(plan_backup(loaded.stack, "local"), env))
    conf = tmp_path / "apprise.txt"
    conf.write_text(apprise_config(resolve(env, {"notify.mm_token": Secret(TOKEN)}, "local")))
    conf.chmod(0o600)
    repo = tmp_path / "repo"
    base = {**os.environ, "RESTIC_REPOSITORY": str(repo)}
    subprocess.run(["restic", "init"], env={**base, "RESTIC_PASSWORD": "the-real-password-1"}, check=True,
                   capture_output=True)
    pwfile = tmp_path / "pw"
    pwfile.write_text("a-wrong-password-123\n")
    pwfile.chmod(0o600)
    run_env = {**base, "RESTIC_PASSWORD_FILE": str(pwfile), "ZIXLY_BACKUP_STATE": str(tmp_path / "st"),
               "ZIXLY_NOTIFY_CONFIG": str(conf), "ZIXLY_APPRISE": debian_apprise()}

    def backup() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300, env=run_env)

    res = backup()
    assert res.returncode == 11, res.stderr
    assert "wrong repository password" in res.stderr and "complete" not in res.stderr
    status = json.loads((tmp_path / "st" / "status.json").read_text())
    assert status["last_run"]["exit_code"] == 11 and status["services"] == {}, status
    assert wait_for(lambda: len(sinks.json.got) == 1 and len(sinks.mmost.got) == 1)
    for got in (sinks.json.got[0], sinks.mmost.got[0]):
        assert got.event == "backup.failed" and "backup failed: local exit 11" in got.title, got
        assert "wrong repository password" in got.body, got
        assert "a-wrong-password-123" not in got.raw and TOKEN not in got.raw
    assert sinks.hang.accepted and "hang FAILED" in res.stderr, res.stderr
    kept = Outbox(tmp_path / "st" / "outbox").entries()
    assert [(e.channel, e.event, e.attempts) for e in kept] == [("hang", "backup.failed", 1)]
    assert TOKEN not in res.stderr + res.stdout and "a-wrong-password-123" not in res.stderr + res.stdout

    sinks.hang.hang = False  # the hanging service answers again
    again = backup()
    assert again.returncode == 11 and "not repeated until a backup succeeds" in again.stderr, again.stderr
    assert len(sinks.json.got) == 1 and len(sinks.mmost.got) == 1, "the same fault is sent once"
    assert [g.event for g in sinks.hang.got] == ["backup.failed"], "the kept message went out with the next run"
    assert Outbox(tmp_path / "st" / "outbox").entries() == []
