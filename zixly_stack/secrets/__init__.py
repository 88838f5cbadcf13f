"""Secrets: generated once per environment, age-encrypted in git, never printed.

Public API:

* :class:`Secret` — a string that masks itself (``********``); ``.reveal()``, ``.fingerprint()``.
* :func:`generate`, :func:`generation_order`, :func:`compose_escape` — typed generators.
* :class:`SecretStore` — ``inventories/<env>/secrets.age`` + ``recipients.txt``.
* :class:`Identity`, :func:`load_identity`, :func:`ensure_identity` — the age private key.
* :func:`json_default`, :func:`redact` — masking helpers for JSON and foreign text.
"""

from .generators import compose_escape, generate, generation_order
from .identity import Identity, default_key_path, ensure_identity, load_identity
from .store import SecretStore
from .value import MASK, Secret, json_default, redact

__all__ = [
    "MASK",
    "Identity",
    "Secret",
    "SecretStore",
    "compose_escape",
    "default_key_path",
    "ensure_identity",
    "generate",
    "generation_order",
    "json_default",
    "load_identity",
    "redact",
]
