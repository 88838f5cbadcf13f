"""Generate the configuration reference (every key, type, default) from the models.

``python -m zixly_stack.models.reference`` rewrites ``docs/reference/*.md``; a test fails when
the committed reference is stale, so docs and schema cannot drift apart.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .environment import Environment, Hosts
from .service import Service

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


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(see below)"
    return f"`{value!r}`" if value not in ([], {}) else "`[]`" if value == [] else "`{}`"


def document(root: type[BaseModel], title: str, intro: str) -> str:
    """Markdown for ``root`` and every nested model, breadth-first."""
    seen: list[type[BaseModel]] = []
    queue = [root]
    while queue:
        m = queue.pop(0)
        if m in seen:
            continue
        seen.append(m)
        for f in m.model_fields.values():
            queue.extend(_models(f.annotation))
    lines = [f"# {title}", "", intro, "", "Generated from `zixly_stack/models` — do not edit; run "
             "`python -m zixly_stack.models.reference`.", ""]
    for m in seen:
        lines += [f"## `{m.__name__}`", "", (m.__doc__ or "").strip().splitlines()[0], "",
                  "| key | type | default |", "|---|---|---|"]
        for name, f in m.model_fields.items():
            key = f.alias or name
            lines.append(f"| `{key}` | {_type_name(f.annotation)} | {_default(f)} |")
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
