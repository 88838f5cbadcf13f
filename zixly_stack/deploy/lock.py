"""The per-host deploy lock: ``<base>/<env>/.lock/`` created with ``mkdir`` (atomic).

Contract
--------
* :func:`acquire` creates the lock directory and writes ``owner`` (JSON: owner, machine,
  pid, since, command, token). When the directory exists the lock is held: the holder is
  returned, nothing is changed.
* A lock is *stale* when its holder ran on this machine and its pid is gone (a deploy
  killed, or an SSH connection cut mid-deploy). A stale lock is reclaimed automatically;
  any other held lock is refused unless ``break_lock`` is given (``--break-lock``).
* :func:`release` removes the lock only if it still carries our token, so a lock broken
  and retaken by someone else is never removed by us.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import shlex
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from ..plan.facts import LockInfo, parse_lock
from ..plan.paths import EnvPaths
from ..runner.connect import run

ACQUIRED = "zixly-lock-acquired"
HELD = "zixly-lock-held"


@dataclass(frozen=True)
class LockResult:
    """Outcome of :func:`acquire`: ``held_by`` is None when the lock is ours."""

    token: str
    held_by: LockInfo | None = None
    reclaimed: LockInfo | None = None
    error: str = ""
    then_output: str = ""  # what the ``then`` script printed once the lock was ours

    @property
    def ok(self) -> bool:
        """True when we hold the lock."""
        return self.held_by is None and not self.error


def owner_doc(command: str, token: str) -> dict[str, Any]:
    """What the owner file says about us."""
    return {
        "owner": _user(),
        "machine": socket.gethostname(),
        "pid": os.getpid(),
        "since": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": command,
        "token": token,
    }


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def acquire_script(paths: EnvPaths, doc: dict[str, Any], then: str = "") -> str:
    """``mkdir`` the lock and write the owner (then run *then*, in the same round trip), or print who holds it."""
    body = json.dumps(doc, sort_keys=True)
    lock, owner = shlex.quote(paths.lock_dir), shlex.quote(paths.lock_owner)
    script = (
        f"{shlex.join(['mkdir', '-p', '-m', '0711', paths.root])} && "
        f"if mkdir -m 0700 {lock} 2>/dev/null; then "
        f"printf '%s\\n' {shlex.quote(body)} > {owner} && echo {ACQUIRED} && zixly_locked=1; "
        f"else echo {HELD}; cat {owner} 2>/dev/null; echo; fi"
    )
    if then:
        script += f'\nif [ "${{zixly_locked:-}}" = 1 ]; then\n{then}\nfi'
    return script


def release_script(paths: EnvPaths, token: str) -> str:
    """Remove the lock if it still carries *token*."""
    owner = shlex.quote(paths.lock_owner)
    return f"if grep -qF {shlex.quote(token)} {owner} 2>/dev/null; then rm -rf {shlex.quote(paths.lock_dir)}; fi"


def break_script(paths: EnvPaths) -> str:
    """Remove the lock whoever holds it."""
    return shlex.join(["rm", "-rf", "--", paths.lock_dir])


def is_stale(info: LockInfo) -> bool:
    """Held by a process of this machine that no longer exists."""
    if info.machine != socket.gethostname() or info.pid <= 0:
        return False
    if info.pid == os.getpid():
        return False
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(host: Any, paths: EnvPaths, command: str, *, break_lock: bool = False, then: str = "") -> LockResult:
    """Take the lock on *host* (see module doc); *then* runs right after, in the same round trip."""
    token = uuid.uuid4().hex
    reclaimed: LockInfo | None = None
    for _ in range(2):
        res = run(host, acquire_script(paths, owner_doc(command, token), then), timeout=120)
        if ACQUIRED not in res.stdout and HELD not in res.stdout:
            return LockResult(token, error=(res.stderr or res.stdout).strip() or "cannot create the lock")
        if ACQUIRED in res.stdout:
            return LockResult(token, reclaimed=reclaimed, then_output=res.stdout.split(ACQUIRED, 1)[1])
        info = parse_lock(res.stdout.split(HELD, 1)[1]) or LockInfo("unknown", "unknown", 0, "unknown")
        if reclaimed is not None or not (break_lock or is_stale(info)):
            return LockResult(token, held_by=info)
        reclaimed = info
        run(host, break_script(paths), timeout=30)
    return LockResult(token, error="could not take the lock")


def release(host: Any, paths: EnvPaths, token: str) -> bool:
    """Give the lock back (only ours); False when the host could not be reached."""
    return run(host, release_script(paths, token), timeout=30).ok
