"""Typed secret generators (CSPRNG: the ``secrets`` module) and bcrypt ordering.

Contract of :func:`generate` per :class:`~zixly_stack.models.secret_spec.SecretSpec` ``type``:

============  ================================================================================
password      ``length`` chars of ``[A-Za-z0-9_-]``; starts and ends with a letter or digit and
              has a lower-case letter, an upper-case letter and a digit. No quotes, ``$``,
              spaces, ``#``, ``%`` or ``@``: safe unquoted in env files, URLs and YAML.
hex           ``length`` random bytes as ``2*length`` lower-case hex digits.
base64        ``length`` random bytes, standard base64 with padding.
laravel_key   ``base64:`` + standard base64 of 32 random bytes (Laravel ``APP_KEY``).
alnum         ``length`` chars of ``[A-Za-z0-9]`` only (e.g. Chatwoot ``SECRET_KEY_BASE``,
              which the catalog declares with ``length: 128``).
bcrypt        bcrypt hash (cost 12, ``$2b$``) of the secret named by ``of``; ``of`` is
              relative to the secret's service unless dotted (``svc.name``). Put it into a
              Compose file through :func:`compose_escape` (``$`` -> ``$$``).
uuid          a random UUID4, canonical lower-case form.
============  ================================================================================

:func:`generation_order` sorts secrets so a bcrypt hash comes after its source and
reports a missing or cyclic ``of`` as a :class:`~zixly_stack.errors.ConfigError`.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping

import bcrypt

from ..errors import ConfigError, Location, Problem
from ..models.secret_spec import SecretSpec
from .value import Secret

BCRYPT_COST = 12
BCRYPT_MAX_BYTES = 72
ALNUM = string.ascii_letters + string.digits
PASSWORD_ALPHABET = ALNUM + "-_"
LARAVEL_KEY_BYTES = 32

#: A full secret name: ``<service>.<name>`` (lower-case, digits, ``_``/``-``; more dots allowed).
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")


def compose_escape(value: str) -> str:
    """Escape a value for a Compose file: every ``$`` becomes ``$$`` (no interpolation)."""
    return value.replace("$", "$$")


def resolve_of(name: str, of: str) -> str:
    """Full name of a bcrypt source: ``of`` as given if dotted, else in ``name``'s service."""
    if "." in of:
        return of
    service = name.split(".", 1)[0]
    return f"{service}.{of}"


def _random_chars(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _password(length: int) -> str:
    # Rejection sampling keeps the distribution uniform over the accepted set.
    while True:
        value = _random_chars(PASSWORD_ALPHABET, length)
        if (
            value[0] in ALNUM
            and value[-1] in ALNUM
            and any(c.islower() for c in value)
            and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value)
        ):
            return value


def _bcrypt(source: Secret) -> str:
    raw = source.reveal().encode("utf-8")
    if len(raw) > BCRYPT_MAX_BYTES:
        raise ValueError(f"bcrypt source is longer than {BCRYPT_MAX_BYTES} bytes")
    return bcrypt.hashpw(raw, bcrypt.gensalt(BCRYPT_COST)).decode("ascii")


_SIMPLE: dict[str, Callable[[int], str]] = {
    "password": _password,
    "alnum": lambda n: _random_chars(ALNUM, n),
    "hex": secrets.token_hex,
    "base64": lambda n: base64.b64encode(secrets.token_bytes(n)).decode("ascii"),
    "laravel_key": lambda _n: "base64:" + base64.b64encode(secrets.token_bytes(LARAVEL_KEY_BYTES)).decode(),
    "uuid": lambda _n: str(uuid.uuid4()),
}


def generate(name: str, spec: SecretSpec, existing: Mapping[str, Secret]) -> Secret:
    """Generate a fresh value for ``name`` per ``spec``.

    ``existing`` supplies the source of a ``bcrypt`` secret (see :func:`resolve_of`);
    a missing source raises :class:`ConfigError` (call :func:`generation_order` first).
    """
    if spec.type != "bcrypt":
        return Secret(_SIMPLE[spec.type](spec.length))
    if not spec.of:
        raise _spec_error(name, "type bcrypt needs 'of:' naming the secret to hash")
    source_name = resolve_of(name, spec.of)
    source = existing.get(source_name)
    if source is None:
        raise _spec_error(name, f"bcrypt source '{source_name}' is not available (generate it first)")
    try:
        return Secret(_bcrypt(source))
    except ValueError as exc:
        raise _spec_error(name, f"cannot hash '{source_name}': {exc}") from None


def generation_order(specs: Mapping[str, SecretSpec], available: set[str] | frozenset[str]) -> list[str]:
    """Names of ``specs`` sorted so every bcrypt secret follows its source.

    A source may be another spec or a name in ``available`` (already stored). All
    problems (missing ``of``, unknown source, cycle, source too long for bcrypt) are
    reported at once as one :class:`ConfigError`. Order is otherwise alphabetical.
    """
    problems: list[Problem] = []
    deps: dict[str, str | None] = {}
    for name in sorted(specs):
        spec = specs[name]
        deps[name] = None
        if spec.type != "bcrypt":
            continue
        if not spec.of:
            problems.append(_problem(name, "type bcrypt needs 'of:' naming the secret to hash"))
            continue
        source = resolve_of(name, spec.of)
        if source in specs:
            deps[name] = source
            src_spec = specs[source]
            if src_spec.type in ("password", "alnum") and src_spec.length > BCRYPT_MAX_BYTES:
                problems.append(_problem(name, f"source '{source}' is longer than bcrypt's 72 bytes"))
        elif source not in available:
            problems.append(_problem(name, f"bcrypt source '{source}' is not a declared secret"))
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*chain[chain.index(name) :], name]
            problems.append(_problem(name, "bcrypt 'of' cycle: " + " -> ".join(cycle)))
            return
        state[name] = 1
        dep = deps.get(name)
        if dep is not None:
            visit(dep, [*chain, name])
        state[name] = 2
        order.append(name)

    for name in sorted(specs):
        visit(name, [])
    if problems:
        raise ConfigError(problems=problems)
    return order


def _problem(name: str, message: str) -> Problem:
    service, _, short = name.partition(".")
    return Problem(Location(f"services/{service}/service.yaml"), f"secrets.{short or name}", message)


def _spec_error(name: str, message: str) -> ConfigError:
    return ConfigError(problems=[_problem(name, message)])
