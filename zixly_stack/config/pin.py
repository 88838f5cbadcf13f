"""Set ``services.<name>.version`` in an ``environment.yaml`` text, changing nothing else.

PURE (text in, text out). ruamel.yaml's round-trip loader finds where the service's entry and
its ``version`` are; the edit is then spliced into the original text, so every other byte
(comments, blank lines, quoting, key order, indentation) stays as it was. The result is read
back with the round-trip loader and must hold exactly the old data plus the new version, or
:class:`PinError` is raised and the caller writes nothing.
"""

from __future__ import annotations

import copy
import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError


class PinError(Exception):
    """The pin cannot be set by a safe edit (the message says why)."""


def _load(text: str) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(io.StringIO(text))
    except YAMLError as exc:
        raise PinError(f"not readable YAML: {exc}") from None


def _plain(value: Any) -> Any:
    """Round-trip data as plain dicts/lists/scalars, for comparison."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _scalar(version: str, quote: str = "") -> str:
    """*version* as a YAML scalar that reads back as that string (quoted when plain would not)."""
    if quote:
        return f"{quote}{version}{quote}"
    probe = YAML(typ="safe").load(f"v: {version}")
    return version if isinstance(probe, dict) and probe.get("v") == version else f'"{version}"'


def _value_span(line: str, col: int) -> tuple[int, int, str]:
    """Start, end and quote character of the scalar that starts at *col* of *line*."""
    quote = line[col] if col < len(line) and line[col] in "'\"" else ""
    if quote:
        end = line.find(quote, col + 1)
        if end < 0:
            raise PinError("the current version is a multi-line quoted string")
        return col, end + 1, quote
    m = re.compile(r"[^\s#]+(?: +[^\s#]+)*").match(line, col)
    if m is None:
        raise PinError("the current version is not a plain scalar")
    return col, m.end(), ""


def _replace(lines: list[str], entry: CommentedMap, version: str, key: str = "version") -> None:
    row, col = entry.lc.value(key)
    start, end, quote = _value_span(lines[row], col)
    lines[row] = lines[row][:start] + _scalar(version, quote) + lines[row][end:]


def _insert(lines: list[str], services: CommentedMap, name: str, version: str, key: str = "version") -> None:
    entry = services[name]
    row, col = services.lc.key(name)
    vrow, vcol = services.lc.value(name)
    if isinstance(entry, CommentedMap) and vrow < len(lines) and lines[vrow][vcol:].startswith("{"):
        brace = vcol
        sep = ", " if entry else ""
        lines[vrow] = lines[vrow][: brace + 1] + f"{key}: {_scalar(version)}{sep}" + lines[vrow][brace + 1 :]
        return
    if isinstance(entry, CommentedMap) and entry:
        first = next(iter(entry))
        indent = entry.lc.key(first)[1]
    elif entry is None:
        after = lines[row].split(":", 1)[1] if ":" in lines[row] else ""
        if after.split("#", 1)[0].strip():
            raise PinError(f"services.{name} is written as {after.strip()!r}: write it as a mapping first")
        indent = col + 2
    else:
        raise PinError(f"services.{name} is not a mapping")
    lines.insert(row + 1, " " * indent + f"{key}: {_scalar(version)}\n")


def set_version(text: str, name: str, version: str) -> str:
    """*text* with ``services.<name>.version`` set to *version*, every other byte unchanged."""
    return set_value(text, name, "version", version)


def set_value(text: str, name: str, key: str, version: str) -> str:
    """*text* with ``services.<name>.<key>`` set to *version* (a scalar), every other byte unchanged."""
    data = _load(text)
    services = data.get("services") if isinstance(data, CommentedMap) else None
    if not isinstance(services, CommentedMap) or name not in services:
        raise PinError(f"services.{name} is not in this environment")
    if isinstance(services, CommentedMap) and services.fa.flow_style():
        raise PinError("services is written in flow style: write it as a block mapping first")
    lines = text.splitlines(keepends=True)
    entry = services[name]
    if isinstance(entry, CommentedMap) and key in entry:
        _replace(lines, entry, version, key)
    else:
        _insert(lines, services, name, version, key)
    out = "".join(lines)
    _verify(data, out, name, version, key)
    return out


def _verify(before: Any, text: str, name: str, version: str, key: str = "version") -> None:
    """The edited text must read back as the old data with only the version set."""
    want = copy.deepcopy(_plain(before))
    entry = want["services"].get(name)
    want["services"][name] = {**(entry or {}), key: version}
    got = _plain(_load(text))
    if got != want:
        raise PinError("the edit would change more than the version (unexpected layout): edit the file by hand")
