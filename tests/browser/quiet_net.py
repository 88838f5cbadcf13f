"""A browser that does not see the host's network churn: Chromium in a network namespace of its own.

Chromium aborts requests with ``net::ERR_NETWORK_CHANGED`` whenever the machine's network
interfaces change -- even requests to a loopback address -- and a Docker engine that other
stacks share adds and removes bridges and veths several times a second. In its own network
namespace, joined to this host by one veth pair, the browser sees no such change.

:func:`quiet_namespace` makes the namespace (``10.253.N.0/30``: host side ``.1``, browser side
``.2``) and a wrapper script that runs ``/usr/bin/chromium`` inside it (Playwright talks to
the browser over a pipe, so that works across namespaces). :func:`userland_proxy` runs
Docker's own ``docker-proxy`` -- what every published port goes through -- from an address
the browser reaches to a target (the edge's published port, or a container). Everything is
removed when the blocks end. Needs root, ``ip``, ``nsenter`` and ``docker-proxy``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.browser import pages

DOCKER_PROXY = ("docker-proxy", "/usr/sbin/docker-proxy", "/usr/bin/docker-proxy", "/usr/libexec/docker/docker-proxy")


def missing_tools() -> list[str]:
    """What this module needs and this machine lacks (empty: usable)."""
    out = [tool for tool in ("ip", "nsenter") if shutil.which(tool) is None]
    if _docker_proxy() is None:
        out.append("docker-proxy (Debian package docker.io)")
    if os.geteuid() != 0:
        out.append("root (to create a network namespace)")
    return out


def _docker_proxy() -> str | None:
    for cand in DOCKER_PROXY:
        found = shutil.which(cand)
        if found:
            return found
    return None


@dataclass(frozen=True)
class QuietNet:
    """A namespace for the browser: its name, the host end's address, the Chromium wrapper."""

    name: str
    host_ip: str
    chromium: Path


def _ip(*args: str) -> None:
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {res.stderr.strip()}")


def _sysctl(netns: str, *settings: str) -> None:
    res = subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-q", "-w", *settings],
                         capture_output=True, text=True, timeout=30, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"sysctl {' '.join(settings)} in {netns}: {res.stderr.strip()}")


@contextlib.contextmanager
def quiet_namespace(tmp: Path) -> Iterator[QuietNet]:
    """A network namespace with a veth pair to this host and a Chromium wrapper (in *tmp*)."""
    tag = os.getpid() % 100000
    name = f"zxbrw{tag}"
    host_if, ns_if = f"zxbrw{tag}h", f"zxbrw{tag}n"
    octet = 16 + tag % 200
    host_ip, ns_ip = f"10.253.{octet}.1", f"10.253.{octet}.2"
    _ip("netns", "add", name)
    try:
        # No IPv6 in the namespace: a veth's link-local address turns from "tentative" to settled
        # a second or two after the link comes up, and Chromium takes that for a network change
        # (a first page load once aborted all 455 of n8n's asset requests with ERR_NETWORK_CHANGED).
        _sysctl(name, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _sysctl(name, f"net.ipv6.conf.{ns_if}.disable_ipv6=1")
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        wrapper = tmp / "chromium-in-netns"
        wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/run/netns/{name} {pages.CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        yield QuietNet(name, host_ip, wrapper)
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30, check=False)


@contextlib.contextmanager
def userland_proxy(listen: str, port: int, target: str, target_port: int | None = None,
                   netns: str = "") -> Iterator[None]:
    """``docker-proxy`` from *listen*:*port* to *target*:*target_port* (inside *netns* when given)."""
    binary = _docker_proxy()
    if binary is None:
        raise RuntimeError("docker-proxy not found")
    prefix = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
    ready_r, ready_w = os.pipe()  # like dockerd: fd 3 of the proxy gets "0" once it listens
    proc = subprocess.Popen(
        [*prefix, binary, "-proto", "tcp", "-host-ip", listen, "-host-port", str(port),
         "-container-ip", target, "-container-port", str(target_port or port)],
        pass_fds=(3,), preexec_fn=lambda: os.dup2(ready_w, 3), stderr=subprocess.DEVNULL,
    )
    os.close(ready_w)
    try:
        with os.fdopen(ready_r) as ready:
            answer = ready.read(1)
        if answer != "0":
            proc.kill()
            raise RuntimeError(f"docker-proxy could not listen on {listen}:{port} (exit {proc.wait(timeout=10)})")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)
