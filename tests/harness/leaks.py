"""Find what a test run left behind on this machine.

What counts as *ours* (everything else, pre-existing or made by other sessions running at
the same time, is never reported nor touched):

* on this machine's Docker engine (when one answers): containers, networks, volumes and
  images whose name, compose project or image repository starts with the run prefix
  ``zx<run>`` (the ``test_prefix`` fixture) or that carry the label
  ``io.zixly.test.run=<run>`` (:data:`TEST_LABEL`);
* network namespaces, root-namespace links and top-level cgroups named ``zx<run>…``;
* processes living in those namespaces or cgroups, or whose command line mentions the
  run's state directory;
* the run's state directory ``STATE_ROOT/zx<run>`` and what is in it.

:func:`snapshot` records these; :func:`assert_no_leaks` compares two snapshots and raises
``AssertionError`` listing what appeared. The session fixture ``zixly_leak_guard``
(autouse) does that around the whole session, removes what it found, and fails.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pytest

from tests.harness.nsproc import (
    NETNS_DIR,
    RUN_ID,
    STATE_ROOT,
    all_pids,
    describe,
    netns_names,
    ns_inode,
    pids_in_cgroup,
    pids_in_ns,
    root_links,
    run_of,
    run_prefix,
    top_cgroups,
)

TEST_LABEL = "io.zixly.test.run"
ENGINE_CATEGORIES = ("containers", "networks", "volumes", "images")
CATEGORIES = (*ENGINE_CATEGORIES, "netns", "links", "cgroups", "processes", "dirs")
SETTLE_S = 3.0


@dataclass(frozen=True)
class Snapshot:
    """What of run *run_id* exists at one moment, by category (see :data:`CATEGORIES`).

    ``engine`` says whether this machine's engine answered (else the engine categories
    are empty because unknown, not because clean).
    """

    run_id: str
    engine: bool
    items: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __getitem__(self, category: str) -> frozenset[str]:
        return self.items.get(category, frozenset())


def _docker(*args: str) -> subprocess.CompletedProcess[str] | None:
    """Run the machine's docker client; None when no client/engine answers."""
    try:
        from zixly_stack.engine import docker_argv, docker_env

        argv, env = docker_argv(), docker_env()
    except ImportError:
        argv, env = ["docker"], None
    try:
        res = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60,
                             env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res if res.returncode == 0 else None


def _engine_items(run_id: str) -> dict[str, frozenset[str]] | None:
    prefix = run_prefix(run_id)
    label = f'{{{{.Label "{TEST_LABEL}"}}}}'
    project = '{{.Label "com.docker.compose.project"}}'
    queries = {
        "containers": ("ps", "-a", "--format", f"{{{{.ID}}}}\t{{{{.Names}}}}\t{project}\t{label}"),
        "networks": ("network", "ls", "--format", f"{{{{.ID}}}}\t{{{{.Name}}}}\t{project}\t{label}"),
        "volumes": ("volume", "ls", "--format", f"{{{{.Name}}}}\t{{{{.Name}}}}\t{project}\t{label}"),
        "images": ("image", "ls", "--format", "{{.ID}}\t{{.Repository}}:{{.Tag}}\t\t"),
    }
    out: dict[str, frozenset[str]] = {}
    for category, argv in queries.items():
        res = _docker(*argv)
        if res is None:
            return None
        found = set()
        for line in res.stdout.splitlines():
            ident, name, proj, run = ([*line.split("\t"), "", "", "", ""])[:4]
            if name.startswith(prefix) or proj.startswith(prefix) or run == run_id:
                found.add(f"{ident} {name}")
        out[category] = frozenset(found)
    return out


def _process_items(run_id: str, netns: list[str], cgroups: list[str]) -> frozenset[str]:
    pids: set[int] = set()
    for name in netns:
        inode = ns_inode(NETNS_DIR / name)
        if inode:
            pids.update(pids_in_ns("net", inode))
    for group in cgroups:
        pids.update(pids_in_cgroup(group))
    marker = str(STATE_ROOT / run_prefix(run_id)).encode()
    for pid in all_pids():
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as fh:
            if marker in fh.read():
                pids.add(pid)
    return frozenset(describe(p) for p in pids)


