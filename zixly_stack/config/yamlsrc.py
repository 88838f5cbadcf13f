"""Load YAML keeping line/column of every key and value.

:func:`load_yaml` returns plain Python data plus a :class:`Positions` index that maps
key paths (tuples of str/int) to source locations, so that any later check can point
at ``file:line:col``. Syntax errors and duplicate keys become :class:`ConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

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


def _plain(node: Any, path: PathT, pos: Positions) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            sub = (*path, k)
            try:
                kl, kc = node.lc.key(k)
                pos.keys[sub] = (kl + 1, kc + 1)
                vl, vc = node.lc.value(k)
                pos.values[sub] = (vl + 1, vc + 1)
            except (KeyError, TypeError):
                pass
            out[k] = _plain(v, sub, pos)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, v in enumerate(node):
            sub = (*path, i)
            try:
                il, ic = node.lc.item(i)
                pos.values[sub] = (il + 1, ic + 1)
                pos.keys[sub] = (il + 1, ic + 1)
            except (KeyError, TypeError):
                pass
            items.append(_plain(v, sub, pos))
        return items
    if node is None or isinstance(node, bool | int | float):
        return node
    if isinstance(node, str):
        return str(node)
    return str(node)


def load_yaml(path: Path, shown: str) -> tuple[Any, Positions]:
    """Parse ``path``; ``shown`` is the name used in messages. Raises ConfigError."""
    pos = Positions(shown)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(Location(shown), "", f"cannot read file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(Location(shown), "", "file is not UTF-8 text")]) from None
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = (exc.problem or exc.context or "invalid YAML").strip()
        hint = "each key may appear only once in a mapping" if "duplicate" in what else "fix the YAML syntax"
        raise ConfigError([Problem(Location(shown, line, col), "", f"YAML: {what}", hint)]) from None
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. ReaderError)
        raise ConfigError([Problem(Location(shown, 1, 1), "", f"YAML: {exc}")]) from None
    return _plain(data, (), pos), pos
