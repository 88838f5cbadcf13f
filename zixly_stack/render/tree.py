"""The render output: an immutable tree of files plus a manifest.

The manifest lists every file of a host with its mode and a content hash: the plain
SHA-256 for ordinary files, a keyed hash (``hmac``, see
:mod:`zixly_stack.secrets.fingerprint`) for files that hold secrets, so the 0644 manifest
is no guessing aid for a password. ``store`` names the secrets store the tree was
rendered with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from ..secrets.fingerprint import Fingerprinter

MANIFEST_VERSION = 2
#: The release-relative file that lets ``zixly secrets recover`` rebuild the store (0600).
RECOVERY_PATH = ".zixly/recovery.json"


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
        """Content hash (hex), for comparisons in memory: never written or printed for a secret file."""
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


def manifest(files: list[RenderedFile], host: str, meta: dict[str, Any], fp: Fingerprinter) -> RenderedFile:
    """``<host>/manifest.json``: every file of the host with its hash (keyed for secrets), mode and secrecy."""
    entries = [
        {
            "path": f.path.split("/", 1)[1],
            **({"hmac": fp.hexdigest(f.text)} if f.secret else {"sha256": f.sha256}),
            "mode": f"{f.mode:04o}",
            "secret": f.secret,
        }
        for f in sorted(files, key=lambda f: f.path)
        if f.path.startswith(host + "/")
    ]
    doc = {"version": MANIFEST_VERSION, **meta, "store": fp.store_id, "host": host, "files": entries}
    return RenderedFile(f"{host}/manifest.json", json.dumps(doc, indent=2, sort_keys=False) + "\n")


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """Parse rendered YAML back (the rules judge what was written, not the data it came from)."""
    return yaml.load(text, Loader=_Loader)
