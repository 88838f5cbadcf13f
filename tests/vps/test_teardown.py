"""Nothing of the test hosts is left: after ``destroy``, after a whole child session, and
after a run that crashed (cleaned up by the next run's ``cleanup_stale``)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.leaks import snapshot
from tests.harness.nsproc import (
    RUN_ID,
    RUN_ID_ENV,
    alive,
    cgroup_dirs,
    netns_names,
    pids_in_cgroup,
    pids_in_ns,
    sh,
)
from tests.harness.vps import VpsHost, VpsPool, cleanup_run, cleanup_stale

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parents[2]


def _other_run_id() -> str:
    while (run_id := secrets.token_hex(2)) == RUN_ID:
        pass
    return run_id


def _traces(run_id: str) -> dict[str, list[str]]:
    """Everything of run *run_id* that exists now, by category (empty: nothing at all)."""
    snap = snapshot(run_id)
    return {category: sorted(items) for category, items in snap.items.items() if items}


def test_destroying_a_host_leaves_nothing(vps_pool: VpsPool, vps: list[VpsHost],
                                          tiny_image: str, request: pytest.FixtureRequest) -> None:
    host = vps_pool.fresh(1)[0]
    host.load_image(tiny_image, source=vps[0].docker_host)
    host.docker("run", "-d", "--name", "web", tiny_image, check=True)
    daemons = [p for p in host.pids().values() if p]
    in_container = pids_in_cgroup(host.name)
    assert len(daemons) == 2 and in_container, "sshd, dockerd and the container must run"

    started = time.monotonic()
    vps_pool.destroy([host])
    request.node.user_properties.append(("destroy_one_host_s", time.monotonic() - started))

    assert not [p for p in daemons + in_container if alive(p)]
    assert host.name not in netns_names()
    assert not pids_in_ns("net", host.netns_inode) and not pids_in_ns("mnt", host.mntns_inode)
    assert not cgroup_dirs(host.name)
    assert not host.dir.exists()
    switch_ports = sh(["ip", "-n", f"{vps_pool.prefix}sw", "-o", "link"]).stdout
    assert f" h{host.index}@" not in switch_ports


def test_a_whole_child_session_leaves_nothing(tmp_path: Path) -> None:
    run_id = _other_run_id()
    env = {**os.environ, RUN_ID_ENV: run_id}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'child'}",
         "tests/vps/test_hosts.py::test_each_host_runs_its_own_engine",
         "tests/vps/test_containers.py::test_a_published_port_is_reachable_only_inside_its_host"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    try:
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        assert "2 passed" in res.stdout
        assert _traces(run_id) == {}
    finally:
        cleanup_run(run_id)


def test_a_crashed_run_is_removed_by_cleanup_stale(tinyhttpd_binary: Path) -> None:
    run_id = _other_run_id()
    env = {**os.environ, RUN_ID_ENV: run_id}
    try:
        res = subprocess.run([sys.executable, "-m", "tests.vps.crashed_run", str(tinyhttpd_binary)],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                             check=False)
        assert res.returncode == -9 and "ready" in res.stdout, res.stderr[-2000:]
        left = _traces(run_id)
        assert {"netns", "links", "cgroups", "processes", "dirs"} <= left.keys(), left
        assert pids_in_cgroup(f"zx{run_id}1"), "the orphaned container must still run"

        assert run_id in cleanup_stale()
        assert _traces(run_id) == {}
    finally:
        cleanup_run(run_id)


def test_the_session_guard_fails_a_run_that_leaves_anything(tmp_path: Path) -> None:
    """A child session whose only test leaves a temp directory and a volume passes its test but
    FAILS as a run, naming both; the guard removed them."""
    run_id = _other_run_id()
    env = {**os.environ, RUN_ID_ENV: run_id}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'child'}",
         "tests/vps/leaky_session.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    try:
        out = res.stdout + res.stderr
        assert res.returncode == 1 and "1 passed, 1 error" in out, out[-3000:]
        assert f"test resources left behind by run zx{run_id}:" in out
        assert "  tmpdirs:" in out and "  volumes:" in out and f"zx{run_id}-leaked-vol" in out
        assert _traces(run_id) == {}, "the guard removed what it reported"
    finally:
        cleanup_run(run_id)
