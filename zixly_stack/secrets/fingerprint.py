"""Keyed fingerprints of secret content, and the identity of a secrets store.

Contract:

* Every environment's store holds one more secret, :data:`KEY_SECRET` (32 random bytes,
  hex), generated once like any other secret and never rotated.
* :class:`Fingerprinter` computes HMAC-SHA256 with that key. Rendered non-secret files
  that must change when a secret changes (``manifest.json``, the ``org.zixly.files-hash``
  label, Swarm secret names) carry these keyed hashes, never a plain digest of a secret:
  without the key, a keyed hash tells nothing about the value, so it is no guessing aid
  for a password chosen by a user. The key is stable, so an unchanged input gives an
  unchanged fingerprint and a second deploy plans nothing.
* :attr:`Fingerprinter.store_id` (16 hex digits, HMAC of a fixed label) names the store:
  a release records it, so a deploy can tell that the data on a host was made with
  another store. A new store (``secrets init``, a lost one regenerated) has a new key and
  so a new id.
* The key never appears in output; ``repr`` masks it. It reaches hosts only in the 0600
  recovery sheet of each release (so ``zixly secrets recover`` can rebuild the same store).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import final

from ..errors import SecretsError
from ..models.secret_spec import SecretSpec
from .value import MASK, Secret

KEY_SECRET = "zixly.fingerprint_key"
KEY_SPEC = SecretSpec(
    type="hex",
    length=32,
    description="key of the keyed hashes in rendered files; also names this store",
    never_rotate=(
        "it names this secrets store: deployed releases record the store it makes, and a new key makes "
        "every deploy refuse as if the store had been replaced (and recreates every container once)"
    ),
)
STORE_ID_LEN = 16
_STORE_LABEL = b"zixly store id v1"


@final
class Fingerprinter:
    """HMAC-SHA256 with an environment's fingerprint key (see the module docstring)."""

    __slots__ = ("_key",)

    def __init__(self, key: Secret) -> None:
        self._key = key.reveal().encode("utf-8")

    def __repr__(self) -> str:
        return f"Fingerprinter({MASK})"

    def hexdigest(self, text: str | bytes) -> str:
        """Full HMAC-SHA256 of *text* (hex): safe to publish, stable for a given key."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def short(self, text: str | bytes, n: int) -> str:
        """The first *n* hex digits of :meth:`hexdigest`."""
        return self.hexdigest(text)[:n]

    @property
    def store_id(self) -> str:
        """The store's public name (16 hex digits), derived from the key."""
        return self.short(_STORE_LABEL, STORE_ID_LEN)


def fingerprinter(secrets: Mapping[str, Secret]) -> Fingerprinter:
    """The environment's :class:`Fingerprinter` from its secrets (which must hold :data:`KEY_SECRET`)."""
    key = secrets.get(KEY_SECRET)
    if key is None:
        raise SecretsError(f"{KEY_SECRET} is missing from the secrets; it is generated with the others on first use")
    return Fingerprinter(key)


def store_id_of(secrets: Mapping[str, Secret]) -> str | None:
    """The store id of these secrets, or None when they hold no fingerprint key."""
    key = secrets.get(KEY_SECRET)
    return Fingerprinter(key).store_id if key is not None else None
