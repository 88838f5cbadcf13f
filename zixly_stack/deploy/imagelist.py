"""Every image an environment runs, where it comes from, and how to move them without a registry.

* :func:`image_rows` — per placed container: the catalog's pinned upstream image, the
  reference the environment actually runs (upstream, mirror, or the offline kit's
  ``zixly-offline/<name>:<version>``), its source and whether it is a labelled stand-in.
  Pure given the loaded environment (the kit's recipes are read from ``images/``).
* :func:`engine_state` — for those references, whether this machine's engine holds
  them and, for kit images, whether they are built from the current recipe.
* :func:`save` — ``docker save`` of the environment's images into one tar (``.gz``
  compressed when the name says so), the air-gapped transfer file.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..commands import docker as dk
from ..errors import ApplyError
from ..images import is_current, list_recipes
from ..images.recipes import image_for
from ..project import Loaded, image_mapper
from ..runner import LocalRunner
from .images import local_image_ids


@dataclass(frozen=True)
class ImageRow:
    """One container's image."""

    host: str
    service: str
    container: str
    upstream: str
    ref: str
    source: str  # upstream | mirror | offline kit | upstream (no kit recipe)
    standin: bool
    recipe: str = ""


def image_rows(loaded: Loaded) -> list[ImageRow]:
    """Every placed container's image (see module doc)."""
    settings = loaded.config.environment.images
    mapper = image_mapper(loaded)
    rows = []
    for placed in loaded.stack.placements:
        for cname, c in placed.service.containers.items():
            mapped = mapper(c.image)
            recipe = ""
            if settings.source == "offline":
                r = image_for(c.image.ref, loaded.root / "images")
                source = "offline kit" if r is not None else "upstream (no kit recipe)"
                recipe = r.name if r is not None else ""
            else:
                source = "mirror" if settings.source == "mirror" else "upstream"
            rows.append(
                ImageRow(
                    placed.host, placed.service.name, cname, c.image.ref, mapped.ref, source, mapped.standin, recipe
                )
            )
    return rows


def refs(rows: Iterable[ImageRow], host: str | None = None) -> list[str]:
    """Distinct references (of one host, or all), sorted."""
    return sorted({r.ref for r in rows if host is None or r.host == host})


def engine_state(rows: Iterable[ImageRow]) -> dict[str, str]:
    """``ref -> present | missing | outdated`` (outdated: a kit image built from an older recipe)."""
    rows = list(rows)
    have = local_image_ids(refs(rows))
    recipes = {r.name: r for r in list_recipes()}
    current = {name: is_current(recipes[name]) for name in {r.recipe for r in rows if r.recipe in recipes}}
    out = {}
    for row in rows:
        if row.ref not in have:
            out[row.ref] = "missing"
        elif row.recipe and not current.get(row.recipe, True):
            out[row.ref] = "outdated"
        else:
            out[row.ref] = "present"
    return out


def save(image_refs: list[str], out: Path) -> int:
    """``docker save`` *image_refs* into *out* (gzip when it ends in ``.gz``); returns its size."""
    missing = [r for r in image_refs if r not in local_image_ids(image_refs)]
    if missing:
        raise ApplyError(
            "not in this machine's engine: " + ", ".join(missing) + " (build the offline kit or pull them first)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    try:
        with gzip.open(tmp, "wb", compresslevel=1) if out.name.endswith(".gz") else open(tmp, "wb") as fh:
            res = LocalRunner().stream(dk.image_save(image_refs), sink=fh.write, timeout=3600,
                                       read=True)
        if not res.ok:
            raise ApplyError(f"docker save failed: {res.tail(300)}")
        tmp.replace(out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out.stat().st_size
