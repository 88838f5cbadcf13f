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
    """Generator: `password`, `hex`, `base64`, `laravel_key`, `alnum`, `bcrypt` (a hash of `of`), `uuid`."""
    length: int = Field(examples=[64], default=32, ge=8, le=256)
    """Characters (password, alnum) or bytes (hex, base64)."""
    of: str | None = Field(default=None, examples=["owner_password"])
    """`type: bcrypt`: the secret it hashes (this service's, or `svc.name`)."""
    never_rotate: str | None = Field(default=None,
        examples=["credentials stored in the database could not be decrypted"])
    """Why rotating it loses data (shown when a rotation is refused)."""
    description: str = Field(default="", examples=["the owner's password"])
    """What the secret is for."""
