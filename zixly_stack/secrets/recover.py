"""Rebuilding a lost store from a deployed release. Pure: callers read the release's files.

Contract:

* :func:`from_copy` decrypts the release's copy of the encrypted store
  (``.zixly/secrets.age``, written by every deploy): with a recipient's key it gives the
  store exactly as it was, metadata included.
* :func:`extract` reads values out of the release's secret files (env files, Compose
  secret files, the fingerprint key): the caller renders the environment with a unique
  marker per secret, and each rendered file is matched against the deployed one, markers
  standing for the values. A value is taken only when every place it appears agrees
  (as written, or URL-encoded as in connection URLs); otherwise it is reported, never
  guessed.
* :func:`recover` combines both; :class:`Recovery` lists what it could not recover and
  why. Nothing here generates a value.

Values stay inside :class:`~zixly_stack.secrets.value.Secret`; reports name secrets,
never values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from ..models.secret_spec import SecretSpec
from . import agefile, document
from .document import Entry, now_iso
from .generators import resolve_of
from .identity import Identity
from .value import Secret

_MARKER = re.compile(r"zxrcv(\d{4})q")


def marker(index: int) -> str:
    """The stand-in value of the *index*-th secret in the marker render (survives URL encoding unchanged)."""
    return f"zxrcv{index:04d}q"


def markers(names: list[str]) -> dict[str, Secret]:
    """Marker values for *names* (sorted order), for the caller's render."""
    return {name: Secret(marker(i)) for i, name in enumerate(sorted(names))}


@dataclass
class Recovery:
    """What a release gave back: entries by name, where each came from, and what is missing (name -> why)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    copy: bytes | None = None  # the store copy the entries came from, when it holds exactly them
    copy_keys: int = 0  # how many keys that copy is encrypted to


def from_copy(text: str, identity: Identity | None) -> tuple[dict[str, Entry] | None, str]:
    """The entries of a release's store copy, or None and why it could not be read."""
    if identity is None:
        return None, "no age key is configured to open the release's copy of the store"
    try:
        plaintext = agefile.decrypt(agefile.dearmor(text), identity)
        entries = document.loads(plaintext)
        return entries, ""
    except agefile.NotForYou:
        return None, f"the release's copy of the store is not encrypted to your key {identity.public_keys[0]}"
    except (agefile.Damaged, document.DocumentError) as exc:
        return None, f"the release's copy of the store is unreadable ({exc})"


def _pattern(marked: str) -> tuple[re.Pattern[str], list[int]]:
    """A regex matching the deployed file, one group per marker occurrence (group *k* is secret ``indexes[k]``).

    Occurrences get their own groups: one may be written as is and another URL-encoded.
    """
    parts = _MARKER.split(marked)
    regex: list[str] = []
    indexes: list[int] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            regex.append(re.escape(part))
        else:
            regex.append(f"(?P<g{len(indexes)}>.*?)")
            indexes.append(int(part))
    return re.compile("".join(regex), re.DOTALL), indexes


def extract(marked: Mapping[str, str], deployed: Mapping[str, Secret], names: list[str]
            ) -> tuple[dict[str, Secret], dict[str, str]]:
    """Values of *names* read from *deployed* files by aligning them with the *marked* render of the same paths.

    Returns (values, problems): a problem is a secret whose copies disagree; a secret
    found nowhere is in neither (the caller says why).
    """
    ordered = sorted(names)
    seen: dict[str, set[str]] = {}
    for path, text in marked.items():
        if path not in deployed or not _MARKER.search(text):
            continue
        pattern, indexes = _pattern(text)
        match = pattern.fullmatch(deployed[path].reveal())
        if match is None:
            continue  # the file changed shape since that release (another zixly version): no reading
        for k, index in enumerate(indexes):
            seen.setdefault(ordered[index], set()).add(match.group(f"g{k}"))
    values: dict[str, Secret] = {}
    problems: dict[str, str] = {}
    for name, found in seen.items():
        candidates = {c for e in found for c in (e, unquote(e))}
        fits = [c for c in candidates if c and all(e in (c, quote(c, safe="")) for e in found)]
        if len(fits) == 1:
            values[name] = Secret(fits[0])
        else:
            problems[name] = "its copies in the release files disagree" if not fits else "its value is ambiguous"
    return values, problems


def _why_missing(name: str, specs: Mapping[str, SecretSpec]) -> str:
    hashes = [n for n, s in specs.items() if s.type == "bcrypt" and s.of and resolve_of(n, s.of) == name]
    if hashes:
        return f"only its bcrypt hash ({hashes[0]}) is deployed, not the value"
    return "it is written to no file of the release (zixly's hooks use it through the apps' APIs)"


def recover(
    specs: Mapping[str, SecretSpec],
    copies: list[tuple[str, str]],
    identity: Identity | None,
    marked: Mapping[str, str],
    deployed: Mapping[str, Secret],
) -> Recovery:
    """Combine the store copies (``(where, text)``) and the secret files (see module doc)."""
    out = Recovery()
    for where, text in copies:
        entries, why = from_copy(text, identity)
        if entries is not None:
            out.entries = dict(entries)
            out.source = dict.fromkeys(entries, f"the store copy in {where}")
            out.copy = agefile.dearmor(text)
            out.copy_keys = agefile.parse_header(out.copy).x25519_count
            break
        out.notes.append(f"{where}: {why}")
    values, problems = extract(marked, deployed, list(specs))
    differ = sorted(n for n, v in values.items() if n in out.entries and out.entries[n].value != v)
    if differ:
        out.notes.append(f"the deployed files hold other values than the store copy for {', '.join(differ)}: "
                         "the copy is kept")
    now = now_iso()
    for name, value in values.items():
        if name in out.entries:
            continue
        spec = specs[name]
        of = resolve_of(name, spec.of) if spec.type == "bcrypt" and spec.of else None
        out.entries[name] = Entry(value, spec.type, now, None, of, spec.never_rotate)
        out.source[name] = "the deployed secret files"
        out.copy = None  # the entries are no longer exactly the copy's
    from_store = any(where.startswith("the store copy") for where in out.source.values())
    for name in specs:
        if name in out.entries:
            continue
        if from_store and name not in values:
            out.missing[name] = "the store that release was made with did not have it yet (declared since)"
        else:
            out.missing[name] = problems.get(name) or _why_missing(name, specs)
    return out
