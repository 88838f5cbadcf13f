"""Hold a real restic lock for as long as a test needs it, with no race.

A paused ``restic check`` is not good enough: the pause can land while the lock file is still
being written, and restic ignores a lock it cannot decode (CI failed on exactly that). Instead the
holder is a restic command that takes its lock and then *waits on stdin*:

- exclusive: ``restic key passwd`` takes an exclusive lock, then reads the new password. We never
  write one; closing stdin makes it fail with "an empty password is not a password", so the
  repository's keys are untouched.
- shared: ``restic backup --stdin`` takes a non-exclusive lock, then reads the data to back up.
  Closing stdin ends it; it saves a snapshot of one empty file.

The lock is only handed to the test once restic itself can decode it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

HOLDERS = {True: ["restic", "key", "passwd"], False: ["restic", "backup", "--stdin", "--stdin-filename", "held"]}


@contextmanager
def held_lock(repo: Path, env: Mapping[str, str], *, exclusive: bool, timeout: float = 60) -> Iterator[str]:
    """Yield the id of a complete lock file in the local repository ``repo``."""
    holder = subprocess.Popen(HOLDERS[exclusive], env=dict(env), stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert holder.stdin is not None
    try:
        deadline = time.monotonic() + timeout
        while (lock := _complete_lock(repo, env)) is None:
            assert holder.poll() is None, f"{HOLDERS[exclusive]} ended before it took a lock"
            assert time.monotonic() < deadline, f"{HOLDERS[exclusive]} took no lock in {timeout:.0f} s"
            time.sleep(0.05)
        yield lock
    finally:
        holder.stdin.close()
        holder.wait(timeout=120)
    assert not (repo / "locks" / lock).exists(), "the holder left its lock behind"


def _complete_lock(repo: Path, env: Mapping[str, str]) -> str | None:
    locks = repo / "locks"
    for entry in sorted(locks.iterdir()) if locks.is_dir() else []:
        res = subprocess.run(["restic", "cat", "lock", entry.name, "--no-lock"], env=dict(env),
                             capture_output=True, check=False)
        if res.returncode == 0:
            return entry.name
    return None
