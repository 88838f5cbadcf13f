"""End-to-end: an SFTP backup target -- a REAL OpenSSH sshd on loopback (key-only, its own host
key), real restic speaking SFTP through ``ssh``, the shared stack's warehouse backed up by the
rendered nightly script, listed and restored through it.

restic runs ``ssh HOST -s sftp`` from PATH and ssh reads the user's ``~/.ssh/config``; on a
real host that config names the backup server. Here a wrapper earlier in PATH adds ``-F`` with a
config of this test only (key, port, pinned host key, BatchMode), so nothing of the machine's
own SSH setup is touched. sshd's log proves the data went over SSH.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.backup.test_backup_e2e import psql
from tests.harness.stack import LocalStack

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]
ALIAS = "zixly-sftp-test"


@dataclass(frozen=True)
class Sftp:
    url: str
    repo: Path
    path_dir: Path  # put first in PATH: its `ssh` adds the test's config
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sftp]:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists():
        pytest.fail("OpenSSH server missing (apt-get install openssh-server): the Makefile installs it")
    d = tmp_path_factory.mktemp("sftp")
    for key in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    (d / "authorized_keys").write_text((d / "client.pub").read_text())
    port = _free_port()
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"StrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\nPidFile {d}/sshd.pid\nLogLevel VERBOSE\n")
    (d / "known_hosts").write_text(f"{ALIAS} {(d / 'host.pub').read_text().split(' ', 2)[0]} "
                                   f"{(d / 'host.pub').read_text().split(' ', 2)[1]}\n")
    (d / "ssh_config").write_text(
        f"Host {ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {d}/client\n"
        f"  IdentitiesOnly yes\n  HostKeyAlias {ALIAS}\n  UserKnownHostsFile {d}/known_hosts\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n")
    bin_dir = d / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(f"#!/bin/sh\nexec /usr/bin/ssh -F {d}/ssh_config \"$@\"\n")
    (bin_dir / "ssh").chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    log = d / "sshd.log"
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / "sshd_config")], stderr=open(log, "w"))  # noqa: SIM115
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        repo = d / "repo"
        yield Sftp(f"sftp:{ALIAS}:{repo}", repo, bin_dir, log)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_backup_snapshots_and_restore_over_sftp(local_stack: LocalStack, sftp: Sftp) -> None:
    s = local_stack
    wh = s.container("warehouse", "db")
    text = s.env_file.read_text()
    local_target = f"target: {{type: local, path: {s.base_dir}/backups}}"
    assert local_target in text
    s.env_file.write_text(text.replace(local_target, f"target: {{type: sftp, url: '{sftp.url}'}}"))
    z = replace(s.zixly, env={**s.zixly.env, "PATH": f"{sftp.path_dir}:{os.environ['PATH']}"})
    psql(s, wh, "warehouse", "CREATE TABLE IF NOT EXISTS zixly_sftp (id int); TRUNCATE zixly_sftp;"
         "INSERT INTO zixly_sftp SELECT generate_series(1, 9);")
    try:
        assert not sftp.repo.exists()
        res = z.run("backup", s.env, "--service", "warehouse", "--no-maintenance")
        assert "1 snapshot(s)" in res.stdout, res.stdout + res.stderr
        assert (sftp.repo / "config").is_file() and any((sftp.repo / "snapshots").iterdir()), "no repository made"
        assert "Accepted publickey for root" in sftp.log.read_text(), "restic did not go through sshd"
        snaps = z.json("snapshots", s.env)
        assert any(x["item"] == "warehouse.db.warehouse" for x in snaps), snaps
        psql(s, wh, "warehouse", "DELETE FROM zixly_sftp WHERE id > 3;")
        res = z.run("restore", s.env, "--snapshot", "latest", "--service", "warehouse", "--yes")
        assert "restored, healthy" in res.stdout
        assert psql(s, wh, "warehouse", "SELECT count(*), max(id) FROM zixly_sftp;") == "9|9"
    finally:
        s.set_overrides("")
        psql(s, wh, "warehouse", "DROP TABLE IF EXISTS zixly_sftp;")
