"""Load YAML keeping line/column of every key and value.

:func:`load_yaml` returns plain Python data plus a :class:`Positions` index that maps
key paths (tuples of str/int) to source locations, so that any later check can point
at ``file:line:col``. Syntax errors and duplicate keys become :class:`ConfigError`.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, Location, Problem

PathT = tuple[str | int, ...]


def shown(value: object) -> str:
    """A user value for a message: ``repr`` (control characters escaped), at most 80 characters."""
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:77] + "...")
    if value is None:
        return "nothing (null)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a number with about " + str(int(value.bit_length() * 0.30103) + 1) + " digits"
    return repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_@/:+-]+(\.[A-Za-z0-9_@/:+-]+)*")


def dotted(path: PathT) -> str:
    """``("services", "n8n", 0)`` -> ``services.n8n[0]``; an odd key is quoted: ``env['A B']``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(str(part)) and ".." not in str(part):
            out += ("." if out else "") + str(part)
        else:
            out += f"[{shown(str(part))}]"
    return out


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
    try:  # the file itself is not resolved: a symlinked service.yaml is still shown as service.yaml
        return str((path.parent.resolve() / path.name).relative_to(root.resolve()))
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


class _BigNumber(Exception):
    def __init__(self, digits: int) -> None:
        super().__init__(digits)
        self.digits = digits


def _scalar(node: yaml.ScalarNode) -> Any:
    """YAML 1.2 core schema: only true/false are booleans (``on``/``yes`` stay strings), no octal."""
    value = str(node.value)
    if node.style not in (None, ""):
        return value
    if len(value) > 40 and (_INT.match(value) or _FLOAT.match(value)):
        raise _BigNumber(len(value))
    if value in _NULLS:
        return None
    if value in _BOOLS:
        return _BOOLS[value]
    if _INT.match(value):
        return int(value.replace("_", ""))
    if _FLOAT.match(value):
        return float(value.replace("_", ""))
    return value


MAX_BYTES = 1024 * 1024  # a configuration file larger than this is not one
MAX_DEPTH = 64  # nesting of mappings/sequences, written or reached through aliases
MAX_ALIASES = 100  # alias uses in one file
MAX_VALUES = 20_000  # values after expanding aliases (a billion-laughs document stops here)


class _Bounded(Exception):
    """The document is beyond a limit (size, nesting, aliases, expansion) or recursive."""

    def __init__(self, mark: Any, message: str, hint: str, at: tuple[int, int] | None = None,
                 path: PathT = ()) -> None:
        super().__init__(message)
        self.path = path
        where: tuple[int, int] = at or ((mark.line + 1, mark.column + 1) if mark is not None else (1, 1))
        self.line, self.col = where
        self.message, self.hint = message, hint


