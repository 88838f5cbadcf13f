"""Shared model base: frozen, extra keys forbidden, so typos are errors."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError


def _numbers_only(annotation: Any) -> bool:
    """True when a field takes int/float (possibly optional) but not bool."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _numbers_only(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(_numbers_only(a) for a in args)
    return annotation in (int, float)


class Model(BaseModel):
    """Base for every config model."""

    # A field's docstring (the string literal right under it) is its description: the reference
    # in docs/reference/ and the sample files are generated from them.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``port: true`` is a slip, not port 1: numbers never come from true/false."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _numbers_only(field.annotation):
            raise PydanticCustomError("zixly", "{message}", {"message": f"expected a number, got {str(value).lower()}",
                                                             "hint": ""})
        return value
