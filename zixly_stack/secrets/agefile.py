"""age encryption for the store, with failures told apart.

:func:`decrypt` raises :class:`NotForYou` when the file is a well-formed age file
none of whose recipient stanzas matches the identity (wrong key), and
:class:`Damaged` when the bytes are not a complete, authentic age file (truncated,
flipped bytes, a git merge conflict, not age at all). age authenticates the header
(HMAC) and every payload chunk (ChaCha20-Poly1305), so any modification is caught;
only damage inside a recipient stanza looks like a wrong key, because a damaged
stanza is indistinguishable from one made for somebody else.

The file stays a plain binary age file: ``age -d -i KEYFILE secrets.age`` reads it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyrage

from .identity import Identity

MAGIC = b"age-encryption.org/v1\n"
ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"
_ARG = re.compile(rb"^[\x21-\x7e]+$")
_B64 = re.compile(rb"^[A-Za-z0-9+/]*$")
_PAYLOAD_MIN = 16 + 16  # nonce + the tag of an (empty) final chunk


class NotForYou(Exception):
    """The identity matches none of the file's recipient stanzas."""


class Damaged(Exception):
    """The file is not a complete, authentic age file; ``str()`` says what was seen."""


@dataclass(frozen=True)
class Header:
    """What the unencrypted age header tells: the stanza types (``X25519``, grease ...)."""

    stanza_types: tuple[str, ...]

    @property
    def x25519_count(self) -> int:
        """How many X25519 recipients the file was encrypted to."""
        return sum(1 for t in self.stanza_types if t == "X25519")


def encrypt(plaintext: bytes, recipients: Sequence[str]) -> bytes:
    """Encrypt to every recipient (``age1...``), binary format. Output is randomised."""
    parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
    out = pyrage.encrypt(plaintext, parsed)
    assert isinstance(out, bytes)
    return out


def decrypt(data: bytes, identity: Identity) -> bytes:
    """Decrypt, or raise :class:`NotForYou` / :class:`Damaged` (see module docstring)."""
    if not data.startswith(ARMOR):
        parse_header(data)
    try:
        out = pyrage.decrypt(data, identity.age_identities())
    except pyrage.DecryptError as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "no matching keys" in text.lower():
            raise NotForYou(text) from None
        raise Damaged(_explain(text)) from None
    assert isinstance(out, bytes)
    return out


_EXPLAINED = {
    "decryption error": "the encrypted content fails its integrity check (truncated or modified)",
    "failed to fill whole buffer": "it is truncated",
    "header mac is invalid": "the age header fails its integrity check (modified)",
}


def _explain(text: str) -> str:
    return _EXPLAINED.get(text.lower(), f"age says: {text}")


def parse_header(data: bytes) -> Header:
    """Check the age v1 header grammar and payload minimum length; raise :class:`Damaged`."""
    if data.startswith(b"<<<<<<<") or b"\n>>>>>>> " in data:
        raise Damaged("it contains git merge-conflict markers")
    if not data:
        raise Damaged("the file is empty")
    if not data.startswith(MAGIC):
        raise Damaged("it does not start with the age v1 header")
    pos = len(MAGIC)
    types: list[str] = []
    while True:
        line, pos = _line(data, pos)
        if line.startswith(b"--- "):
            _check_mac(line[4:])
            break
        if not line.startswith(b"-> "):
            raise Damaged("malformed age header line")
        args = line[3:].split(b" ")
        if not all(_ARG.match(a) for a in args):
            raise Damaged("malformed age recipient stanza")
        types.append(args[0].decode("ascii"))
        pos = _skip_body(data, pos)
    if len(data) - pos < _PAYLOAD_MIN:
        raise Damaged("it is truncated (payload shorter than the minimum)")
    if not types:
        raise Damaged("the age header has no recipient stanza")
    return Header(tuple(types))


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\n", pos)
    if end < 0:
        raise Damaged("it is truncated inside the age header")
    return data[pos:end], end + 1


def _skip_body(data: bytes, pos: int) -> int:
    """Skip a stanza body (64-column base64 lines ending with a shorter one); return the next position."""
    while True:
        line, pos = _line(data, pos)
        if len(line) > 64 or not _B64.match(line):
            raise Damaged("malformed age stanza body")
        if len(line) < 64:
            return pos


def _check_mac(mac: bytes) -> None:
    try:
        raw = base64.b64decode(mac + b"=" * (-len(mac) % 4), validate=True)
    except binascii.Error:
        raise Damaged("malformed age header MAC") from None
    if len(raw) != 32:
        raise Damaged("malformed age header MAC")
