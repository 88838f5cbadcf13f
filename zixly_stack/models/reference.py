"""Generate the configuration reference (every key, type, default) from the models.

``python -m zixly_stack.models.reference`` rewrites ``docs/reference/*.md``; a test fails when
the committed reference is stale, so docs and schema cannot drift apart.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .environment import Environment, Hosts
from .patterns import pattern_hint
from .service import Service
from .types import accepts

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    if origin is dict:
        return f"map[{_type_name(args[0])} → {_type_name(args[1])}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _models(tp: Any) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    origin = typing.get_origin(tp)
    if origin is not None:
        for a in typing.get_args(tp):
            out.extend(_models(a))
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        out.append(tp)
    return out


def _constraint(meta: Any, unit: str = "items") -> str:
    """Words for one piece of field metadata (bounds, length, pattern, a bounded type's check)."""
    words = {"ge": "≥ {}", "gt": "> {}", "le": "≤ {}", "lt": "< {}", "min_length": f"at least {{}} {unit}",
             "max_length": f"at most {{}} {unit}"}
    for attr, text in words.items():
        if getattr(meta, attr, None) is not None and type(meta).__name__ != "FieldInfo":
            return text.format(getattr(meta, attr))
    if getattr(meta, "pattern", None):
        return pattern_hint(str(meta.pattern)).removeprefix("expected ")
    if isinstance(meta, FieldInfo):
        return "; ".join(filter(None, (_constraint(m, unit) for m in meta.metadata)))
    return accepts(getattr(meta, "func", None))


def _accepts(tp: Any, metadata: list[Any] | None = None, description: str | None = None) -> str:
    """What a field accepts, in words: the type's own bounds, then those of its items/keys/values."""
    if description:
        return description
    base = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp
    unit = "characters" if base is str else "items"
    parts = [c for c in (_constraint(m, unit) for m in metadata or []) if c]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        parts.append(_accepts(args[0], list(args[1:])))
    elif origin in (Union, types.UnionType):
        members = [m for m in dict.fromkeys(_accepts(a) for a in args if a is not type(None)) if m]
        one = next((m for m in members if f"each: {m}" in members), None)
        parts.append(f"{one}, or a list of them" if one else "; ".join(members))
    elif origin is list:
        inner = _accepts(args[0])
        parts.append(f"each: {inner}" if inner else "")
    elif origin is dict:
        keys, values = _accepts(args[0]), _accepts(args[1])
        parts.append("; ".join(filter(None, (f"keys: {keys}" if keys else "", f"values: {values}" if values else ""))))
    text = "; ".join(p for p in parts if p)
    return re.sub(r"≥ ([0-9.]+); ≤ ([0-9.]+)", r"\1 to \2", text).replace("at least 1 items", "at least one")


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(see below)"
    return f"`{value!r}`" if value not in ([], {}) else "`[]`" if value == [] else "`{}`"


def reachable(root: type[BaseModel]) -> list[type[BaseModel]]:
    """``root`` and every model nested in its fields, breadth-first."""
    seen: list[type[BaseModel]] = []
    queue = [root]
    while queue:
        m = queue.pop(0)
        if m in seen:
            continue
        seen.append(m)
        for f in m.model_fields.values():
            queue.extend(_models(f.annotation))
    return seen


def user_models() -> list[type[BaseModel]]:
    """Every model a user writes: environment.yaml, hosts.yaml and service.yaml, nested ones included."""
    return list(dict.fromkeys(m for root in (Environment, Hosts, Service) for m in reachable(root)))


def document(root: type[BaseModel], title: str, intro: str) -> str:
    """Markdown for ``root`` and every nested model, breadth-first."""
    seen = reachable(root)
    lines = [f"# {title}", "", intro, "", "Generated from `zixly_stack/models` — do not edit; run "
             "`python -m zixly_stack.models.reference`.", ""]
    for m in seen:
        lines += [f"## `{m.__name__}`", "", (m.__doc__ or "").strip().splitlines()[0], "",
                  "| key | type | default | accepts |", "|---|---|---|---|"]
        for name, f in m.model_fields.items():
            key = f.alias or name
            said = _accepts(f.annotation, list(f.metadata), f.description).replace("|", "\\|")
            lines.append(f"| `{key}` | {_type_name(f.annotation)} | {_default(f)} | {said} |")
        lines.append("")
    return "\n".join(lines)


def render_all() -> dict[str, str]:
    """File name -> content of every reference page."""
    return {
        "environment.md": document(Environment, "environment.yaml reference",
                                   "`inventories/<env>/environment.yaml`: one deployment target."),
        "hosts.md": document(Hosts, "hosts.yaml reference", "`inventories/<env>/hosts.yaml`: the machines."),
        "service.md": document(Service, "service.yaml reference",
                               "`services/<name>/service.yaml`: one catalog entry (see docs/catalog-format.md)."),
    }


def main() -> None:
    """Write the reference pages."""
    DOCS.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (DOCS / name).write_text(text)
        sys.stdout.write(f"wrote docs/reference/{name}\n")


if __name__ == "__main__":
    main()
