"""The configuration reference and sample files, generated from the models.

Every field a user writes carries a description (its docstring, ``use_attribute_docstrings``)
and, where a default does not say it, ``examples=``. :func:`document` turns a model into
Markdown (each key's type, default, example, meaning, what it accepts and the rules that judge
it); :func:`sample` into a complete commented YAML file. ``python -m zixly_stack.catalog.reference``
writes both into ``docs/reference/``; a test fails when they are stale.
"""

from __future__ import annotations

import re
import textwrap
import types
import typing
from collections.abc import Callable
from typing import Any, Union

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .environment import Environment, Hosts
from .patterns import pattern_hint
from .service import Service
from .types import accepts

GENERATED = "Generated from `zixly_stack/models` — do not edit; run `python -m zixly_stack.catalog.reference`."


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


def _accepts(tp: Any, metadata: list[Any] | None = None) -> str:
    """What a field accepts, in words: the type's own bounds, then those of its items/keys/values."""
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
    """The default as inline YAML; ``(see below)`` for a nested model."""
    if field.default is PydanticUndefined and field.default_factory is None:
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(see below)"
    return f"`{_inline(value)}`".replace("|", "\\|")


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


def _example(field: FieldInfo) -> str:
    """The field's first example as inline YAML, or ``""``."""
    if not field.examples:
        return ""
    text = yaml.safe_dump(field.examples[0], default_flow_style=True, width=10_000, sort_keys=False).strip()
    return f"`{text.removesuffix(chr(10) + '...')}`"


def _meaning(field: FieldInfo, rules: list[str]) -> str:
    """Description, then what it accepts and the rules that judge it."""
    parts = [field.description or ""]
    accepted = _accepts(field.annotation, list(field.metadata))
    if accepted:
        parts.append(f"Accepts: {accepted.rstrip('.')}.")
    if rules:
        parts.append("Rules: " + ", ".join(f"[`{r}`](rules.md#{r})" for r in rules) + ".")
    return " ".join(p for p in parts if p).replace("|", "\\|").replace("\n", " ")


RulesOf = Callable[[str], list[str]]


def document(root: type[BaseModel], title: str, intro: str, rules_of: RulesOf = lambda key: []) -> str:
    """Markdown for ``root`` and every nested model, breadth-first: each key's type, default,
    example and meaning (its description, what it accepts, the rules that apply: ``rules_of``
    gets ``"Model.field"``)."""
    lines = [f"# {title}", "", intro, "", GENERATED, ""]
    for m in reachable(root):
        lines += [f"## `{m.__name__}`", "", (m.__doc__ or "").strip().splitlines()[0], "",
                  "| key | type | default | example | meaning |", "|---|---|---|---|---|"]
        for name, f in m.model_fields.items():
            key = f.alias or name
            meaning = _meaning(f, rules_of(f"{m.__name__}.{name}"))
            example = _example(f).replace("|", "\\|")
            lines.append(f"| `{key}` | {_type_name(f.annotation)} | {_default(f)} | {example} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


# Optional keys a sample leaves at their default: their example contradicts the sample's other
# values (a local backup target has no url; upstream images use no mirror).
DEFAULT_IN_SAMPLE = frozenset({"BackupTarget.url", "Images.mirror"})


def _default_value(field: FieldInfo) -> Any:
    """The field's default as data; a model default as the keys it sets differently from its model's."""
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_defaults=True)
    return None if value is PydanticUndefined else value


def _model_of(tp: Any) -> tuple[str, type[BaseModel]] | None:
    """``("one", M)`` for a field of model M (optional or not), ``("map", M)`` for ``dict[str, M]``."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "one", tp
    if typing.get_origin(tp) in (Union, types.UnionType) and len(args) == 1:
        return _model_of(args[0])
    if typing.get_origin(tp) is dict:
        inner = _model_of(args[1])
        return ("map", inner[1]) if inner else None
    return None


def _inline(value: Any) -> str:
    """``value`` as one line of YAML (flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...").strip()


def _sample_value(model: type[BaseModel], name: str, f: FieldInfo, given: dict[str, Any] | None,
                  example_section: bool) -> Any:
    key = f.alias or name
    if given is not None and key in given:
        return given[key]
    if f.examples and not example_section and f"{model.__name__}.{name}" not in DEFAULT_IN_SAMPLE:
        return f.examples[0]
    return _default_value(f)


def sample_lines(model: type[BaseModel], given: dict[str, Any] | None = None, indent: str = "",
                 example_section: bool = False) -> list[str]:
    """YAML of ``model`` with every key, a ``#`` comment with its description above each.

    A key's value: what ``given`` sets, else (in a section that is not itself an example) the
    field's first example, else its default. Nested models are spelled out key by key; a section
    taken from an example (``example_section``) keeps the defaults of the keys it does not set.
    """
    out: list[str] = []
    for name, f in model.model_fields.items():
        key = f.alias or name
        value = _sample_value(model, name, f, given, example_section)
        from_example = example_section or ((given is None or key not in given) and bool(f.examples))
        out += [f"{indent}# {line}" for line in textwrap.wrap(f.description or "", 96)]
        nested = _model_of(f.annotation)
        if nested and nested[0] == "one" and isinstance(value, dict):
            out += [f"{indent}{key}:", *sample_lines(nested[1], value, indent + "  ", from_example)]
        elif nested and nested[0] == "map" and isinstance(value, dict) and value:
            out.append(f"{indent}{key}:")
            for k, v in value.items():
                out += ([f"{indent}  {k}:", *sample_lines(nested[1], v, indent + "    ", True)]
                        if isinstance(v, dict) else [f"{indent}  {k}: {_inline(v)}"])
        else:
            out.append(f"{indent}{key}: {_inline(value)}")
    return out


def sample(model: type[BaseModel], title: str) -> str:
    """A complete sample file for ``model`` (see :func:`sample_lines`)."""
    head = [f"# {title}", f"# {GENERATED.replace('`', '')}", ""]
    return "\n".join(head + sample_lines(model)) + "\n"
