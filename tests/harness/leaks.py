"""Find what a test run left behind on this machine -- every kind of resource, one prefix, one label.

Every test resource of a run carries ONE prefix, ``zx<run>`` (:func:`run_name`, the
``test_prefix`` fixture), or ONE label, ``io.zixly.test.run=<run>`` (:data:`TEST_LABEL`,
:func:`label_args`), whoever creates it -- the harness, the engine tests, the hook tests:

* on this machine's Docker engine: containers, networks, volumes and images whose name,
  compose project or image repository starts with ``zx<run>`` or that carry the label;
* network namespaces, root-namespace links and top-level cgroups named ``zx<run>…``;
* processes living in those namespaces or cgroups, or whose command line mentions
  ``zx<run>`` (the state directory, a temp directory, a container name ...);
* the run's state directory ``STATE_ROOT/zx<run>`` and temp directories ``$TMPDIR/zx<run>-*``
  (:func:`run_tempdir`).

zixly itself names what it deploys after the environment (``zixly-<env>-<app>``,
``zixly-demo-<client>-*``), so the environments a run deploys are *registered*
(:func:`register_env`): from then on every container labelled ``org.zixly.env=<env>`` and every
network and volume named (or compose project) ``zixly-<env>-…`` is the run's too, minus what
already existed when it was registered (a kept ``ZIXLY_E2E_KEEP`` stack is not registered).

Everything else -- pre-existing, or made by other sessions at the same time -- is never
reported nor touched. :func:`snapshot` records these; :func:`leaks` compares two snapshots.
The session fixture ``zixly_leak_guard`` (autouse) does that around the whole session,
removes what it found (:func:`reap`) and fails the run.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
    terminate,
    top_cgroups,
)

TEST_LABEL = "io.zixly.test.run"
ENV_LABEL = "org.zixly.env"  # what zixly labels the containers of an environment with
ENGINE_CATEGORIES = ("containers", "networks", "volumes", "images")
CATEGORIES = (*ENGINE_CATEGORIES, "netns", "links", "cgroups", "processes", "dirs", "tmpdirs")
SETTLE_S = 3.0
_ENVS: dict[str, dict[str, frozenset[str]]] = {}  # registered environment -> its engine items then
_SERVICE_NAMES = ("proxy", *sorted((p.name for p in (Path(__file__).resolve().parents[2] / "services").iterdir()
                                    if p.is_dir()), key=len, reverse=True))


def run_name(part: str, run_id: str = RUN_ID) -> str:
    """``zx<run>-<part>``: the name of a test resource of run *run_id* (container, network, ...)."""
    return f"{run_prefix(run_id)}-{part}"


def label_args(run_id: str = RUN_ID) -> list[str]:
    """``["--label", "io.zixly.test.run=<run>"]`` for ``docker run/create/network create/...``."""
    return ["--label", f"{TEST_LABEL}={run_id}"]


def run_tempdir(kind: str, run_id: str = RUN_ID) -> Path:
    """A new temp directory ``$TMPDIR/zx<run>-<kind>-XXXX`` (outside pytest's ``tmp_path``, which
    pytest removes itself), so a left-over one is found by the guard."""
    return Path(tempfile.mkdtemp(prefix=f"{run_name(kind, run_id)}-"))


def register_env(env: str) -> None:
    """From now on, *env*'s containers, networks and volumes on this machine's engine belong to
    this run (see module doc); what exists of it right now does not."""
    if env not in _ENVS:
        _ENVS[env] = _engine_items(RUN_ID, (env,)) or {}


def registered_envs() -> tuple[str, ...]:
    """The environments registered so far."""
    return tuple(_ENVS)


def env_baseline() -> dict[str, frozenset[str]]:
    """What existed of the registered environments when each was registered, by category."""
    out: dict[str, set[str]] = {}
    for items in _ENVS.values():
        for category, entries in items.items():
            out.setdefault(category, set()).update(entries)
    return {c: frozenset(v) for c, v in out.items()}


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


def _engine_items(run_id: str, envs: Iterable[str] = ()) -> dict[str, frozenset[str]] | None:
    prefix = run_prefix(run_id)
    envs = tuple(envs)
    label = f'{{{{.Label "{TEST_LABEL}"}}}}'
    project = '{{.Label "com.docker.compose.project"}}'
    zenv = f'{{{{.Label "{ENV_LABEL}"}}}}'
    queries = {
        "containers": ("ps", "-a", "--format", f"{{{{.ID}}}}\t{{{{.Names}}}}\t{project}\t{label}\t{zenv}"),
        "networks": ("network", "ls", "--format", f"{{{{.ID}}}}\t{{{{.Name}}}}\t{project}\t{label}\t{zenv}"),
        "volumes": ("volume", "ls", "--format", f"{{{{.Name}}}}\t{{{{.Name}}}}\t{project}\t{label}\t{zenv}"),
        "images": ("image", "ls", "--format", "{{.ID}}\t{{.Repository}}:{{.Tag}}\t\t\t"),
    }
    out: dict[str, frozenset[str]] = {}
    for category, argv in queries.items():
        res = _docker(*argv)
        if res is None:
            return None
        found = set()
        for line in res.stdout.splitlines():
            ident, name, proj, run, env = ([*line.split("\t"), "", "", "", "", ""])[:5]
            ours = name.startswith(prefix) or proj.startswith(prefix) or run == run_id
            if envs and (env in envs or _of_envs(name, envs) or _of_envs(proj, envs)):
                ours = True
            if ours:
                found.add(f"{ident} {name}")
        out[category] = frozenset(found)
    return out


def _of_envs(name: str, envs: tuple[str, ...]) -> bool:
    """True when *name* is what zixly names a network, volume or project of one of *envs*:
    ``zixly-<env>-<service>…`` or ``zixly-<env>-proxy``, the service one of the catalog's -- so
    another environment whose name merely starts with ours (``e2e-x`` vs ``e2e``) is not ours."""
    for env in envs:
        rest = name.removeprefix(f"zixly-{env}-")
        if rest != name and rest.startswith(_SERVICE_NAMES):
            return True
    return False


def _process_items(run_id: str, netns: list[str], cgroups: list[str]) -> frozenset[str]:
    pids: set[int] = set()
    for name in netns:
        inode = ns_inode(NETNS_DIR / name)
        if inode:
            pids.update(pids_in_ns("net", inode))
    for group in cgroups:
        pids.update(pids_in_cgroup(group))
    # the prefix as a word of its own: `/zx<run>/`, `zx<run>-…` (never inside a longer token)
    marker = re.compile(rb"(?<![A-Za-z0-9])" + re.escape(run_prefix(run_id).encode()) + rb"(?=[-/\0]|$)")
    for pid in all_pids():
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as fh:
            if marker.search(fh.read()):
                pids.add(pid)
    return frozenset(describe(p) for p in pids)


def _tmpdirs(run_id: str) -> frozenset[str]:
    return frozenset(str(p) for p in Path(tempfile.gettempdir()).glob(f"{run_prefix(run_id)}-*"))


def snapshot(run_id: str = RUN_ID, envs: Iterable[str] | None = None) -> Snapshot:
    """Record what of run *run_id* exists now (cheap: a few docker calls and /proc); *envs*: the
    zixly environments that count as the run's (default: the registered ones, for this run)."""
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
        "tmpdirs": _tmpdirs(run_id),
    }
    if envs is None:
        envs = registered_envs() if run_id == RUN_ID else ()
    engine = _engine_items(run_id, envs)
    if engine is not None:
        items.update(engine)
    return Snapshot(run_id=run_id, engine=engine is not None, items=items)


