"""This machine's own environment (``zixly up`` / ``zixly down``): kit images it needs, teardown.

* :func:`kit_names` — the offline-kit recipes the rendered compose files reference
  (``zixly-offline/<name>:<version>``), so ``zixly up`` builds only those.
* :func:`images_outside_kit` — images that are neither kit images nor in the engine
  (they would need a registry).
* :func:`down` — ``docker compose -p <project> down`` for each project of the
  environment in reverse deploy order, volumes kept unless asked; the release files stay
  so the next ``zixly up`` recreates the same containers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..commands import docker as dk
from ..images.recipes import TAG_PREFIX, list_recipes
from ..plan.release_files import load_compose
from ..render.tree import RenderedFile
from ..runner import LocalRunner


def image_refs(files: Sequence[RenderedFile]) -> list[str]:
    """Every image the rendered compose files use, sorted."""
    refs: set[str] = set()
    for f in files:
        if f.path.endswith("/compose.yaml"):
            doc = load_compose(f.text) or {}
            refs |= {str(s["image"]) for s in (doc.get("services") or {}).values() if s.get("image")}
    return sorted(refs)


def kit_names(files: Sequence[RenderedFile], recipes: Path | None = None) -> list[str]:
    """Offline-kit recipe names behind the ``zixly-offline/<image>:<version>`` references of *files*
    (the recipe whose tag it is; for a tag no recipe makes, the ``<image>`` part, which the
    build then reports as unknown). *recipes*: the recipe directory (default: the kit's)."""
    prefix = TAG_PREFIX + "/"
    by_tag = {r.tag: r.name for r in list_recipes(recipes if recipes is not None and recipes.is_dir() else None)}
    return sorted({by_tag.get(r, r[len(prefix):].split(":", 1)[0]) for r in image_refs(files) if r.startswith(prefix)})


def images_outside_kit(files: Sequence[RenderedFile], present: Callable[[str], bool]) -> list[str]:
    """Referenced images that are not kit images and not in the engine."""
    return [r for r in image_refs(files) if not r.startswith(TAG_PREFIX + "/") and not present(r)]


def projects(files: Sequence[RenderedFile]) -> tuple[list[str], list[str]]:
    """(projects in deploy order, external networks) from the manifests."""
    order: list[str] = []
    networks: list[str] = []
    for f in files:
        if f.path.endswith("/manifest.json"):
            doc = json.loads(f.text)
            order += [p for p in doc.get("projects", []) if p not in order]
            networks += [n for n in doc.get("networks", []) if n not in networks]
    return order, networks


def down(files: Sequence[RenderedFile], *, volumes: bool = False, say: Callable[[str], None] = print) -> list[str]:
    """Bring every project down (reverse order); returns the problems met (empty: all down)."""
    here = LocalRunner()
    order, networks = projects(files)
    problems = []
    for project in reversed(order):
        res = here.run(dk.compose_down(project, volumes=volumes), timeout=600)
        if not res.ok:
            problems.append(f"{project}: {res.err.strip()[-300:]}")
        else:
            say(f"down {project}")
    for net in networks:
        res = here.run(dk.network_remove(net), timeout=60)
        for _ in range(10):  # the engine frees a removed container's endpoint a moment after `down`
            if res.ok or "active endpoints" not in res.err:
                break
            time.sleep(1)
            res = here.run(dk.network_remove(net), timeout=60)
        if res.ok:
            say(f"removed network {net}")
        elif "not found" not in res.err:  # still used: say by whom, never keep it silently
            users = here.run(dk.network_attached(net), timeout=60).out.split()
            say(f"network {net} kept: {res.err.strip()[-200:]}"
                + (f" (attached: {', '.join(users)}; not ours to stop)" if users else ""))
    return problems
