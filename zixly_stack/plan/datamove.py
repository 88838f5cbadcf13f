"""A data-store major move in a host's plan: which volume the data leaves, which it goes to. PURE.

For a planned move whose hop changes the data format (a PostgreSQL major, ``Hop.data_format``),
:func:`data_move` reads the rendered compose file of the service and the host's current manifest:
the data volume the host runs on now (the manifest's ``volumes`` when an earlier move recorded
one, else ``<project>_<volume>``) and the one the new release names (``services.<name>.data_major``,
written by ``zixly upgrade``: :mod:`zixly_stack.catalog.datastores`). When the two differ the
deploy carries the move out (:mod:`zixly_stack.deploy.datamove`) before the new release starts;
when they do not, :func:`move_blocker` says why it refuses.

:func:`space_refusal` is the free-space figure the move checks before anything stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..catalog.datastores import ENGINES, volume_name
from ..catalog.upgrades import Move
from ..render.backup.plan import container_name

MIB = 1 << 20
MARGIN = 64 * MIB  # on top of the data: the new server's WAL and catalogs
GROWTH = 1.2  # the restored copy with its fresh indexes, against the old directory's size


@dataclass(frozen=True)
class DataMove:
    """The move of one service's data directory to a new major on a new volume."""

    env: str
    service: str
    engine: str  # a key of :data:`~zixly_stack.catalog.datastores.ENGINES`
    src: str  # versions
    dst: str
    project: str
    container: str  # the server's container (``<project>-<key>-1``)
    target: str  # the data directory inside it
    volume_key: str  # the volume's key in the compose file (``data``)
    old_volume: str
    new_volume: str
    new_image: str
    init_env: tuple[tuple[str, str], ...]  # the catalog's plain variables the new volume is initialised with
    cap_add: tuple[str, ...]
    major: str  # the new major (the new volume's label)
    user: str = ""  # the container's user (Redis runs as `redis`, no capabilities)

    def describe(self) -> str:
        """One line for plans and step lists."""
        how = {
            "redis": (f"copy its files from {self.src} on {self.old_volume} into the new volume {self.new_volume}, "
                      "rewrite them in the new format, compare every database's keys"),
            "mariadb": (f"dump from {self.src} on {self.old_volume}, restore into the new volume {self.new_volume}, "
                        "refresh statistics, compare every table's rows, mariadb-upgrade"),
        }.get(self.engine, f"dump from {self.src} on {self.old_volume}, restore into the new volume "
                           f"{self.new_volume}, refresh statistics and collations, compare every table's rows")
        return (f"move {self.service}'s data to {self.dst}: {how}; {self.old_volume} kept unused until "
                f"`zixly upgrade {self.env} --prune`")


def manifest_volumes(doc: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    """``volumes`` of a manifest: service -> {volume: Docker name}, only for moved data (else empty)."""
    found = (doc or {}).get("volumes")
    if not isinstance(found, dict):
        return {}
    return {str(s): {str(k): str(v) for k, v in vols.items()} for s, vols in found.items() if isinstance(vols, dict)}


def _unescape(value: Any) -> str:
    return str(value).replace("$$", "$")


def server_mount(compose: Mapping[str, Any] | None) -> tuple[str, str, str] | None:
    """``(container key, volume key, data directory)`` of a data store's compose document: its first
    (primary) container and its one named volume (None: not that shape)."""
    services = (compose or {}).get("services") or {}
    if not services:
        return None
    key, server = next(iter(services.items()))
    mounts = [m for m in server.get("volumes") or [] if m.get("type") == "volume"]
    if len(mounts) != 1 or len((compose or {}).get("volumes") or {}) != 1:
        return None
    return str(key), str(mounts[0]["source"]), str(mounts[0]["target"])


def data_move(env: str, move: Move, engine: str | None, compose: Mapping[str, Any] | None,
              current: Mapping[str, Any] | None, major: str) -> DataMove | None:
    """The data move of *move* (None: no data-format hop, no known engine, or the volume does not
    change). *compose*: the service's rendered compose document; *current*: the host's current
    manifest; *major*: the new version's major."""
    found = server_mount(compose)
    if not any(h.data_format for h in move.hops) or engine not in ENGINES or compose is None or found is None:
        return None
    key, vkey, target = found
    server = compose["services"][key]
    vols = compose.get("volumes") or {}
    project = str(compose.get("name"))
    new = str((vols.get(vkey) or {}).get("name") or volume_name(project, vkey))
    old = manifest_volumes(current).get(move.service, {}).get(vkey) or volume_name(project, vkey)
    if new == old:
        return None
    spec = ENGINES[str(engine)]
    env_vars = tuple((str(k), _unescape(v)) for k, v in sorted((server.get("environment") or {}).items())
                     if k not in spec.init_drop and not str(k).startswith("ZIXLY_"))
    return DataMove(env, move.service, spec.name, move.src, move.dst, project, container_name(project, key),
                    target, vkey, old, new, str(server.get("image")), env_vars,
                    tuple(str(c) for c in server.get("cap_add") or ()), major, str(server.get("user") or ""))


def move_blocker(move: Move, moved: DataMove | None, engine: str | None) -> str:
    """Why a deploy cannot carry out the data-format hop of *move* ("" when it can)."""
    if not any(h.data_format for h in move.hops):
        return ""
    if engine not in ENGINES:
        return "a data-store major needs a dump/restore into a new volume: no known engine for this service"
    if moved is None:
        return (f"a data-store major needs a new volume named by the major: `zixly upgrade ENV {move.service} "
                f"--to {move.dst}` records it (services.{move.service}.data_major)")
    return ""


def du_bytes(text: str) -> int:
    """The figure of ``du -sb PATH`` (``BYTES<TAB>PATH``)."""
    first = text.split()[:1]
    if not first or not first[0].isdigit():
        raise ValueError(f"no size in du's output: {text.strip()[:200]!r}")
    return int(first[0])


def space_refusal(volume: str, size: int, free: int, where: str) -> str:
    """Why the move does not start for want of space ("" when there is enough): the new volume needs
    the old one's size again with room to grow (:data:`GROWTH`, :data:`MARGIN`), on *where*."""
    needed = int(size * GROWTH) + MARGIN
    if free >= needed:
        return ""
    return (f"not enough free space for the new volume: {volume} holds {size / MIB:.1f} MiB, the copy needs "
            f"{needed / MIB:.1f} MiB free on {where}, {free / MIB:.1f} MiB are free (free "
            f"{(needed - free) / MIB:.1f} MiB more: `zixly upgrade ENV --prune` removes volumes retired by "
            "earlier moves)")
