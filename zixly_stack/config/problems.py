"""Turn pydantic validation errors into located, human :class:`Problem` s."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from ..errors import Problem
from ..models.patterns import pattern_hint
from .yamlsrc import PathT, Positions, dotted, shown


def _unwrap(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_unwrap(arg))
        return out
    return [tp]


def fields_at(model: type[BaseModel], path: PathT) -> list[str]:
    """Names a model accepts at ``path`` (for did-you-mean on unknown keys)."""
    candidates: list[Any] = [model]
    for part in path:
        nxt: list[Any] = []
        for cand in candidates:
            for tp in _unwrap(cand):
                origin = typing.get_origin(tp)
                if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
                    field = tp.model_fields.get(part)
                    if field is None:
                        field = next((f for f in tp.model_fields.values() if f.alias == part), None)
                    if field is not None:
                        nxt.append(field.annotation)
                elif origin is dict:
                    nxt.append(typing.get_args(tp)[1])
                elif origin is list and isinstance(part, int):
                    nxt.append(typing.get_args(tp)[0])
        candidates = nxt
    names: list[str] = []
    for cand in candidates:
        for tp in _unwrap(cand):
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                names.extend(f.alias or n for n, f in tp.model_fields.items())
    return sorted(set(names))


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """``did you mean 'x'?`` or ``""``."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else ""


def _message(err: Any) -> tuple[str, str]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    given = shown(value)
    if kind == "missing":
        return "required key is missing", "add it"
    if kind == "zixly":  # a bounded type (models/types.py) says what it got and what it expects
        return str(ctx.get("message", "invalid value")), str(ctx.get("hint", ""))
    if kind == "string_pattern_mismatch":
        return f"invalid value {given}", pattern_hint(str(ctx.get("pattern")))
    if kind == "literal_error":
        return f"invalid value {given}", f"expected one of {ctx.get('expected')}"
    if kind in ("int_parsing", "int_type", "float_parsing", "float_type", "int_from_float"):
        return f"expected a number, got {given}", ""
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false, got {given}", ""
    if kind in ("string_type",):
        return f"expected a string, got {given}", "quote the value"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping, got {given}", ""
    if kind in ("list_type",):
        return f"expected a list, got {given}", ""
    if kind in ("too_short",):
        return "must not be empty", ""
    if kind in ("less_than_equal", "less_than"):
        return f"{given} is too large", f"maximum {ctx.get('le', ctx.get('lt'))}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{given} is too small", f"minimum {ctx.get('ge', ctx.get('gt'))}"
    if kind == "string_too_short":
        return f"{given} is too short", f"at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"{given} is too long", f"at most {ctx.get('max_length')} characters"
    msg = str(err.get("msg", "invalid value"))
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return msg[0].lower() + msg[1:], ""


def _data_path(raw: tuple[Any, ...], data: Any) -> PathT:
    """Keep the parts of a pydantic ``loc`` that exist in ``data`` (drops union tags)."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(raw):
        last = i == len(raw) - 1
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif last and isinstance(node, dict):  # a missing key; anything else is a union member's tag
            out.append(part)
    return tuple(out)


_TYPE_ERRORS = {"list_type": "a list", "string_type": "a string", "dict_type": "a mapping", "model_type": "a mapping",
                "int_type": "a number", "int_parsing": "a number", "bool_type": "true or false"}


def _one_per_path(found: list[tuple[str, Problem]]) -> list[Problem]:
    """A union reports one error per member: keep the member that had the right type, or merge the type errors."""
    deeper = {p.path for _, p in found}
    found = [(kind, p) for kind, p in found  # a member that went deeper had the right type: drop the others
             if not (kind in _TYPE_ERRORS and any(d.startswith((p.path + ".", p.path + "[")) for d in deeper))]
    by_path: dict[tuple[object, str], list[tuple[str, Problem]]] = {}
    for kind, problem in found:
        by_path.setdefault((problem.loc, problem.path), []).append((kind, problem))
    out: list[Problem] = []
    for group in by_path.values():
        if len(group) == 1:
            out.append(group[0][1])
            continue
        typed = [p for kind, p in group if kind not in _TYPE_ERRORS]
        if typed:
            out.extend(dict.fromkeys(typed))
            continue
        first = group[0][1]
        wanted = " or ".join(dict.fromkeys(_TYPE_ERRORS[kind] for kind, _ in group))
        got = first.message.rpartition(", got ")[2]
        out.append(Problem(first.loc, first.path, f"expected {wanted}, got {got}", first.hint))
    return out


def problems_from(
    exc: ValidationError, model: type[BaseModel], pos: Positions, data: Any, prefix: PathT = ()
) -> list[Problem]:
    """One Problem per pydantic error, located via ``pos``; ``prefix`` is prepended to paths."""
    out: list[tuple[str, Problem]] = []
    for err in exc.errors():
        raw = tuple(err["loc"])
        on_key = bool(raw) and raw[-1] == "[key]"  # a mapping key (a host name...) was refused
        loc = _data_path(raw[:-1] if on_key else raw, data)
        full = (*prefix, *loc)
        if err["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            hint = did_you_mean(key, fields_at(model, loc[:-1]))
            allowed = fields_at(model, loc[:-1])
            if not hint and allowed:
                hint = "allowed: " + ", ".join(allowed)
            out.append((err["type"], Problem(pos.loc(full, key=True), dotted(full), "unknown key", hint)))
            continue
        message, hint = _message(err)
        out.append((err["type"], Problem(pos.loc(full, key=on_key), dotted(full), message, hint)))
    return _one_per_path(out)
