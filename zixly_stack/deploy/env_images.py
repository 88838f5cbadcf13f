"""An environment's images onto its hosts: each host's missing or outdated images, loaded over its
deploy connection (``zixly images load``; one :func:`~.images.transfer` a host, hosts in parallel)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..commands import docker as dk
from ..plan.facts import parse_facts
from ..runner import LocalRunner
from ..runner.connect import Session, parallel, runner_for
from .images import TransferResult, local_image_ids, transfer
from .runner import open_env


@dataclass
class HostImages:
    """What ``zixly images load`` did on one host."""

    host: str
    needed: list[str]
    result: TransferResult | None = None
    error: str = ""


def load_env(
    et: Any,
    host_refs: dict[str, list[str]],
    *,
    only: Sequence[str] | None = None,
    from_file: Path | None = None,
    say: Callable[[str, str], None] = lambda h, t: None,
) -> list[HostImages]:
    """Load each host's missing or outdated images over its deploy connection (hosts in parallel)."""
    local = {n: bool(t.local) for n, t in et.targets.items()}
    return load_session(open_env(et, only), local, host_refs, from_file=from_file, say=say)


def load_session(
    session: Session,
    local: Mapping[str, bool],
    host_refs: Mapping[str, Sequence[str]],
    *,
    from_file: Path | None = None,
    say: Callable[[str, str], None] = lambda h, t: None,
) -> list[HostImages]:
    """:func:`load_env` on an open *session* (closed here); *local*: which hosts are this machine."""
    try:

        def one(name: str) -> HostImages:
            host = session.hosts[name]
            wanted = list(host_refs.get(name, []))
            res = runner_for(host).run(dk.image_ls(), timeout=60, read=True)
            have = parse_facts("@@images\n" + res.out + "\n@@end").images
            local = local_image_ids(wanted) if from_file is None else {}
            needed = [r for r in wanted if r not in have or (r in local and local[r] != have[r])]
            if not needed:
                say(name, "all images present")
                return HostImages(name, [])
            if local.get(name):
                if from_file is None:
                    return HostImages(name, needed, error="missing from this machine's engine: " + ", ".join(needed))
                loaded = LocalRunner().run(dk.image_load_file(str(from_file)), timeout=3600)
                msg = loaded.out.strip() or loaded.err.strip()
                return HostImages(name, needed, TransferResult(loaded.ok, tuple(needed), 0, 0.0, msg[-300:]))
            result = transfer(host, needed, lambda t: say(name, t), from_file=from_file)
            say(name, result.message)
            return HostImages(name, needed, result, "" if result.ok else result.message)

        out = parallel(one, list(session.hosts))
        out += [HostImages(n, [], error=f"unreachable: {e}") for n, e in session.errors.items()]
        return out
    finally:
        session.close()
