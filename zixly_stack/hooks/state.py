"""What each hook applied, kept between runs so reruns can be no-ops.

Contract: one JSON document ``{"version": 1, "hooks": {name: record}}``; a record holds
the hook's last status, a digest of its ``applied`` map (item -> content hash, never a
secret value: secrets appear only as :meth:`Secret.fingerprint`), a summary and a UTC
timestamp. :class:`JsonStateFile` writes atomically with mode 0600 and treats a missing
file as empty; a damaged file is an error (never silently reset).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from .base import HookError

VERSION = 1


@dataclass(frozen=True)
class HookRecord:
    """The last outcome of one hook."""

    hook: str
    status: str
    summary: str
    applied: dict[str, str] = field(default_factory=dict)
    digest: str = ""
    finished_at: str = ""

    @classmethod
    def make(cls, hook: str, status: str, summary: str, applied: Mapping[str, str]) -> HookRecord:
        """A record stamped now, with the digest of *applied*."""
        items = dict(sorted(applied.items()))
        digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cls(hook, status, summary, items, digest, now)


class StateStore(Protocol):
    """Where hook records live (a file on the environment's host, memory in tests)."""

    def load(self) -> dict[str, HookRecord]:
        """Every record by hook name."""
        ...

    def save(self, records: Mapping[str, HookRecord]) -> None:
        """Replace every record."""
        ...


def _parse(data: Any, where: str) -> dict[str, HookRecord]:
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("hooks"), dict):
        raise HookError(f"{where}: not a zixly hook state file (version {VERSION})")
    out: dict[str, HookRecord] = {}
    for name, raw in data["hooks"].items():
        try:
            out[name] = HookRecord(**raw)
        except TypeError:
            raise HookError(f"{where}: damaged record for hook {name!r}") from None
    return out


def dumps(records: Mapping[str, HookRecord]) -> str:
    """The file's text for *records* (sorted, stable)."""
    doc = {"version": VERSION, "hooks": {k: asdict(records[k]) for k in sorted(records)}}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def loads(text: str, where: str) -> dict[str, HookRecord]:
    """Parse a state file's text."""
    try:
        return _parse(json.loads(text), where)
    except json.JSONDecodeError as exc:
        raise HookError(f"{where}: damaged hook state ({exc.msg} at line {exc.lineno})") from None


@dataclass
class JsonStateFile:
    """Records in a local JSON file (the local transport keeps it under ``<base_dir>/<env>/state``)."""

    path: Path

    def load(self) -> dict[str, HookRecord]:
        """Records, or ``{}`` when the file does not exist."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        return loads(text, str(self.path))

    def save(self, records: Mapping[str, HookRecord]) -> None:
        """Write atomically, 0600, in a 0700 directory."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".hooks.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dumps(records))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass
class MemoryState:
    """Records in memory (tests, dry runs)."""

    records: dict[str, HookRecord] = field(default_factory=dict)

    def load(self) -> dict[str, HookRecord]:
        """A copy of the records."""
        return dict(self.records)

    def save(self, records: Mapping[str, HookRecord]) -> None:
        """Replace the records."""
        self.records = dict(records)
