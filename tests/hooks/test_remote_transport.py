"""The SSH transport's command lines and remote state file, with a real ``sh`` standing in for the SSH channel.

The runner here executes each command line with ``/bin/sh -c`` on this machine and feeds
stdin exactly as pyinfra feeds the SSH channel, so the quoting, the stdin path and the
state file's atomic 0600 write are exercised for real; ``docker`` is a recording script on
PATH. End to end over real SSH: ``tests/deploy/test_remote_hooks_e2e.py``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from zixly_stack.hooks.base import ContainerRef, HookError
from zixly_stack.hooks.remote import RemoteStateFile, Runner, SshDocker
from zixly_stack.hooks.state import HookRecord

FAKE_DOCKER = r"""#!/bin/sh
printf '%s\n' "$*" >> "$LOG"
case "$1" in
  ps) echo cid123 ;;
  inspect) echo "true: stand-in for invoiceninja/invoiceninja-debian:5, not the real application" ;;
  exec) cat > "$LOG.stdin"; echo done ;;
esac
"""


def sh_runner(env: dict[str, str], seen: list[str]) -> Runner:
    def run(command: str, stdin: str | None, timeout: float) -> tuple[bool, str, str]:
        seen.append(command)
        res = subprocess.run(["/bin/sh", "-c", command], input=stdin, capture_output=True, text=True, env=env,
                             timeout=timeout, check=False)
        return res.returncode == 0, res.stdout, res.stderr

    return run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(tmp_path / "docker.log")}


def test_exec_quotes_argv_and_sends_secrets_on_stdin(env: dict[str, str], tmp_path: Path) -> None:
    seen: list[str] = []
    t = SshDocker(sh_runner(env, seen), prefix="zixly-duo", host="h2")
    secret = "s3cr3t; rm -rf / $(reboot)"
    res = t.exec(ContainerRef("mariadb", "server"), ["sh", "-c", 'read -r p; echo "$1"', "sh", "a b'c"],
                 user="mysql", stdin=secret.encode())
    assert res.ok and res.stdout.strip() == "done"
    log = (tmp_path / "docker.log").read_text().splitlines()
    assert log[0] == ("ps -q --filter label=com.docker.compose.project=zixly-duo-mariadb --filter "
                      "label=com.docker.compose.service=server --filter status=running")
    assert shlex.split(seen[-1]) == ["docker", "exec", "-i", "-u", "mysql", "cid123", "sh", "-c",
                                     'read -r p; echo "$1"', "sh", "a b'c"]
    assert (tmp_path / "docker.log.stdin").read_text().rstrip("\n") == secret
    assert all(secret not in cmd for cmd in seen), "a secret reached a command line"
    assert t.standin(ContainerRef("mariadb", "server")) is True


def test_no_container_and_no_endpoint_are_hook_errors(tmp_path: Path) -> None:
    t = SshDocker(lambda cmd, stdin, timeout: (True, "", ""), prefix="zixly-duo", host="h2")
    with pytest.raises(HookError, match="no running container on h2"):
        t.exec(ContainerRef("n8n", "n8n"), ["true"])
    assert t.standin(ContainerRef("n8n", "n8n")) is None
    with pytest.raises(HookError, match="not reachable"):
        t.endpoint(ContainerRef("n8n", "n8n"), 5678)


def test_remote_state_file_roundtrip_atomic_0600(env: dict[str, str], tmp_path: Path) -> None:
    seen: list[str] = []
    path = tmp_path / "opt zixly" / "duo" / "state" / "hooks.json"
    store = RemoteStateFile(sh_runner(env, seen), str(path))
    assert store.load() == {}
    rec = HookRecord.make("probe", "ok", "created", {"db": "x"})
    store.save({"probe": rec})
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert store.load() == {"probe": rec}
    path.write_text("{broken")
    with pytest.raises(HookError, match="damaged hook state"):
        store.load()
