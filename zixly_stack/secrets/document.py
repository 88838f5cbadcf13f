"""The plaintext inside ``secrets.age``: a versioned JSON document.

::

    {"version": 1,
     "secrets": {"<service>.<name>": {"value": "...", "type": "password",
                                      "created": "2026-11-26T12:00:00Z", "rotated": null,
                                      "of": "n8n.owner_password",        # bcrypt only
                                      "never_rotate": "what breaks"}}}   # optional

``of`` and ``never_rotate`` are recorded when known, so ``rotate`` can re-hash
bcrypt dependents and refuse a never-rotate key even without the catalog.
Parsing is strict and its errors name keys, never values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, get_args

from ..models.secret_spec import SecretType
from .value import Secret

VERSION = 1
TYPES: tuple[str, ...] = get_args(SecretType)
_REQUIRED = ("value", "type", "created", "rotated")
_OPTIONAL = ("of", "never_rotate")


def now_iso() -> str:
    """Current UTC time, ISO 8601 to the second with ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Entry:
    """One stored secret and its metadata."""

    value: Secret
    type: str
    created: str
    rotated: str | None = None
    of: str | None = None
    never_rotate: str | None = None

    def rotated_to(self, value: Secret) -> Entry:
        """This entry with a new value, ``rotated`` stamped now."""
        return replace(self, value=value, rotated=now_iso())

    def to_json(self) -> dict[str, Any]:
        """JSON object for the document (reveals the value: only for encryption)."""
        out: dict[str, Any] = {
            "value": self.value.reveal(),
            "type": self.type,
            "created": self.created,
            "rotated": self.rotated,
        }
        if self.of is not None:
            out["of"] = self.of
        if self.never_rotate is not None:
            out["never_rotate"] = self.never_rotate
        return out


class DocumentError(ValueError):
    """The decrypted plaintext is not a valid store document (message has no values)."""


def dumps(entries: dict[str, Entry]) -> bytes:
    """Serialise deterministically (sorted keys, 2-space indent, trailing newline)."""
    doc = {"version": VERSION, "secrets": {name: entries[name].to_json() for name in sorted(entries)}}
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def loads(data: bytes) -> dict[str, Entry]:
    """Parse and validate; raise :class:`DocumentError` naming the offending key."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DocumentError("the decrypted content is not JSON") from None
    if not isinstance(doc, dict) or set(doc) != {"version", "secrets"}:
        raise DocumentError("the document must have exactly the keys 'version' and 'secrets'")
    if doc["version"] != VERSION:
        raise DocumentError(
            f"document version {doc['version']!r} is not supported (this zixly reads version {VERSION}; upgrade zixly)"
        )
    if not isinstance(doc["secrets"], dict):
        raise DocumentError("'secrets' must be an object")
    return {str(name): _entry(str(name), raw) for name, raw in doc["secrets"].items()}


def _entry(name: str, raw: object) -> Entry:
    if not isinstance(raw, dict):
        raise DocumentError(f"secret '{name}' must be an object")
    keys = set(raw)
    if not set(_REQUIRED) <= keys or not keys <= {*_REQUIRED, *_OPTIONAL}:
        raise DocumentError(f"secret '{name}' must have keys {', '.join(_REQUIRED)} (optional: of, never_rotate)")
    if not isinstance(raw["value"], str):
        raise DocumentError(f"secret '{name}': value must be a string")
    if raw["type"] not in TYPES:
        raise DocumentError(f"secret '{name}': unknown type")
    if not isinstance(raw["created"], str):
        raise DocumentError(f"secret '{name}': created must be a string")
    for key in ("rotated", *_OPTIONAL):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise DocumentError(f"secret '{name}': {key} must be a string or null")
    return Entry(
        value=Secret(raw["value"]),
        type=raw["type"],
        created=raw["created"],
        rotated=raw["rotated"],
        of=raw.get("of"),
        never_rotate=raw.get("never_rotate"),
    )
