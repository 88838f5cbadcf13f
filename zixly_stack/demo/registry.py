"""The host's demo registry: one ``demo.json`` per demo under ``<base_dir>/demos/<client>/``.

Times are UTC ISO-8601 (``2026-11-26T16:00:00Z``). The file is written atomically (0600);
``demo list``, ``extend`` and ``reap`` read only these files, never the engine, to decide.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import posixpath
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..clock import parse_time
from ..errors import ZixlyError
from ..safepath import inside

FILE = "demo.json"
LOCK = ".lock"  # flock'd by every change that must not interleave (the memory guard and its record)


@contextlib.contextmanager
def locked(base_dir: str) -> Iterator[None]:
    """An exclusive ``flock`` of ``<base_dir>/demos/.lock`` for the block (the host tool takes the same one)."""
    root = demos_dir(base_dir)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def demos_dir(base_dir: str) -> Path:
    """``<base_dir>/demos``."""
    return Path(posixpath.join(base_dir, "demos"))


@dataclass(frozen=True)
class DemoRecord:
    """One demo as the registry knows it."""

    client: str
    env: str              # the demo's own environment name (``demo-<client>``)
    host_env: str         # the environment whose edge it hangs off
    host: str
    services: list[str]   # what the user chose
    stack: list[str]      # chosen + their stores/used services
    projects: list[str]   # Compose projects, in bring-up order
    created: str
    expires: str
    urls: dict[str, str] = field(default_factory=dict)
    memory: int = 0       # sum of the demo's container memory limits (bytes)
    route_file: str = ""  # the Traefik file-provider file of this demo
    status: str = "starting"
    stages: list[list[str]] = field(default_factory=list)  # projects started together, in order

    def expired(self, now: datetime) -> bool:
        """True when *now* is at or past ``expires``."""
        return now >= parse_time(self.expires)

    def with_(self, **changes: Any) -> DemoRecord:
        """A copy with *changes*."""
        return replace(self, **changes)


def record_path(base_dir: str, client: str) -> Path:
    """``<base_dir>/demos/<client>/demo.json`` (a client name cannot lead out of ``demos/``)."""
    return inside(demos_dir(base_dir), f"{client}/{FILE}")


def save(base_dir: str, rec: DemoRecord) -> Path:
    """Write *rec* atomically (0600)."""
    path = record_path(base_dir, rec.client)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".demo.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(rec), fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_record(path: Path) -> DemoRecord:
    """Read one record; a broken file raises ZixlyError naming it."""
    try:
        data = json.loads(path.read_text())
        rec = DemoRecord(**data)
    except (OSError, ValueError, TypeError) as exc:
        raise ZixlyError(f"{path}: not a readable demo record ({exc}); fix or remove it") from None
    if rec.client != path.parent.name or rec.env != f"demo-{rec.client}":
        raise ZixlyError(f"{path}: the record names client {rec.client!r} (environment {rec.env!r}) but lives in "
                         f"{path.parent.name}/; fix or remove it")
    return rec


def get(base_dir: str, client: str) -> DemoRecord | None:
    """The record of *client*, or None."""
    path = record_path(base_dir, client)
    return load_record(path) if path.exists() else None


def all_records(base_dir: str) -> list[DemoRecord]:
    """Every demo of the host, by client name."""
    root = demos_dir(base_dir)
    if not root.is_dir():
        return []
    return [load_record(p) for p in sorted(root.glob(f"*/{FILE}"))]