def _prescan(text: str) -> None:
    """Refuse deep nesting and too many aliases from the event stream (flat, before composing)."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Bounded(event.start_mark, f"nesting deeper than {MAX_DEPTH} levels",
                               "configuration is never this deep; check the brackets")
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _Bounded(event.start_mark, f"more than {MAX_ALIASES} aliases in one file",
                               "write the values out, or use fewer aliases")


class _Walker:
    """Node graph -> plain data, bounded: expansion, depth and recursion are checked on the way."""

    def __init__(self, pos: Positions) -> None:
        self.pos = pos
        self.values = 0
        self.active: set[int] = set()

    def plain(self, node: yaml.Node, path: PathT, depth: int = 0) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:  # point at the top-level key whose value explodes, not at an anchor
            raise _Bounded(node.start_mark, f"{path[0] if path else 'the document'}: aliases expand to more than "
                           f"{MAX_VALUES} values", "an alias bomb? write the values out or use fewer nested aliases",
                           self.pos.keys.get(path[:1]))
        if depth > MAX_DEPTH:
            raise _Bounded(node.start_mark, f"aliases nest deeper than {MAX_DEPTH} levels", "use fewer nested aliases")
        if id(node) in self.active:
            raise _Bounded(node.start_mark, "recursive alias: this value contains itself",
                           "an anchor cannot be used inside its own value")
        if isinstance(node, yaml.ScalarNode):
            try:
                return _scalar(node)
            except _BigNumber as num:
                raise _Bounded(node.start_mark, f"number with {num.digits} digits",
                               "no setting takes a number this large", path=path) from None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, depth)
            return [self._item(vnode, (*path, i), depth) for i, vnode in enumerate(node.value)]
        finally:
            self.active.discard(id(node))

    def _item(self, vnode: yaml.Node, sub: PathT, depth: int) -> Any:
        self.pos.values[sub] = self.pos.keys[sub] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
        return self.plain(vnode, sub, depth + 1)

    def _mapping(self, node: yaml.MappingNode, path: PathT, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for knode, vnode in node.value:
            key = self.plain(knode, path, depth + 1)
            if isinstance(key, bool) or not isinstance(key, str | int):  # true:, ~:, [a, b]: as written
                key = str(knode.value) if isinstance(knode, yaml.ScalarNode) else str(key)
            if key in seen:
                raise _DuplicateKey(str(key), knode.start_mark.line + 1, knode.start_mark.column + 1, seen[key])
            seen[key] = knode.start_mark.line + 1
            sub = (*path, key)
            self.pos.keys[sub] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            self.pos.values[sub] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
            out[key] = self.plain(vnode, sub, depth + 1)
        return out


def load_yaml(path: Path, shown: str, root: Path | None = None) -> tuple[Any, Positions]:
    """Parse ``path``; ``shown`` is the name used in messages. Raises ConfigError.

    With *root*, a file that is itself a symbolic link must point inside *root*: a repository
    whose ``hosts.yaml`` links to ``/etc/shadow`` would otherwise print that file's lines as
    "unknown key" problems (in a CI log, for one). Linked directories are followed as before.
    """
    pos = Positions(shown)
    if root is not None and path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root.resolve()):
            raise ConfigError([Problem(Location(shown), "", f"a symbolic link to {target}, outside the repository",
                                       "configuration is read only from files inside the repository: copy the "
                                       "file in, or link to one inside it")])
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or /dev/zero would block or never end
            raise ConfigError([Problem(Location(shown), "", "not a regular file", "point it at a YAML file")])
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ConfigError([Problem(Location(shown, 1, 1), "", f"file is larger than {MAX_BYTES} bytes",
                                       "a configuration file is a few kilobytes; is this the right file?")])
        text = raw.decode("utf-8")
    except OSError as exc:
        raise ConfigError([Problem(Location(shown), "", f"cannot read file: {exc.strerror}")]) from None
    except UnicodeDecodeError as bad:
        line = raw.count(b"\n", 0, bad.start) + 1
        col = len(raw[raw.rfind(b"\n", 0, bad.start) + 1:bad.start].decode("utf-8", "replace")) + 1
        what = f"file is not UTF-8 text (byte 0x{raw[bad.start]:02x})"
        raise ConfigError([Problem(Location(shown, line, col), "", what, "save the file as UTF-8")]) from None
    try:
        _prescan(text)
        node = yaml.compose(text, Loader=_Loader)
        data = None if node is None else _Walker(pos).plain(node, ())
    except _Bounded as big:
        raise ConfigError([Problem(Location(shown, big.line, big.col), dotted(big.path), big.message,
                                   big.hint)]) from None
    except _DuplicateKey as dup:
        raise ConfigError([Problem(Location(shown, dup.line, dup.col), dup.key,
                                   f"duplicate key (first defined on line {dup.first})",
                                   "each key may appear only once in a mapping")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = (exc.problem or exc.context or "invalid YAML").strip()
        raise ConfigError([Problem(Location(shown, line, col), "", f"YAML: {what}", "fix the YAML syntax")]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (NUL, other control characters)
        before = text[: exc.position]
        line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        raise ConfigError([Problem(Location(shown, line, col), "", f"YAML: character U+{exc.character:04X} is not "
                                   "allowed", "remove it: control characters cannot appear in YAML")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(Location(shown, 1, 1), "", "YAML: " + " ".join(str(exc).split()))]) from None
    return data, pos
