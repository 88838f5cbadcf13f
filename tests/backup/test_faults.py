"""Fault classification against REAL restic output (Debian restic 0.14; no engine needed).

Each fault is produced for real on a throwaway repository -- wrong password, missing
repository, locks held by restic commands waiting on their input (tests/backup/locks.py),
a full file system (a 6 MB tmpfs), a damaged pack -- and must map to its own error class and exit code.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backup.locks import held_lock
from zixly_stack.render.backup.faults import (
    EXIT_CODES,
    RepoCorruptError,
    RepoFullError,
    RepoLockedError,
    RepoMissingError,
    RepoPasswordError,
    classify,
)

PW = "unit-test-password-1"


def restic(repo: Path, *args: str, password: str = PW, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD": password}
    res = subprocess.run(["restic", *args], env=env, input=stdin, capture_output=True, timeout=120)
    return subprocess.CompletedProcess(res.args, res.returncode, res.stdout.decode(errors="replace"),
                                       res.stderr.decode(errors="replace"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    assert restic(r, "init").returncode == 0
    assert restic(r, "backup", "--stdin", "--stdin-filename", "x", stdin=os.urandom(2_000_000)).returncode == 0
    return r


def test_exit_codes_are_distinct() -> None:
    assert len(EXIT_CODES) == 9 and min(EXIT_CODES) == 10
    assert all(code not in EXIT_CODES for code in (0, 1, 2, 3, 4, 5))


def test_wrong_password(repo: Path) -> None:
    res = restic(repo, "snapshots", password="not-the-password")
    assert res.returncode != 0
    assert classify(res.stderr)[0] is RepoPasswordError


def test_missing_repository(tmp_path: Path) -> None:
    res = restic(tmp_path / "nothing", "snapshots")
    assert res.returncode != 0
    assert classify(res.stderr)[0] is RepoMissingError


def test_locked_repository(repo: Path) -> None:
    env = {**os.environ, "RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD": PW}
    with held_lock(repo, env, exclusive=True):  # what a running prune or check holds
        res = restic(repo, "backup", "--stdin", "--stdin-filename", "y", stdin=b"more")
        assert res.returncode != 0
        assert classify(res.stderr)[0] is RepoLockedError, res.stderr
    with held_lock(repo, env, exclusive=False):  # what a running backup holds
        for op in (("prune",), ("check",)):
            res = restic(repo, *op)
            assert res.returncode != 0, op
            assert classify(res.stderr)[0] is RepoLockedError, res.stderr
    # The locks go with their holders; the keys are untouched and the repository works again.
    assert restic(repo, "check").returncode == 0


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_disk_full(tiny: Path) -> None:
    r = tiny / "repo"
    assert restic(r, "init").returncode == 0
    res = restic(r, "backup", "--stdin", "--stdin-filename", "big", stdin=os.urandom(12_000_000))
    assert res.returncode != 0
    assert classify(res.stderr)[0] is RepoFullError, res.stderr


def test_corrupt_pack(repo: Path) -> None:
    packs = sorted((repo / "data").rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    biggest = packs[-1]
    biggest.chmod(0o600)
    data = bytearray(biggest.read_bytes())
    data[100:5000] = b"\0" * 4900
    biggest.write_bytes(bytes(data))
    res = restic(repo, "check", "--read-data")
    assert res.returncode != 0
    assert classify(res.stdout + res.stderr)[0] is RepoCorruptError, res.stdout + res.stderr
    dump = restic(repo, "dump", "latest", "/x")
    assert dump.returncode != 0 and classify(dump.stderr)[0] is RepoCorruptError, dump.stderr
