"""Turn pydantic validation errors into located, human :class:`Problem` s."""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from ..errors import Problem
from .yamlsrc import PathT, Positions

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


def shown(value: object) -> str:
    """A user value for a message: ``repr`` (control characters escaped), at most 80 characters."""
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:77] + "...")
    if value is None:
        return "nothing (null)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a number with about " + str(int(value.bit_length() * 0.30103) + 1) + " digits"
    return repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__


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


PATTERN_HINTS = {
    "^[0-9]+(k|m|g)$": "a size such as 512m or 2g",
    "^[0-9]+(ms|s|m|h)$": "a duration such as 30s or 5m",
    "localhost": "a lowercase DNS name such as example.com",
    "^[a-z][a-z0-9-]{0,30}[a-z0-9]$": "lowercase letters, digits and '-', starting with a letter",
    "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$": "a DNS label: lowercase letters, digits and '-'",
    "^/([A-Za-z0-9_~-][A-Za-z0-9._~-]*/?)*$": (
        "a path prefix such as /api/: segments of letters, digits, '.', '_', '~', '-', no '..' or '//'"
    ),
    "^/": "an absolute path starting with '/'",
    "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$": "an image tag such as 1.2.3",
    "^https?://": "an http(s):// URL",
    "@": "an e-mail address",
    "^sha256:": "a digest sha256:<64 hex digits>",
    "^([01][0-9]|2[0-3]):[0-5][0-9]$": "a time of day HH:MM",
    "^zixly_stack": "a hook function such as zixly_stack.hooks.n8n:ensure_owner",
    "^[a-z0-9][a-z0-9._/:-]*[a-z0-9]$": "an image repository such as n8nio/n8n or registry.example.com/team/app",
}


def pattern_hint(pattern: str) -> str:
    """``expected <words>`` for a regex pattern (known patterns in words, others as the regex)."""
    for key, text in PATTERN_HINTS.items():
        if pattern == key or key in pattern:
            return f"expected {text}"
    return f"expected to match {pattern}"


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
