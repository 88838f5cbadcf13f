"""The hops of an upgrade that needs several (Nextcloud 33 -> 34 -> 35): each intermediate pin
rendered, then brought up in turn behind the one checkpoint, health-gated, with its migrations.

* :func:`hop_loaded` -- PURE: the environment as it would be with the service pinned at a hop's
  version (``services.<name>.version``), everything else as loaded; :func:`interims` renders it
  for each intermediate hop (the pipeline's pure ``render``) and keeps the service's compose file.
  Every other file of the service's directory must render as the release's own does (the hop is
  brought up from the release's directory, with its env files and mounted files); a hop that
  renders one differently is refused before anything stops. The last hop is the release itself.
* :class:`Interim` -- what the executor brings up for one intermediate hop: its compose text, the
  shape of its project (waited services, one-shot jobs) and its images, which the executor
  provides before anything stops (:class:`HopTools` ``provide``). The file is written beside the
  release's compose file (:func:`hop_file`), brought up by the deploy's converge
  (:func:`zixly_stack.deploy.converge.up_from`, ``HopTools.up``) and removed again: a release holds
  only what its render made.

docs/upgrades.md "The checkpointed upgrade deploy".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..catalog.stack import resolve_stack
from ..catalog.upgrades import Hop, Move
from ..errors import ConfigError
from ..models.environment import ServiceOverride
from ..plan.compute import compose_shape
from ..plan.model import ComposeShape, ProjectChange
from ..plan.release_files import load_compose
from ..project import Loaded
from ..render.tree import RenderedFile
from .work import UpgradeFailed

Files = Mapping[str, RenderedFile]  # a host's rendered files by release-relative path


@dataclass(frozen=True)
class HopTools:
    """What the executor needs from the deploy to carry out intermediate hops on one host.

    ``render(service, version)``: the host's files rendered with the service pinned at *version*
    (:func:`hop_loaded`); ``release()``: the host's files of this deploy's release; ``provide(refs)``:
    the images on the host (raises :class:`UpgradeFailed`); ``up(project, file, shape)``: the project
    brought up from compose file *file*, health-gated: ``(ok, why it failed)``."""

    render: Callable[[str, str], Files]
    release: Callable[[], Files]
    provide: Callable[[Sequence[str]], None]
    up: Callable[[ProjectChange, str, ComposeShape], tuple[bool, str]]


@dataclass(frozen=True)
class Interim:
    """One intermediate hop: the *index*-th of the move, brought up from *compose*."""

    index: int
    hop: Hop
    compose: str
    shape: ComposeShape
    images: tuple[str, ...]


def hop_loaded(loaded: Loaded, service: str, version: str) -> Loaded:
    """*loaded* with *service* pinned at *version* (``services.<service>.version``). Pure."""
    env = loaded.config.environment
    services = dict(env.services)
    services[service] = (services.get(service) or ServiceOverride()).model_copy(update={"version": version})
    cfg = dataclasses.replace(loaded.config, environment=env.model_copy(update={"services": services}))
    return Loaded(loaded.root, loaded.catalog, cfg, resolve_stack(loaded.catalog, cfg))


def hop_label(move: Move, index: int) -> str:
    """``nextcloud: hop 1/2 33.0.9-apache -> 34.0.5-apache``."""
    hop = move.hops[index - 1]
    return f"{move.service}: hop {index}/{len(move.hops)} {hop.src} -> {hop.dst}"


def hop_file(directory: str, index: int) -> str:
    """The release-relative path of hop *index*'s compose file, beside the release's own."""
    return f"{directory}/compose.hop-{index}.yaml"


def hop_compose(release: Files, hop: Files, directory: str, label: str) -> str:
    """The compose text of *directory* in the hop's render *hop*; :class:`UpgradeFailed` when any
    other file of the directory renders differently from the release's *release*. Pure."""
    compose = f"{directory}/compose.yaml"
    if compose not in hop:
        raise UpgradeFailed(f"{label}: the hop's render has no {compose}; nothing was stopped")

    def others(files: Files) -> dict[str, str]:
        return {p: f.sha256 for p, f in files.items() if p.startswith(directory + "/") and p != compose}

    mine, theirs = others(release), others(hop)
    differ = sorted(p for p in set(mine) | set(theirs) if mine.get(p) != theirs.get(p))
    if differ:
        raise UpgradeFailed(f"{label}: the hop renders {differ[0]}" + (f" (and {len(differ) - 1} more)"
                            if len(differ) > 1 else "") + " differently from the release, and a hop is brought "
                            "up from the release's files: deploy the hops one at a time; nothing was stopped")
    return hop[compose].text


def images_of(doc: Mapping[str, object]) -> tuple[str, ...]:
    """The image of every service of a compose document, sorted. Pure."""
    services = doc.get("services")
    refs = {str(s["image"]) for s in (services.values() if isinstance(services, dict) else ())
            if isinstance(s, dict) and s.get("image")}
    return tuple(sorted(refs))


def interims(move: Move, directory: str, tools: HopTools) -> tuple[Interim, ...]:
    """Every intermediate hop of *move* (all but the last), rendered; :class:`UpgradeFailed` when one
    cannot be (nothing has stopped yet)."""
    out = []
    release = tools.release() if len(move.hops) > 1 else {}
    for i, hop in enumerate(move.hops[:-1], 1):
        label = hop_label(move, i)
        try:
            files = tools.render(move.service, hop.dst)
        except ConfigError as exc:
            raise UpgradeFailed(f"{label}: the hop's pin does not render: {exc}; nothing was stopped") from None
        text = hop_compose(release, files, directory, label)
        doc = load_compose(text) or {}
        out.append(Interim(i, hop, text, compose_shape(doc), images_of(doc)))
    return tuple(out)
