"""A host's rendered release read back: its compose documents, its manifest and its projects.

The lowest floor of :mod:`zixly_stack.plan`: the plan (:mod:`.compute`) and the drift check
(:mod:`.drift`, which the plan calls) both read a release this way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import yaml

from ..render.tree import RenderedFile

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_compose(text: str | None) -> dict[str, Any] | None:
    """A compose file's document (shared: do not mutate), or None when absent or unreadable."""
    if text is None:
        return None
    return _parse(text)


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> dict[str, Any] | None:
    try:
        doc = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, dict) else None


def manifest_of(files: Mapping[str, RenderedFile]) -> dict[str, Any]:
    """The host's rendered ``manifest.json``."""
    f = files.get("manifest.json")
    doc = json.loads(f.text) if f is not None else {}
    return doc if isinstance(doc, dict) else {}


def projects_of(files: Mapping[str, RenderedFile]) -> list[tuple[str, str]]:
    """``(directory, compose project)`` in deploy order (the manifest's ``projects``)."""
    by_name: dict[str, str] = {}
    for path, f in files.items():
        parts = path.split("/")
        if len(parts) == 2 and parts[1] == "compose.yaml":
            doc = load_compose(f.text) or {}
            by_name[str(doc.get("name", parts[0]))] = parts[0]
    order = [str(p) for p in manifest_of(files).get("projects", [])]
    order += sorted(set(by_name) - set(order))
    return [(by_name[p], p) for p in order if p in by_name]
