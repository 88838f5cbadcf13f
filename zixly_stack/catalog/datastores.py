"""Data stores whose new major needs a new data directory: which engine a service runs, and the
name of its data volume after a major move. PURE.

A service whose rules say ``upgrade.major_change: dump_restore`` (PostgreSQL: the ``postgres``
store and the ``warehouse``) cannot start a new major on the old data directory. zixly dumps
the old major, restores into a NEW volume named by the new major and keeps the old volume,
unused, until ``zixly upgrade ENV --prune`` (docs/upgrades.md "Data-store majors").

Which volume a service uses is recorded in the environment file, by ``zixly upgrade``:
``services.<name>.data_major`` (the major whose data volume it runs on). Unset, the volumes keep
the names they always had (``<project>_<volume>``), so an existing deployment renders exactly as
before; set, the service's own volumes are ``<project>_<volume>-<tag><major>``
(``zixly-prod-warehouse_data-pg16``). The render stays a function of the repository alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.environment import ServiceOverride
from ..models.service import Service
from .stack import STORE_KINDS, Stack, primary_container


@dataclass(frozen=True)
class Engine:
    """What zixly knows of one data-store engine to move its data to a new major (argv:
    :mod:`zixly_stack.commands.datastore`)."""

    name: str  # postgres | mariadb | redis
    volume_tag: str  # the new volume's suffix: ``-<tag><major>``
    # variables of the catalog's container NOT given to the scratch server that initialises the
    # new volume (the database the dump creates, password files the scratch has no mount for)
    init_drop: tuple[str, ...]
    init_password: str  # the variable that takes the scratch server's throwaway superuser password


ENGINES: dict[str, Engine] = {
    "postgres": Engine("postgres", "pg", ("POSTGRES_DB", "POSTGRES_PASSWORD_FILE", "POSTGRES_PASSWORD"),
                       "POSTGRES_PASSWORD"),
    "mariadb": Engine("mariadb", "mariadb", ("MARIADB_ROOT_PASSWORD_FILE", "MARIADB_DATABASE",
                                             "MARIADB_AUTO_UPGRADE"), "MARIADB_ROOT_PASSWORD"),
    "redis": Engine("redis", "redis", (), ""),
}


def engine_of(svc: Service) -> Engine | None:
    """The engine *svc* runs: a store is its own kind; another service (the warehouse) the store of
    the backup dump taken in its primary container. None: not a known data store."""
    if svc.name in STORE_KINDS:
        return ENGINES.get(svc.name)
    primary = primary_container(svc)
    for d in svc.backup.databases:
        if d.container == primary and d.store in ENGINES:
            return ENGINES[d.store]
    return None


def moves_data(svc: Service) -> bool:
    """A new major of *svc* needs a dump/restore into a new volume."""
    return svc.upgrade is not None and svc.upgrade.major_change == "dump_restore"


def volume_suffix(svc: Service, override: ServiceOverride | None) -> str:
    """``-pg16`` when the environment records *svc*'s data on a moved major's volume, else ``""``."""
    major = override.data_major if override is not None else None
    engine = engine_of(svc)
    if not major or engine is None or not moves_data(svc):
        return ""
    return f"-{engine.volume_tag}{major}"


def volume_name(project: str, volume: str, suffix: str = "") -> str:
    """The Docker name of a project's volume (``<project>_<volume>[<suffix>]``)."""
    return f"{project}_{volume}{suffix}"


def moved_volumes(stack: Stack, host: str) -> dict[str, dict[str, str]]:
    """Service -> {volume: Docker name} of the services on *host* whose data runs on a moved
    major's volume (recorded in the host's manifest; empty for every other deployment)."""
    out: dict[str, dict[str, str]] = {}
    for p in sorted(stack.placements, key=lambda p: p.name):
        suffix = volume_suffix(p.service, stack.environment.services.get(p.name))
        if p.host == host and suffix and p.service.volumes:
            out[p.name] = {v: volume_name(p.project, v, suffix) for v in p.service.volumes}
    return out
