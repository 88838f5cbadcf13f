"""Where the age private key comes from.

Resolution order (first that is set wins; an explicit setting that is broken is an
error, never a silent fall-through to the next one):

1. ``ZIXLY_AGE_KEY`` — the key itself (``AGE-SECRET-KEY-...``; several keys may be
   given one per line; ``#`` comment lines ignored), e.g. from a CI secret.
2. ``ZIXLY_AGE_KEY_FILE`` — path of a key file in ``age-keygen`` format.
3. The per-user key file ``$XDG_CONFIG_HOME/zixly/age.key`` (default
   ``~/.config/zixly/age.key``).

:func:`load_identity` never creates anything. :func:`ensure_identity` creates the
per-user key file (mode 0600, directory 0700) if nothing is configured; only
``zixly secrets init`` and ``zixly up`` (the local environment) call it.
Error messages never contain key material.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage

from ..errors import SecretsError
from .value import Secret

ENV_KEY = "ZIXLY_AGE_KEY"
ENV_KEY_FILE = "ZIXLY_AGE_KEY_FILE"
_SECRET_PREFIX = "AGE-SECRET-KEY-"  # the bech32 prefix every age X25519 secret key has


@dataclass(frozen=True)
class Identity:
    """One or more age X25519 private keys and where they came from.

    ``keys`` stay wrapped in :class:`Secret`; ``public_keys`` (``age1...``) and
    ``source`` (e.g. ``ZIXLY_AGE_KEY_FILE=/path``) are safe to print.
    """

    keys: tuple[Secret, ...]
    public_keys: tuple[str, ...]
    source: str

    @classmethod
    def from_text(cls, text: str, source: str) -> Identity:
        """Parse ``age-keygen`` output: blank and ``#`` lines ignored, one key per other line."""
        keys: list[Secret] = []
        publics: list[str] = []
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not line.upper().startswith(_SECRET_PREFIX):
                raise SecretsError(
                    f"{source}: line {lineno} is not an age X25519 secret key "
                    f"(expected a line starting with {_SECRET_PREFIX}; other identity types are not supported)"
                )
            try:
                key = pyrage.x25519.Identity.from_str(line)
            except pyrage.IdentityError:
                raise SecretsError(f"{source}: line {lineno} is not a valid age secret key") from None
            keys.append(Secret(line))
            publics.append(str(key.to_public()))
        if not keys:
            raise SecretsError(f"{source}: contains no age secret key ({_SECRET_PREFIX}...)")
        return cls(tuple(keys), tuple(publics), source)

    @classmethod
    def generate(cls, source: str = "generated") -> Identity:
        """A fresh single X25519 key (tests, :func:`ensure_identity`)."""
        key = pyrage.x25519.Identity.generate()
        return cls((Secret(str(key)),), (str(key.to_public()),), source)

    def age_identities(self) -> list[Any]:
        """The keys as ``pyrage.x25519.Identity`` objects, for ``pyrage.decrypt``."""
        return [pyrage.x25519.Identity.from_str(k.reveal()) for k in self.keys]

    def key_file_text(self) -> str:
        """The identity in ``age-keygen`` file format (reveals the keys: write it 0600 only)."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [f"# created: {now}"]
        for key, public in zip(self.keys, self.public_keys, strict=True):
            lines += [f"# public key: {public}", key.reveal()]
        return "\n".join(lines) + "\n"


def default_key_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/zixly/age.key``, or ``~/.config/zixly/age.key`` if unset or relative."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path(env.get("HOME") or Path.home()) / ".config"
    return base / "zixly" / "age.key"


def load_identity(environ: Mapping[str, str] | None = None) -> Identity | None:
    """The configured identity, or ``None`` if none is configured and the per-user file is absent.

    Raises :class:`SecretsError` if a configured source is unreadable or malformed.
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_KEY, "").strip():
        return Identity.from_text(env[ENV_KEY], ENV_KEY)
    if env.get(ENV_KEY_FILE, ""):
        path = Path(env[ENV_KEY_FILE]).expanduser()
        return _read_key_file(path, f"{ENV_KEY_FILE}={path}")
    path = default_key_path(env)
    if not path.exists():
        return None
    return _read_key_file(path, str(path))


def ensure_identity(environ: Mapping[str, str] | None = None) -> Identity:
    """Return the configured identity, creating the per-user key file if there is none.

    The file is created exclusively (never overwritten) with mode 0600 in a 0700 directory.
    """
    env = os.environ if environ is None else environ
    existing = load_identity(env)
    if existing is not None:
        return existing
    path = default_key_path(env)
    identity = Identity.generate(source=str(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # created concurrently: use that one
        return _read_key_file(path, str(path))
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(identity.key_file_text())
        fh.flush()
        os.fsync(fh.fileno())
    return identity


def _read_key_file(path: Path, source: str) -> Identity:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretsError(f"{source}: age key file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretsError(f"{source}: cannot read age key file ({type(exc).__name__})") from None
    return Identity.from_text(text, source)
