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

import contextlib
import gzip
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..commands import docker as dk
from ..plan.model import ImageChange
from ..progress import reporter
from ..runner import LocalRunner, Runner, feed, relay
from ..runner.connect import runner_for

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
    out: dict[str, str] = {}
    if not refs:
        return out
    here = LocalRunner()
    res = here.run(dk.image_ids(refs), timeout=120, read=True)
    if res.ok:
        ids = res.out.split()
        if len(ids) == len(refs):
            return dict(zip(refs, ids, strict=True))
    for ref in refs:  # some are missing: ask one by one
        one = here.run(dk.image_ids([ref]), timeout=60, read=True)
        if one.ok and one.out.strip():
            out[ref] = one.out.strip()
    return out


def transfer(
    host: Any, refs: Sequence[str], say: Callable[[str], None] = lambda _: None, *, from_file: Path | None = None
) -> TransferResult:
    """Stream ``docker save REFS`` from this machine (or a saved tar, ``.gz`` ok) into ``docker load`` on SSH *host*."""
    start = time.monotonic()
    refs = tuple(sorted(set(refs)))
    target: Runner = runner_for(host)
    sent = [0]
    if from_file is None:
        missing = [r for r in refs if r not in local_image_ids(refs)]
        if missing:
            return TransferResult(False, refs, 0, 0.0, "not in this machine's engine: " + ", ".join(missing))
    with reporter().task(f"images {host.name}: docker load over SSH") as task:

        def count(chunk: bytes) -> None:
            sent[0] += len(chunk)
            task.set_bytes(sent[0], None, "sent")

        if from_file is not None:
            say(f"loading {from_file.name} over SSH")
            with contextlib.closing(_open_tar(from_file)) as fh:
                loaded = feed(target, dk.image_load(), iter(lambda: fh.read(CHUNK), b""), progress=count)
            saved_err = ""
        else:
            say(f"loading {len(refs)} image(s) over SSH: {', '.join(refs)}")
            saved, loaded = relay(LocalRunner(), dk.image_save(refs), target, dk.image_load(), progress=count)
            saved_err = "" if saved.ok else saved.tail(300)
    took = time.monotonic() - start
    if saved_err:
        return TransferResult(False, refs, sent[0], took, f"docker save failed: {saved_err}")
    if not loaded.ok:
        return TransferResult(False, refs, sent[0], took, f"docker load failed on the host: {loaded.tail(300)}")
    what = f"{len(refs)} image(s)" if refs else (from_file.name if from_file else "images")
    return TransferResult(True, refs, sent[0], took, f"loaded {what}, {sent[0] / 1e6:.0f} MB in {took:.0f}s")


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


def _open_tar(path: Path) -> _Reader:
    """A saved image tar, transparently gunzipped; the caller closes it."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


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
            pulled = runner_for(host).run(dk.image_pull(i.ref), timeout=1800)
            if not pulled.ok:
                return False, f"docker pull {i.ref} failed: {pulled.tail(300)}"
            messages.append(f"pulled {i.ref}")
    return True, "; ".join(messages)
