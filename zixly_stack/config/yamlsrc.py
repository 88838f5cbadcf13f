"""Load YAML keeping line/column of every key and value.

:func:`load_yaml` returns plain Python data plus a :class:`Positions` index that maps
key paths (tuples of str/int) to source locations, so that any later check can point
at ``file:line:col``. Syntax errors and duplicate keys become :class:`ConfigError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, Location, Problem

PathT = tuple[str | int, ...]


@dataclass
class Positions:
    """Where each key and value of one file is. Lines and columns are 1-based."""

    file: str
    keys: dict[PathT, tuple[int, int]] = field(default_factory=dict)
    values: dict[PathT, tuple[int, int]] = field(default_factory=dict)

    def loc(self, path: PathT, *, key: bool = False) -> Location:
        """Best location for ``path``: the exact key/value, else the nearest parent."""
        index = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in index:
                line, col = index[probe]
                return Location(self.file, line, col)
            other = self.values if key else self.keys
            if probe in other:
                line, col = other[probe]
                return Location(self.file, line, col)
            probe = probe[:-1]
        return Location(self.file, 1, 1)


def display_path(root: Path, path: Path) -> str:
    """Path shown in messages: relative to the repo root when inside it."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULLS = {"", "~", "null", "Null", "NULL"}


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, col: int, first: int) -> None:
        super().__init__(key)
        self.key, self.line, self.col, self.first = key, line, col, first


_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(r"^[-+]?([0-9][0-9_]*\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")


def _scalar(node: yaml.ScalarNode) -> Any:
    """YAML 1.2 core schema: only true/false are booleans (``on``/``yes`` stay strings), no octal."""
    value = str(node.value)
    if node.style not in (None, ""):
        return value
    if value in _NULLS:
        return None
    if value in _BOOLS:
        return _BOOLS[value]
    if _INT.match(value):
        return int(value.replace("_", ""))
    if _FLOAT.match(value):
        return float(value.replace("_", ""))
    return value


def _plain(node: yaml.Node, path: PathT, pos: Positions) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for knode, vnode in node.value:
            key = _plain(knode, path, pos)
            if not isinstance(key, str | int):
                key = str(key)
            if key in seen:
                raise _DuplicateKey(str(key), knode.start_mark.line + 1, knode.start_mark.column + 1, seen[key])
            seen[key] = knode.start_mark.line + 1
            sub = (*path, key)
            pos.keys[sub] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            pos.values[sub] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
            out[key] = _plain(vnode, sub, pos)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, vnode in enumerate(node.value):
            sub = (*path, i)
            pos.values[sub] = pos.keys[sub] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
            items.append(_plain(vnode, sub, pos))
        return items
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node)


def load_yaml(path: Path, shown: str) -> tuple[Any, Positions]:
    """Parse ``path``; ``shown`` is the name used in messages. Raises ConfigError."""
    pos = Positions(shown)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(Location(shown), "", f"cannot read file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(Location(shown), "", "file is not UTF-8 text")]) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = None if node is None else _plain(node, (), pos)
    except _DuplicateKey as dup:
        raise ConfigError([Problem(Location(shown, dup.line, dup.col), dup.key,
                                   f"duplicate key (first defined on line {dup.first})",
                                   "each key may appear only once in a mapping")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = (exc.problem or exc.context or "invalid YAML").strip()
        raise ConfigError([Problem(Location(shown, line, col), "", f"YAML: {what}", "fix the YAML syntax")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(Location(shown, 1, 1), "", f"YAML: {exc}")]) from None
    return data, pos