def with_items(snap: Snapshot, extra: Mapping[str, frozenset[str]]) -> Snapshot:
    """*snap* with *extra* items added (e.g. what registered environments had beforehand)."""
    items = {c: snap[c] | extra.get(c, frozenset()) for c in CATEGORIES}
    return Snapshot(snap.run_id, snap.engine, items)


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
    """Best-effort removal of leaked things of run *run_id* (only ever ours: *found* lists only
    what carries the run's prefix or label, or belongs to a registered environment)."""
    for category, verb in (("containers", ("rm", "-f", "-v")), ("networks", ("network", "rm")),
                           ("volumes", ("volume", "rm", "-f")), ("images", ("image", "rm", "-f"))):
        ids = [entry.split(" ", 1)[0] for entry in found.get(category, [])]
        if ids:
            _docker(*verb, *ids)
    pids = [int(entry.split(" ", 1)[0]) for entry in found.get("processes", [])]
    if pids:
        terminate(pids, grace=3.0)
    for path in found.get("tmpdirs", []):
        shutil.rmtree(path, ignore_errors=True)
    if any(found.get(c) for c in ("netns", "links", "cgroups", "processes", "dirs")):
        from tests.harness.vps_cleanup import cleanup_run

        cleanup_run(run_id)


@pytest.fixture(scope="session", autouse=True)
def zixly_leak_guard() -> Iterator[Snapshot]:
    """Fail the session when anything of this run is left at its end (then remove it)."""
    before = snapshot()
    yield before
    baseline = with_items(before, env_baseline())
    after = settled_snapshot(baseline)
    found = leaks(baseline, after)
    if found:
        reap(found)
        pytest.fail(format_leaks(found, RUN_ID), pytrace=False)


@pytest.fixture(scope="session")
def test_prefix() -> str:
    """``zx<run>``: start names of containers, compose projects, networks, volumes, images and
    temp directories made with it, so the leak guard can see them (:func:`run_name`)."""
    return run_prefix()
