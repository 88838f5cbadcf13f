"""The :class:`Secret` value type: a string that never shows itself.

Contract:

* ``str()``, ``repr()``, ``format()``/f-strings, ``%``-formatting, logging, exception
  text, rich output and JSON (via :func:`json_default` or a pydantic model) all give
  :data:`MASK` (``********``), never the value.
* :meth:`Secret.reveal` is the one way to get the value; grep for it to audit every
  place a secret leaves the type (env files on hosts, the age store, ``show --reveal``).
* :meth:`Secret.fingerprint` is safe to print: the first 12 hex digits of SHA-256.
* Immutable; equality and hash by value (constant-time compare); ``Secret`` never
  equals a plain ``str``. Pickling is refused; ``copy``/``deepcopy`` return the same object.
* It is deliberately **not** a ``str`` subclass, so ``"".join``, ``str`` methods, C
  extensions and ``json.dumps`` without ``default=`` cannot read it by accident.

:func:`redact` is the safety net for text that came from elsewhere (pyinfra diffs,
subprocess output): it replaces every known secret value in a string by the mask.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn, final

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

MASK = "********"

#: Secrets shorter than this are not redacted inside free text (too many false hits).
_REDACT_MIN_LEN = 4


@final
class Secret:
    """An immutable secret string that masks itself everywhere; see the module docstring."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            # The message names the type only: never the (possibly secret) input.
            raise TypeError(f"Secret() needs a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    # -- the only ways in ------------------------------------------------------------
    def reveal(self) -> str:
        """Return the clear value. Every call site is a place a secret leaves the type."""
        return self._value

    def fingerprint(self) -> str:
        """First 12 hex digits of SHA-256 of the value: safe to print, stable across runs."""
        return hashlib.sha256(self._value.encode("utf-8")).hexdigest()[:12]

    # -- masking ---------------------------------------------------------------------
    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __format__(self, format_spec: str) -> str:
        return format(MASK, format_spec)

    def __rich__(self) -> str:
        return MASK

    def __rich_repr__(self) -> Iterator[str]:
        yield MASK

    # -- value semantics -------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8"), other._value.encode("utf-8"))

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(("zixly.Secret", self._value))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("Secret values cannot be pickled; call .reveal() deliberately if you must")

    def __reduce__(self) -> NoReturn:
        raise TypeError("Secret values cannot be pickled; call .reveal() deliberately if you must")

    # -- pydantic --------------------------------------------------------------------
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """Accept a ``Secret`` or a ``str`` (wrapped); JSON output is always the mask.

        ``model_dump()`` (python mode) keeps the ``Secret`` object, which still masks
        itself; ``model_dump(mode="json")`` and ``model_dump_json()`` give ``********``.
        """
        return core_schema.no_info_plain_validator_function(
            _validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize, info_arg=True, when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "password", "writeOnly": True}


def _validate(value: object) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise TypeError(f"expected a secret string, got {type(value).__name__}")


def _serialize(value: Secret, info: core_schema.SerializationInfo) -> Secret | str:
    return MASK if info.mode_is_json() else value


def json_default(obj: object) -> str:
    """``json.dumps(data, default=json_default)``: masks :class:`Secret`, rejects other unknowns."""
    if isinstance(obj, Secret):
        return MASK
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """Replace every occurrence of each secret value (and its Compose-escaped ``$$`` form) by the mask.

    Longest values first, so a secret containing another is masked whole. Values shorter
    than 4 characters are skipped (they would mask unrelated text).
    """
    needles: set[str] = set()
    for secret in secrets:
        value = secret.reveal()
        if len(value) >= _REDACT_MIN_LEN:
            needles.add(value)
            needles.add(value.replace("$", "$$"))
    for needle in sorted(needles, key=len, reverse=True):
        text = text.replace(needle, MASK)
    return text
