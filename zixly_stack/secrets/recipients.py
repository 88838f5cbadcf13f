"""``inventories/<env>/recipients.txt``: the age public keys a store is encrypted to.

Format: one ``age1...`` X25519 public key per line; ``#`` starts a comment (whole line
or after the key, e.g. ``age1... # alice``); blank lines ignored. Editing keeps every
other line, comment and the order untouched. A malformed line is a
:class:`~zixly_stack.errors.ConfigError` pointing at ``file:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyrage

from ..errors import ConfigError, Location, Problem

FILENAME = "recipients.txt"
HEADER = (
    "# age public keys this environment's secrets.age is encrypted to, one per line.\n"
    "# Add or remove with `zixly secrets recipients ENV add|remove KEY` (re-encrypts the store).\n"
)


def is_public_key(text: str) -> bool:
    """True if ``text`` parses as an age X25519 public key (``age1...``)."""
    try:
        pyrage.x25519.Recipient.from_str(text)
    except pyrage.RecipientError:
        return False
    return True


@dataclass(frozen=True)
class RecipientsFile:
    """The parsed file: its raw lines (for lossless edits) and the keys in order."""

    path: Path
    lines: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> RecipientsFile:
        """Read and validate ``path``; an absent file reads as empty."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = None
        return cls.parse(path, raw)

    @classmethod
    def parse(cls, path: Path, raw: bytes | None) -> RecipientsFile:
        """Parse and validate file content (``None``: the file is absent)."""
        try:
            text = "" if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(problems=[Problem(Location(str(path)), "", "not UTF-8 text")]) from None
        parsed = cls(path, tuple(text.splitlines()))
        parsed.keys()  # validate now
        return parsed

    def keys(self) -> list[str]:
        """The public keys, in file order, without duplicates."""
        keys: list[str] = []
        problems: list[Problem] = []
        for lineno, line in enumerate(self.lines, start=1):
            key = _key_of(line)
            if not key:
                continue
            if not is_public_key(key):
                col = line.index(key) + 1
                problems.append(Problem(Location(str(self.path), lineno, col), "", "not an age public key (age1...)"))
            elif key not in keys:
                keys.append(key)
        if problems:
            raise ConfigError(problems=problems)
        return keys

    def with_key(self, key: str, comment: str = "") -> RecipientsFile:
        """A copy with ``key`` appended (unchanged if present)."""
        if key in self.keys():
            return self
        base = self.lines or tuple(HEADER.splitlines())
        line = f"{key}  # {comment}" if comment else key
        return RecipientsFile(self.path, (*base, line))

    def without_key(self, key: str) -> RecipientsFile:
        """A copy with every line holding ``key`` removed."""
        return RecipientsFile(self.path, tuple(ln for ln in self.lines if _key_of(ln) != key))

    def text(self) -> str:
        """File content to write."""
        return "\n".join(self.lines) + "\n" if self.lines else ""


def _key_of(line: str) -> str:
    return line.split("#", 1)[0].strip()
