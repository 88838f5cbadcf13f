"""Images onto hosts without a registry: ``docker save`` here, ``docker load`` there, over the deploy connection.

Contract
--------
* :func:`transfer` streams one ``docker save`` of all *refs* (shared layers travel once)
  from this machine's engine into ``docker load`` on an SSH host, through a channel of
  the host's existing pyinfra/paramiko connection: no registry, no second login.
* :func:`provide` carries out a plan's image changes before anything is stopped: loads
  (offline kit / air-gapped hosts), pulls (registries), and refuses ``build`` actions
  (the deployer's own engine lacks an image: ``zixly up`` builds the kit first).
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..commands import docker as dk
from ..plan.model import ImageChange
from .connect import run

CHUNK = 1 << 20


@dataclass(frozen=True)
class TransferResult:
    """How a transfer went."""

    ok: bool
    refs: tuple[str, ...]
    bytes: int
    seconds: float
    message: str = ""


def local_image_ids(refs: Sequence[str]) -> dict[str, str]:
    """``ref -> image id`` for the refs this machine's engine holds."""
    from ..engine import docker

    out: dict[str, str] = {}
    if not refs:
        return out
    res = docker("image", "inspect", "--format", "{{.Id}}", *refs, timeout=120)
    if res.returncode == 0:
        ids = res.stdout.split()
        if len(ids) == len(refs):
            return dict(zip(refs, ids, strict=True))
    for ref in refs:  # some are missing: ask one by one
        one = docker("image", "inspect", "--format", "{{.Id}}", ref, timeout=60)
        if one.returncode == 0 and one.stdout.strip():
            out[ref] = one.stdout.strip()
    return out


def _remote_load_argv(host: Any) -> list[str]:
    argv = dk.image_load()
    if host.data.get("_sudo"):
        argv = ["sudo", "-n", *argv]
    return argv


def transfer(host: Any, refs: Sequence[str], say: Callable[[str], None] = lambda _: None) -> TransferResult:
    """Stream ``docker save REFS`` from this machine into ``docker load`` on SSH *host*."""
    from ..engine import docker_argv, docker_env

    start = time.monotonic()
    refs = tuple(sorted(set(refs)))
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is None:
        return TransferResult(False, refs, 0, 0.0, "no SSH transport to this host")
    missing = [r for r in refs if r not in local_image_ids(refs)]
    if missing:
        return TransferResult(False, refs, 0, 0.0, "not in this machine's engine: " + ", ".join(missing))
    say(f"loading {len(refs)} image(s) over SSH: {', '.join(refs)}")
    save = subprocess.Popen(
        [*docker_argv(), *dk.image_save(refs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=docker_env()
    )
    assert save.stdout is not None and save.stderr is not None
    chan = transport.open_session()
    sent = 0
    try:
        chan.exec_command(shlex.join(_remote_load_argv(host)))
        while True:
            chunk = save.stdout.read(CHUNK)
            if not chunk:
                break
            chan.sendall(chunk)
            sent += len(chunk)
        chan.shutdown_write()
        status = chan.recv_exit_status()
        out = _drain(chan)
    finally:
        save.stdout.close()
        save_err = save.stderr.read().decode(errors="replace")
        save.wait()
        chan.close()
    took = time.monotonic() - start
    if save.returncode != 0:
        return TransferResult(False, refs, sent, took, f"docker save failed: {save_err.strip()[-300:]}")
    if status != 0:
        return TransferResult(False, refs, sent, took, f"docker load failed on the host: {out.strip()[-300:]}")
    return TransferResult(True, refs, sent, took, f"loaded {len(refs)} image(s), {sent / 1e6:.0f} MB in {took:.0f}s")


def _drain(chan: Any) -> str:
    parts = []
    while chan.recv_ready():
        parts.append(chan.recv(65536))
    while chan.recv_stderr_ready():
        parts.append(chan.recv_stderr(65536))
    return b"".join(parts).decode(errors="replace")


def provide(host: Any, images: Sequence[ImageChange], *, local: bool, say: Callable[[str], None]) -> tuple[bool, str]:
    """Carry out image changes (see module doc); returns (ok, message)."""
    builds = [i.ref for i in images if i.action == "build"]
    if builds:
        return False, (
            "images missing from this machine's engine: "
            + ", ".join(builds)
            + " (`zixly up` builds the offline kit; or `python -m zixly_stack.images build`)"
        )
    messages = []
    loads = [i.ref for i in images if i.action == "load"]
    if loads:
        if local:
            return False, "cannot load images into this machine's own engine: " + ", ".join(loads)
        res = transfer(host, loads, say)
        if not res.ok:
            return False, res.message
        messages.append(res.message)
    for i in images:
        if i.action == "pull":
            say(f"pulling {i.ref}")
            pulled = run(host, shlex.join(["docker", "pull", "--quiet", i.ref]), timeout=1800)
            if not pulled.ok:
                return False, f"docker pull {i.ref} failed: {pulled.stderr.strip()[-300:]}"
            messages.append(f"pulled {i.ref}")
    return True, "; ".join(messages)
