"""Shared model base: frozen, extra keys forbidden, so typos are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base for every config model."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
