"""What a service declares about each secret it needs (the generator contract)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Model

SecretType = Literal["password", "hex", "base64", "laravel_key", "alnum", "bcrypt", "uuid"]


class SecretSpec(Model):
    """One secret a service needs.

    ``type`` picks the generator; ``length`` is characters for password/alnum and
    bytes for hex/base64. ``of`` names the secret a ``bcrypt`` hash is computed from
    (same service unless dotted ``service.name``). ``never_rotate`` is the reason,
    shown on refusal, why rotating it loses data.
    """

    type: SecretType = "password"
    length: int = Field(default=32, ge=8, le=256)
    of: str | None = None
    never_rotate: str | None = None
    description: str = ""