def snapshot(run_id: str = RUN_ID) -> Snapshot:
    """Record what of run *run_id* exists now (cheap: a few docker calls and /proc)."""
    netns = [n for n in netns_names() if run_of(n) == run_id]
    cgroups = [g for g in top_cgroups() if run_of(g) == run_id]
    run_dir = STATE_ROOT / run_prefix(run_id)
    dirs = ({str(run_dir)} | {str(p) for p in run_dir.iterdir()}) if run_dir.is_dir() else set()
    items: dict[str, frozenset[str]] = {
        "netns": frozenset(netns),
        "links": frozenset(n for n in root_links() if run_of(n) == run_id),
        "cgroups": frozenset(cgroups),
        "processes": _process_items(run_id, netns, cgroups),
        "dirs": frozenset(dirs),
    }
    engine = _engine_items(run_id)
    if engine is not None:
        items.update(engine)
    return Snapshot(run_id=run_id, engine=engine is not None, items=items)


def leaks(before: Snapshot, after: Snapshot) -> dict[str, list[str]]:
    """What appeared between *before* and *after*, by category (empty dict: nothing)."""
    found: dict[str, list[str]] = {}
    for category in CATEGORIES:
        base = before[category]
        if category in ENGINE_CATEGORIES:
            if not after.engine:
                continue  # unknown now: cannot tell
            if not before.engine:
                base = frozenset()
        new = sorted(after[category] - base)
        if new:
            found[category] = new
    return found


def format_leaks(found: Mapping[str, list[str]], run_id: str) -> str:
    """A readable report of *found* (from :func:`leaks`)."""
    lines = [f"test resources left behind by run {run_prefix(run_id)}:"]
    for category, entries in found.items():
        lines.append(f"  {category}:")
        lines += [f"    + {entry}" for entry in entries]
    return "\n".join(lines)


def assert_no_leaks(before: Snapshot, after: Snapshot) -> None:
    """Raise ``AssertionError`` listing everything of the run that appeared since *before*."""
    found = leaks(before, after)
    if found:
        raise AssertionError(format_leaks(found, after.run_id))


def settled_snapshot(before: Snapshot, timeout: float = SETTLE_S) -> Snapshot:
    """Snapshot again until nothing new is left or *timeout* passes (namespace removal is
    asynchronous in the kernel)."""
    deadline = time.monotonic() + timeout
    while True:
        after = snapshot(before.run_id)
        if not leaks(before, after) or time.monotonic() > deadline:
            return after
        time.sleep(0.1)


def reap(found: Mapping[str, list[str]], run_id: str = RUN_ID) -> None:
    """Best-effort removal of leaked things of run *run_id* (only ever ours)."""
    for category, verb in (("containers", ("rm", "-f", "-v")), ("networks", ("network", "rm")),
                           ("volumes", ("volume", "rm", "-f")), ("images", ("image", "rm", "-f"))):
        ids = [entry.split(" ", 1)[0] for entry in found.get(category, [])]
        if ids:
            _docker(*verb, *ids)
    if any(found.get(c) for c in ("netns", "links", "cgroups", "processes", "dirs")):
        from tests.harness.vps_cleanup import cleanup_run

        cleanup_run(run_id)


@pytest.fixture(scope="session", autouse=True)
def zixly_leak_guard() -> Iterator[Snapshot]:
    """Fail the session when anything of this run is left at its end (then remove it)."""
    before = snapshot()
    yield before
    after = settled_snapshot(before)
    found = leaks(before, after)
    if found:
        reap(found)
        pytest.fail(format_leaks(found, RUN_ID), pytrace=False)


@pytest.fixture(scope="session")
def test_prefix() -> str:
    """``zx<run>``: start names of containers, compose projects, networks, volumes and
    images made on this machine's engine with it, so the leak guard can see them."""
    return run_prefix()
