"""The render output: an immutable tree of files plus a manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class RenderedFile:
    """One output file. ``path`` is relative to the environment's output dir (``<host>/...``).

    ``secret`` files hold secret values: written 0600 in 0700 directories, never shown in
    plans or diffs.
    """

    path: str
    text: str
    mode: int = 0o644
    secret: bool = False

    @property
    def sha256(self) -> str:
        """Content hash (hex)."""
        return hashlib.sha256(self.text.encode()).hexdigest()


_Base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[misc,valid-type]
    """Safe dumper without anchors/aliases; YAML 1.1 quoting (``'no'``) that every parser reads alike."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any, header: str = "") -> str:
    """Deterministic block-style YAML (insertion order kept, no line folding, no anchors)."""
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096, allow_unicode=True)
    return header + text


def manifest(files: list[RenderedFile], host: str, meta: dict[str, Any]) -> RenderedFile:
    """``<host>/manifest.json``: every file of the host with its sha256, mode and secrecy."""
    entries = [
        {"path": f.path.split("/", 1)[1], "sha256": f.sha256, "mode": f"{f.mode:04o}", "secret": f.secret}
        for f in sorted(files, key=lambda f: f.path)
        if f.path.startswith(host + "/")
    ]
    doc = {"version": 1, **meta, "host": host, "files": entries}
    return RenderedFile(f"{host}/manifest.json", json.dumps(doc, indent=2, sort_keys=False) + "\n")


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """Parse rendered YAML back (the rules judge what was written, not the data it came from)."""
    return yaml.load(text, Loader=_Loader)
