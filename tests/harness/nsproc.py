"""Low-level helpers shared by the test-host harness and the leak checker.

Everything the harness creates on this machine carries the prefix ``zx`` followed by a
four-hex-digit run id (``RUN_ID`` for this process): network namespaces ``zx<run><i>``
(hosts) and ``zx<run>sw`` (the switch), the root-namespace veth ``zx<run>up``, cgroup
parents ``/zx<run><i>`` and the state directory ``STATE_ROOT/zx<run>``. Matching a
resource to a run is a fixed-width prefix test, so one run never claims another's.

Process helpers work from ``/proc`` only and act on explicit PIDs: a process counts as
ours when it lives in one of our network namespaces, mount namespaces or cgroups.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
PREFIX = "zx"
RUN_ID_ENV = "ZIXLY_TEST_RUN_ID"
STATE_ROOT = Path(os.environ.get("ZIXLY_VPS_ROOT", "/var/tmp/zixly-vps"))
NETNS_DIR = Path("/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
NAME_RE = re.compile(rf"^{PREFIX}(?P<run>[0-9a-f]{{4}})(?P<part>\d+|sw|up)?$")
OWNER_FILE = "owner.json"


def _run_id() -> str:
    """This process's run id: random, or ``$ZIXLY_TEST_RUN_ID`` (4 hex digits) for the
    harness's own tests, which run a child session and then inspect what it left."""
    wanted = os.environ.get(RUN_ID_ENV, "")
    return wanted if re.fullmatch(r"[0-9a-f]{4}", wanted) else secrets.token_hex(2)


RUN_ID: str = _run_id()


def run_prefix(run_id: str = RUN_ID) -> str:
    """``zx<run>``: the prefix of every resource of run *run_id*."""
    return f"{PREFIX}{run_id}"


def run_of(name: str) -> str | None:
    """The run id encoded in a harness resource *name* (``zx<run>[<i>|sw|up]``), else None."""
    match = NAME_RE.match(name)
    return match.group("run") if match else None


def sh(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0,
       input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run *argv* (never a shell string) capturing text; raise with stderr when *check* fails."""
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                         input=input_text, check=False)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return res


# --- processes -------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (read once), None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def start_time(pid: int) -> int | None:
    """Kernel start time (clock ticks since boot) of *pid*, None when it is gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def alive(pid: int, started: int | None = None) -> bool:
    """True when *pid* runs and is not a zombie (and, given *started*, is the same process,
    not a reused PID)."""
    fields = _stat_fields(pid)
    if not fields or fields[0] == "Z":
        return False
    return started is None or int(fields[19]) == started


def all_pids() -> list[int]:
    """Every PID visible in /proc."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def ns_inode(path: str | Path) -> int | None:
    """Inode of a namespace file (``/run/netns/X`` or ``/proc/PID/ns/net``), None if absent."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def pids_in_ns(kind: str, inode: int) -> list[int]:
    """PIDs whose ``/proc/PID/ns/<kind>`` (``net`` or ``mnt``) is namespace *inode*."""
    return [pid for pid in all_pids() if ns_inode(f"/proc/{pid}/ns/{kind}") == inode]


def cgroup_dirs(parent: str) -> list[Path]:
    """Existing cgroup directories named *parent* at the top of every v1/v2 hierarchy."""
    if not CGROUP_ROOT.is_dir():
        return []
    out = [ctrl / parent for ctrl in CGROUP_ROOT.iterdir() if (ctrl / parent).is_dir()]
    if (CGROUP_ROOT / parent).is_dir():
        out.append(CGROUP_ROOT / parent)
    return out


def pids_in_cgroup(parent: str) -> list[int]:
    """PIDs in cgroup *parent* or below, in any hierarchy."""
    pids: set[int] = set()
    for top in cgroup_dirs(parent):
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(x) for x in procs.read_text().split())
    return sorted(pids)


def remove_cgroups(parent: str) -> None:
    """rmdir cgroup *parent* and its children (deepest first) in every hierarchy."""
    for top in cgroup_dirs(parent):
        # os.walk skips a directory that vanishes while it walks (a test host's dockerd removing its
        # container's cgroup right now); Path.rglob raised FileNotFoundError and stopped the cleanup
        for here, dirs, _files in os.walk(top, topdown=False):
            for name in dirs:
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(here, name))
        with contextlib.suppress(OSError):
            top.rmdir()


def terminate(pids: Iterable[int], *, grace: float = 5.0) -> list[int]:
    """SIGTERM *pids*, wait up to *grace* seconds, SIGKILL what is left, wait again.

    Returns the PIDs still alive afterwards (normally none).
    """
    targets = [p for p in set(pids) if p > 1 and p != os.getpid()]
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            targets = [p for p in targets if alive(p)]
            if not targets:
                return []
            time.sleep(0.02)
    return targets


def describe(pid: int) -> str:
    """``PID cmdline`` for reports (cmdline cut to 160 chars)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"{pid} (gone)"
    cmd = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return f"{pid} {cmd[:160]}"


# --- network namespaces and links ------------------------------------------------------


def netns_names() -> list[str]:
    """Names under /run/netns (what ``ip netns list`` shows)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except OSError:
        return []


def root_links() -> list[str]:
    """Interface names in the root network namespace (``ip -o link`` without ``@peer``)."""
    try:
        return sorted(os.listdir("/sys/class/net"))
    except OSError:
        return []


def delete_netns(name: str) -> None:
    """``ip netns del NAME``; silent when it does not exist."""
    if (NETNS_DIR / name).exists():
        sh(["ip", "netns", "del", name], check=False)


# --- run ownership ---------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """The process that owns a run: its PID and kernel start time (guards PID reuse)."""

    pid: int
    started: int

    def alive(self) -> bool:
        """True while the owning process still runs."""
        return alive(self.pid, self.started)


def write_owner(run_dir: Path) -> Owner:
    """Record this process as the owner of *run_dir*."""
    started = start_time(os.getpid())
    assert started is not None
    owner = Owner(os.getpid(), started)
    (run_dir / OWNER_FILE).write_text(json.dumps({"pid": owner.pid, "started": owner.started}))
    return owner


def read_owner(run_dir: Path) -> Owner | None:
    """The recorded owner of *run_dir*, None when missing or unreadable."""
    try:
        data = json.loads((run_dir / OWNER_FILE).read_text())
        return Owner(int(data["pid"]), int(data["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_is_live(run_id: str) -> bool:
    """True when run *run_id* has a state directory whose owner process still runs."""
    owner = read_owner(STATE_ROOT / run_prefix(run_id))
    return owner is not None and owner.alive()


def top_cgroups() -> list[str]:
    """Names of top-level cgroups carrying our prefix, in any hierarchy (deduplicated)."""
    names: set[str] = set()
    if not CGROUP_ROOT.is_dir():
        return []
    for ctrl in CGROUP_ROOT.iterdir():
        with contextlib.suppress(OSError):
            names.update(p.name for p in ctrl.iterdir() if p.is_dir() and p.name.startswith(PREFIX))
    return sorted(names)


def in_netns(netns: str | Path, fn: Callable[[], T]) -> T:
    """Run *fn* in a short-lived thread that has joined network namespace *netns* (a path
    such as ``/run/netns/NAME``); return its result or re-raise its exception.

    Only that thread changes namespace, so sockets *fn* opens live in *netns* while the
    rest of the process stays where it is.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    result: list[T] = []
    errors: list[BaseException] = []

    def body() -> None:
        try:
            fd = os.open(netns, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=body, name="zixly-netns")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]
