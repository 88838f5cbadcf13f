"""PURE backup planner: (stack, host) -> :class:`BackupPlan`.

Per service placed on the host, in deploy order:

* ``pre`` steps (e.g. Nextcloud maintenance mode on) and containers to ``stop``;
* database dumps streamed into ``restic backup --stdin`` (``pg_dump -Fc`` or
  ``mariadb-dump --single-transaction``) from the server container that holds the database
  (the shared store's server, the app's dedicated one, or a container named in the spec);
* Redis: one RDB of the whole instance (``redis-cli --rdb``), declared by the Redis store
  itself (``backup.databases: [{store: redis, container: server}]``): the shared server is
  one item of service ``redis``; with ``stores: dedicated`` each app that binds Redis gets an
  item for its own server instead. An app's own ``{store: redis}`` entry adds nothing (its
  logical database lives in that instance);
* named volumes (read on the host at their mount point), Traefik's ``acme`` volume included;
* ``post`` steps and restarts, which the script runs even when something failed.

Every item becomes one restic snapshot tagged ``env:<env>``, ``service:<svc>``,
``kind:db|volume|files`` and ``item:<name>``. Steps whose container runs a labelled
stand-in (the vendor's command is not in it) are kept but marked ``standin`` so the
script logs that it skipped them instead of failing on a missing binary.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from ...catalog.stack import STORE_KINDS, Placed, Stack
from ...models.service import BackupStep, Service
from ..context import db_identifier

Kind = Literal["db", "volume", "files"]

PG_ADMIN = "postgres"


@dataclass(frozen=True)
class Step:
    """A command run in a container before (pre) or after (post) a service's backup."""

    container: str
    argv: tuple[str, ...]
    standin: bool = False


@dataclass(frozen=True)
class Item:
    """One snapshot: a database dump (``db``) or a volume (``volume``/``files``)."""

    service: str
    kind: Kind
    name: str  # item name, unique in the environment: "n8n.db.n8n", "n8n.volume.data"
    engine: Literal["postgres", "mariadb", "redis", "volume"]
    container: str = ""  # db: the server container
    database: str = ""  # db: the database name (redis: empty, the item is the whole instance)
    volume: str = ""  # volume/files: the Docker volume name; redis: the server's data volume (restore)
    filename: str = ""  # db: --stdin-filename

    def tags(self, env: str) -> tuple[str, ...]:
        """The snapshot's tags."""
        return (f"env:{env}", f"service:{self.service}", f"kind:{self.kind}", f"item:{self.name}")


@dataclass(frozen=True)
class ServicePlan:
    """What one service's backup does, in order: stop, pre, items, post, start."""

    service: str
    project: str
    items: tuple[Item, ...]
    pre: tuple[Step, ...] = ()
    post: tuple[Step, ...] = ()
    stop: tuple[str, ...] = ()  # container names stopped for a consistent copy

    @property
    def containers(self) -> tuple[str, ...]:
        """Every container this service's backup needs running (checked before starting)."""
        out = [i.container for i in self.items if i.container]
        out += [s.container for s in (*self.pre, *self.post)]
        return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class BackupPlan:
    """The backup of one host of an environment."""

    env: str
    host: str
    services: tuple[ServicePlan, ...] = field(default_factory=tuple)

    def only(self, names: Collection[str]) -> BackupPlan:
        """The plan restricted to *names* (unknown names are the caller's problem)."""
        return BackupPlan(self.env, self.host, tuple(s for s in self.services if s.service in names))

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item, in order."""
        return tuple(i for s in self.services for i in s.items)


def container_name(project: str, key: str) -> str:
    """Compose's name of the first container of service *key* in *project*."""
    return f"{project}-{key}-1"


def _db_server(stack: Stack, placed: Placed, store: str, explicit: str | None) -> str:
    if explicit:
        return container_name(placed.project, explicit)
    if stack.environment.stores == "dedicated":
        return container_name(placed.project, store)
    return container_name(f"{stack.prefix}-{store}", "server")


def _database(svc: Service, store: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    binding = next((b for b in svc.stores if b.kind == store), None)
    return (binding.database if binding and binding.database else None) or db_identifier(svc.name)


def _redis_container(stack: Stack) -> str | None:
    """The Redis store's server container key when the store declares its own backup, else None."""
    store = stack.services.get("redis")
    spec = next((d for d in store.backup.databases if d.store == "redis"), None) if store else None
    return (spec.container or "server") if spec else None


def _redis_item(stack: Stack, service: str, project: str, key: str, filename: str, volume_prefix: str = "") -> Item:
    """The RDB of one Redis instance: server container *key* in *project*, its /data volume for restores."""
    server = stack.services["redis"].containers.get(key) or stack.services["redis"].containers["server"]
    mounts = server.volumes
    data = next((m.volume for m in mounts if m.target == "/data"), mounts[0].volume if mounts else "data")
    return Item(service, "db", f"{service}.db.redis", "redis", container_name(project, key),
                volume=f"{project}_{volume_prefix}{data}", filename=filename)


def _service_plan(stack: Stack, placed: Placed, standins: Collection[str]) -> ServicePlan | None:
    svc = placed.service
    spec = svc.backup
    items: list[Item] = []
    dedicated = stack.environment.stores == "dedicated"
    redis_key = _redis_container(stack)
    for d in spec.databases:
        if d.store == "redis":
            if svc.kind == "store" and svc.name == "redis" and redis_key and not dedicated:
                items.append(_redis_item(stack, svc.name, placed.project, redis_key, "redis/dump.rdb"))
            continue  # an app's logical Redis database is part of the instance's RDB
        db = _database(svc, d.store, d.database)
        server = _db_server(stack, placed, d.store, d.container)
        ext = "pgdump" if d.store == "postgres" else "sql"
        name = f"{svc.name}.db.{db}"
        items.append(Item(svc.name, "db", name, d.store, server, db, filename=f"{svc.name}/{db}.{ext}"))
    if dedicated and redis_key and svc.kind != "store" and any(b.kind == "redis" for b in svc.stores):
        items.append(_redis_item(stack, svc.name, placed.project, "redis", f"{svc.name}/redis.rdb", "redis-"))
    vols = list(spec.volumes)
    if svc.kind == "edge":
        vols += [v for v in svc.volumes if v == "acme" and v not in vols]
    for v in vols:
        kind: Kind = "files" if svc.kind == "edge" else "volume"
        items.append(Item(svc.name, kind, f"{svc.name}.{kind}.{v}", "volume", volume=f"{placed.project}_{v}"))
    if not items:
        return None

    def step(s: BackupStep) -> Step:
        name = container_name(placed.project, s.container)
        return Step(name, tuple(s.command), name in standins)

    return ServicePlan(svc.name, placed.project, tuple(items), tuple(step(s) for s in spec.pre),
                       tuple(step(s) for s in spec.post), tuple(container_name(placed.project, c) for c in spec.stop))


def plan_backup(stack: Stack, host: str, standins: Collection[str] = ()) -> BackupPlan:
    """The backup plan of *host* (*standins*: container names that run a labelled stand-in)."""
    plans = []
    for placed in stack.on_host(host):
        svc = placed.service
        if svc.kind == "store" and svc.name in STORE_KINDS and (
            stack.environment.stores == "dedicated" or not svc.backup.databases
        ):
            continue  # the servers themselves: their databases are dumped per app (Redis: see above)
        sp = _service_plan(stack, placed, standins)
        if sp is not None:
            plans.append(sp)
    return BackupPlan(stack.env_name, host, tuple(plans))
