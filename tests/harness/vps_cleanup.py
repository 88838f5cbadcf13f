"""Remove what test-host runs left behind (see :mod:`tests.harness.vps`).

A run is *stale* when its owner process (recorded in ``STATE_ROOT/zx<run>/owner.json``
with its start time, so a reused PID does not count) is dead or unknown. Only resources
named ``zx<run>…`` are removed, and only processes inside those namespaces or cgroups are
killed: runs of live sessions, and everything not ours, are never touched.
"""

from __future__ import annotations

from tests.harness import vps_build, vps_net
from tests.harness.nsproc import (
    NETNS_DIR,
    PREFIX,
    RUN_ID,
    STATE_ROOT,
    netns_names,
    ns_inode,
    pids_in_cgroup,
    pids_in_ns,
    read_owner,
    remove_cgroups,
    root_links,
    run_is_live,
    run_of,
    run_prefix,
    terminate,
    top_cgroups,
)


def _runs_present() -> set[str]:
    """Run ids that own anything on this machine: state dirs, namespaces, links, cgroups."""
    names: list[str] = list(netns_names()) + root_links() + top_cgroups()
    if STATE_ROOT.is_dir():
        names += [p.name for p in STATE_ROOT.iterdir()]
    return {run for name in names if (run := run_of(name)) is not None}


def cleanup_run(run_id: str) -> None:
    """Remove everything of run *run_id*: its processes, namespaces, veth, cgroups, files.

    Only resources whose names carry ``zx<run_id>`` are touched; processes are killed only
    when they live in one of those namespaces or cgroups.
    """
    prefix = run_prefix(run_id)
    mine = [n for n in netns_names() if run_of(n) == run_id]
    groups = {g for g in top_cgroups() if run_of(g) == run_id}
    pids: list[int] = []
    for name in mine:
        inode = ns_inode(NETNS_DIR / name)
        if inode:
            pids += pids_in_ns("net", inode)
    for group in groups:
        pids += pids_in_cgroup(group)
    terminate(pids, grace=3.0)
    for name in mine:
        if not name.endswith("sw"):
            vps_net.delete_host_link(name)
    vps_net.delete_switch(prefix)
    for group in groups:
        remove_cgroups(group)
    vps_build.remove_tree(STATE_ROOT / prefix)


def cleanup_stale() -> list[str]:
    """Remove the resources of every run whose owner process is dead; return their run ids.

    Runs of live processes (other sessions running now) are never touched.
    """
    stale = sorted(r for r in _runs_present() if r != RUN_ID and not run_is_live(r))
    for run_id in stale:
        cleanup_run(run_id)
    if STATE_ROOT.is_dir():  # half-created run directories of dead owners
        for tmp in STATE_ROOT.glob(f".{PREFIX}*.new"):
            owner = read_owner(tmp)
            if owner is None or not owner.alive():
                vps_build.remove_tree(tmp)
    return stale
