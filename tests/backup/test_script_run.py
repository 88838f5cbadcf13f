"""The rendered backup script run for real (bash + restic 0.14, no engine): a failure before any
container is touched -- here a wrong repository password -- exits with its own code, records
the failed run in the status file (no service backed up), never says the backup completed, and
posts to the environment's webhook (a loopback HTTP server) without the password in the payload."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.helpers import REPO
from zixly_stack.backup.plan import plan_backup
from zixly_stack.backup.script import backup_script
from zixly_stack.models.environment import Notifications
from zixly_stack.project import load


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_wrong_password_exits_11_and_notifies_without_the_password(tmp_path: Path) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        loaded = load(REPO, "local")
        env = loaded.stack.environment.model_copy(update={"notifications": Notifications(
            webhook=f"http://127.0.0.1:{server.server_port}/hook")})
        script = tmp_path / "backup.sh"
        script.write_text(backup_script(plan_backup(loaded.stack, "local"), env))
        repo = tmp_path / "repo"
        base = {**os.environ, "RESTIC_REPOSITORY": str(repo)}
        subprocess.run(["restic", "init"], env={**base, "RESTIC_PASSWORD": "the-real-password-1"}, check=True,
                       capture_output=True)
        pwfile = tmp_path / "pw"
        pwfile.write_text("a-wrong-password-123\n")
        pwfile.chmod(0o600)
        run_env = {**base, "RESTIC_PASSWORD_FILE": str(pwfile), "ZIXLY_BACKUP_STATE": str(tmp_path / "st")}
        res = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, env=run_env)
        assert res.returncode == 11, res.stderr
        assert "wrong repository password" in res.stderr and "complete" not in res.stderr
        status = json.loads((tmp_path / "st" / "status.json").read_text())
        assert status["last_run"]["exit_code"] == 11 and status["services"] == {}, status
        assert _Hook.received and _Hook.received[-1]["exit_code"] == 11 and _Hook.received[-1]["kind"] == "backup"
        assert "a-wrong-password-123" not in json.dumps(_Hook.received) + res.stderr + res.stdout
    finally:
        server.shutdown()
