"""The private LAN of the test hosts of one run.

Layout (``P`` = ``zx<run>``, ``S`` = the run's slot, 1..254)::

    root namespace                 switch namespace P"sw"            host namespace P<i>
    P"up" 10.231.S.1/24  <-veth->  "uplink" ─┐
                                        br0 (bridge, no address)
                                   "h<i>" ┘  <-------veth------->   eth0 10.231.S.(10+i)/24

The bridge lives in its own namespace so that this machine's own firewall (Docker sets
the root namespace's FORWARD policy to DROP and bridged frames pass through it when
``br_netfilter`` is loaded) never sees host-to-host traffic. The root namespace only gets
one veth with an address and the connected route; hosts get no default route, so nothing
they run can reach beyond the LAN (an air-gapped VPS).

A slot is claimed by binding the abstract unix socket ``@zixly-vps-slot-S`` (released by
the kernel when the process dies, nothing on disk) and is skipped while any root-namespace
address is inside ``10.231.S.0/24`` (a crashed run not yet cleaned up).
"""

from __future__ import annotations

import contextlib
import socket

from tests.harness.nsproc import delete_netns, root_links, sh

LAN_PREFIX = "10.231"
HOST_OFFSET = 10
MAX_SLOT = 254


def host_address(slot: int, index: int) -> str:
    """LAN address of host *index* (1-based) in *slot*."""
    return f"{LAN_PREFIX}.{slot}.{HOST_OFFSET + index}"


def gateway_address(slot: int) -> str:
    """The root namespace's address on the LAN of *slot*."""
    return f"{LAN_PREFIX}.{slot}.1"


def _addresses_in_use() -> str:
    return sh(["ip", "-4", "-o", "addr", "show"], check=False).stdout


def claim_slot() -> tuple[int, socket.socket]:
    """Claim a free LAN slot; keep the returned socket open as long as the slot is used."""
    used = _addresses_in_use()
    for slot in range(1, MAX_SLOT + 1):
        if f" {LAN_PREFIX}.{slot}." in used:
            continue
        lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            lock.bind(f"\0zixly-vps-slot-{slot}")
        except OSError:
            lock.close()
            continue
        return slot, lock
    raise RuntimeError(f"no free LAN slot in {LAN_PREFIX}.1-{MAX_SLOT}.0/24")


def create_switch(prefix: str, slot: int) -> None:
    """Create the switch namespace ``<prefix>sw`` with its bridge and the root uplink."""
    switch, uplink = f"{prefix}sw", f"{prefix}up"
    sh(["ip", "netns", "add", switch])
    steps: list[list[str]] = [
        ["ip", "-n", switch, "link", "set", "lo", "up"],
        ["ip", "-n", switch, "link", "add", "br0", "type", "bridge"],
        ["ip", "-n", switch, "link", "set", "br0", "up"],
        ["ip", "link", "add", uplink, "type", "veth", "peer", "name", "uplink", "netns",
         switch],
        ["ip", "-n", switch, "link", "set", "uplink", "master", "br0", "up"],
        ["ip", "addr", "add", f"{gateway_address(slot)}/24", "dev", uplink],
        ["ip", "link", "set", uplink, "up"],
    ]
    for argv in steps:
        sh(argv)


def delete_switch(prefix: str) -> None:
    """Remove the uplink and the switch namespace of *prefix* (missing parts are fine)."""
    uplink = f"{prefix}up"
    if uplink in root_links():
        sh(["ip", "link", "del", uplink], check=False)
    delete_netns(f"{prefix}sw")


def create_host_link(prefix: str, name: str, index: int, address: str) -> None:
    """Create host namespace *name* wired to the switch as ``eth0`` with *address*/24."""
    switch = f"{prefix}sw"
    port = f"h{index}"
    sh(["ip", "netns", "add", name])
    steps: list[list[str]] = [
        ["ip", "-n", name, "link", "set", "lo", "up"],
        ["ip", "-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
         "netns", name],
        ["ip", "-n", switch, "link", "set", port, "master", "br0", "up"],
        ["ip", "-n", name, "addr", "add", f"{address}/24", "dev", "eth0"],
        ["ip", "-n", name, "link", "set", "eth0", "up"],
    ]
    for argv in steps:
        sh(argv)


def delete_host_link(name: str, prefix: str | None = None, index: int | None = None) -> None:
    """Delete host namespace *name* and, given *prefix* and *index*, its switch port.

    Deleting a namespace destroys its veth pair only asynchronously (the kernel's netns
    cleanup work runs later), so the switch-side port is deleted explicitly first: a
    destroyed host leaves nothing on the switch the moment this returns.
    """
    if prefix is not None and index is not None:
        sh(["ip", "-n", f"{prefix}sw", "link", "del", f"h{index}"], check=False)
    delete_netns(name)


def release_slot(lock: socket.socket | None) -> None:
    """Give a claimed slot back."""
    if lock is not None:
        with contextlib.suppress(OSError):
            lock.close()
