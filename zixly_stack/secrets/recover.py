"""Rebuilding a lost store from a deployed release. Pure: callers read the release's files.

Contract:

* :func:`from_sheets` reads each host's recovery sheet (``.zixly/recovery.json``, 0600,
  written by every deploy): the values of the secrets of that host's services, hook-only
  ones and the fingerprint key included. All hosts' sheets together give the store back.
* :func:`extract` reads values out of the release's secret files (env files, Compose
  secret files) when a release has no sheet (made by an older zixly): the caller renders
  the environment with a unique marker per secret, and each rendered file is matched
  against the deployed one, markers standing for the values. A value is taken only when
  every place it appears agrees (as written, or URL-encoded as in connection URLs);
  otherwise it is reported, never guessed.
* :func:`recover` combines both into entries (type and never-rotate reason from the
  catalog); :class:`Recovery` lists what it could not recover and why. Nothing here
  generates a value.

Values stay inside :class:`~zixly_stack.secrets.value.Secret`; reports name secrets,
never values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from ..models.secret_spec import SecretSpec
from .document import Entry, now_iso
from .generators import resolve_of
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


def from_sheets(sheets: list[tuple[str, Secret]]) -> tuple[dict[str, tuple[Secret, str]], dict[str, str], list[str]]:
    """Values from recovery sheets (``(where, text)``): ``name -> (value, where)``, conflicts, notes."""
    values: dict[str, tuple[Secret, str]] = {}
    conflicts: dict[str, str] = {}
    notes: list[str] = []
    for where, text in sheets:
        try:
            doc = json.loads(text.reveal())
            found = doc["secrets"]
            assert isinstance(found, dict) and all(isinstance(v, str) for v in found.values())
        except (ValueError, KeyError, TypeError, AssertionError):
            notes.append(f"{where}: the recovery sheet is unreadable")
            continue
        for name, value in found.items():
            if name in values and values[name][0] != Secret(value):
                conflicts[name] = f"the recovery sheets of {values[name][1]} and {where} disagree"
            values.setdefault(name, (Secret(value), where))
    return {n: v for n, v in values.items() if n not in conflicts}, conflicts, notes


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


def _why_missing(name: str, specs: Mapping[str, SecretSpec], sheets: bool) -> str:
    if sheets:
        return "no host's recovery sheet has it (declared since that release, or its host was not read)"
    hashes = [n for n, s in specs.items() if s.type == "bcrypt" and s.of and resolve_of(n, s.of) == name]
    if hashes:
        return f"only its bcrypt hash ({hashes[0]}) is deployed, not the value"
    return "it is written to no file of the release (zixly's hooks use it through the apps' APIs)"


def recover(
    specs: Mapping[str, SecretSpec],
    sheets: list[tuple[str, Secret]],
    marked: Mapping[str, str],
    deployed: Mapping[str, Secret],
) -> Recovery:
    """Combine the recovery sheets (``(where, text)``) and, for what they lack, the secret files (see module doc)."""
    out = Recovery()
    found, conflicts, out.notes = from_sheets(sheets)
    extracted, problems = extract(marked, deployed, list(specs))  # all names: the markers are numbered over them
    now = now_iso()
    for name in sorted(specs):
        spec = specs[name]
        if name in found:
            value, where = found[name][0], f"the recovery sheet in {found[name][1]}"
        elif name in extracted:
            value, where = extracted[name], "the deployed secret files"
        else:
            out.missing[name] = conflicts.get(name) or problems.get(name) or _why_missing(name, specs, bool(sheets))
            continue
        of = resolve_of(name, spec.of) if spec.type == "bcrypt" and spec.of else None
        out.entries[name] = Entry(value, spec.type, now, None, of, spec.never_rotate)
        out.source[name] = where
    return out
