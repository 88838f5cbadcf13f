"""The placeholder grammar used in service definitions.

``${kind:arg}`` is a reference, ``$$`` a literal dollar; any other ``$`` is an error
(so nothing reaches Compose's own interpolation by accident). Parsing is pure;
resolution takes a callback so render decides what each reference means.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("secret", "secret_file", "url", "host", "store", "setting", "container")
_TOKEN = re.compile(r"\$\$|\$\{([a-z_]+):([A-Za-z0-9_.-]+)\}|\$")


@dataclass(frozen=True)
class Ref:
    """One ``${kind:arg}`` reference."""

    kind: str
    arg: str

    def __str__(self) -> str:
        return "${" + f"{self.kind}:{self.arg}" + "}"


class PlaceholderSyntaxError(ValueError):
    """A malformed placeholder; the message says what and where in the string."""


def _lone_dollar(text: str, at: int) -> str:
    """What is wrong with the ``$`` at offset ``at`` that starts no valid token."""
    if not text.startswith("${", at):
        return f"lone '$' at offset {at}: write '$$' for a literal dollar or ${{kind:name}}"
    end = text.find("}", at)
    if end == -1:
        return (f"unterminated placeholder {text[at:at + 40]!r} at offset {at}: close it with '}}' "
                "(or write '$$' for a literal dollar)")
    return (f"malformed placeholder {text[at:end + 1]!r} at offset {at}: expected ${{kind:name}}, kind in lowercase "
            "letters, name of letters, digits, '_', '.' or '-'")


def parse(text: str) -> list[str | Ref]:
    """Split ``text`` into literal strings and :class:`Ref` s."""
    parts: list[str | Ref] = []
    pos = 0
    buf = ""
    for m in _TOKEN.finditer(text):
        buf += text[pos : m.start()]
        pos = m.end()
        token = m.group(0)
        if token == "$$":
            buf += "$"
        elif token == "$":
            raise PlaceholderSyntaxError(_lone_dollar(text, m.start()))
        else:
            kind = m.group(1)
            if kind not in KINDS:
                raise PlaceholderSyntaxError(
                    f"unknown placeholder kind {kind!r} (expected one of {', '.join(KINDS)})"
                )
            if buf:
                parts.append(buf)
                buf = ""
            parts.append(Ref(kind, m.group(2)))
    buf += text[pos:]
    if buf:
        parts.append(buf)
    return parts


def refs(text: str) -> list[Ref]:
    """All references in ``text`` (raises on syntax errors)."""
    return [p for p in parse(text) if isinstance(p, Ref)]


@dataclass(frozen=True)
class Resolved:
    """A resolved value and whether any secret went into it."""

    value: str
    secret: bool


def resolve(text: str, lookup: Callable[[Ref], Resolved]) -> Resolved:
    """Substitute every reference via ``lookup``; literal ``$$`` becomes ``$``."""
    out: list[str] = []
    secret = False
    for part in parse(text):
        if isinstance(part, Ref):
            got = lookup(part)
            out.append(got.value)
            secret = secret or got.secret
        else:
            out.append(part)
    return Resolved("".join(out), secret)
