"""How an n8n install's settings map onto the catalog's n8n. Pure.

Each setting of the source's n8n container (its environment minus what the image itself sets, its
mounts, published ports and image) becomes one :class:`Row`:

* ``moved``    -- carried into the environment: the encryption key (secrets store), the data
  (database dump, the ``/home/node/.n8n`` volume);
* ``replaced`` -- the environment provides its own: the database connection (its PostgreSQL store),
  the public URLs (Traefik routes under the environment's domain), published ports;
* ``same``     -- the catalog (with the environment's overrides) sets the same value;
* ``differs``  -- the catalog sets another value (shown unless the name looks secret);
* ``unmapped`` -- nothing in the catalog says it: not carried over (the hint says how to keep it).

:func:`refusals` lists what makes the import impossible (SQLite, a table prefix, a newer n8n than
the catalog's: its migrations cannot be undone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..secrets.value import Secret
from .source import N8N_DATA, SECRET_NAME, Container, ImportRefused

DB_KEYS = re.compile(r"^DB_POSTGRESDB_(HOST|PORT|DATABASE|USER|PASSWORD|PASSWORD_FILE|SSL_.*|POOL_SIZE|"
                     r"CONNECTION_TIMEOUT)$")
URL_KEYS = ("N8N_HOST", "N8N_PROTOCOL", "N8N_PORT", "N8N_PATH", "WEBHOOK_URL", "N8N_EDITOR_BASE_URL")
KEY_KEYS = ("N8N_ENCRYPTION_KEY", "N8N_ENCRYPTION_KEY_FILE")


@dataclass(frozen=True)
class Row:
    """One setting of the source and what the import does with it."""

    setting: str
    status: str  # moved | replaced | same | differs | unmapped
    note: str = ""

    def to_json(self) -> dict[str, str]:
        """The row for ``--json``."""
        return {"setting": self.setting, "status": self.status, "note": self.note}


@dataclass(frozen=True)
class Target:
    """Where the environment keeps n8n: for the notes of the rows."""

    env: str
    host: str
    store: str  # the PostgreSQL server container
    database: str
    volume: str
    url: str
    image_tag: str


def _version(tag: str) -> tuple[int, ...] | None:
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", tag)
    return tuple(int(x) for x in m.groups(default="0")) if m else None


def _setting(name: str, value: str | Secret, catalog: dict[str, str], target: Target) -> Row:
    if name in KEY_KEYS:
        return Row(name, "moved", f"into the secrets store as n8n.encryption_key (never rotated) of {target.env}")
    if name == "DB_TYPE":
        return Row(name, "replaced", f"postgresdb: the environment's PostgreSQL store ({target.store})")
    if DB_KEYS.match(name):
        return Row(name, "replaced", f"database {target.database} on {target.store} (the environment's store)")
    if name in URL_KEYS:
        now = catalog.get(name, "")
        return Row(name, "replaced", f"the environment's URL {target.url}" + (f" ({name}={now})" if now else "")
                   + "; webhook callers need the new address")
    secret = isinstance(value, Secret) or bool(SECRET_NAME.search(name))
    if name in catalog:
        if secret:
            return Row(name, "differs", "the catalog sets its own value (not shown)")
        if catalog[name] == value:
            return Row(name, "same")
        return Row(name, "differs", f"{value!s} here; the catalog sets {catalog[name]!r}"
                   + (f" (override in environment.yaml: services.n8n.env.n8n.{name})" if not secret else ""))
    if secret:
        return Row(name, "unmapped", "a secret the catalog does not know: not carried over")
    return Row(name, "unmapped", f"not carried over; to keep {value!r}: services.n8n.env.n8n.{name} in "
               "inventories/<env>/environment.yaml")


def map_n8n(n8n: Container, image_env: dict[str, str], catalog: dict[str, str], target: Target) -> list[Row]:
    """The rows of the n8n container (module doc); *catalog* is the rendered environment of our n8n."""
    rows = [_image_row(n8n, target)]
    for name in sorted(n8n.env):
        value = n8n.env[name]
        if isinstance(value, str) and image_env.get(name) == value:
            continue  # the image's own default, not a setting of this install
        rows.append(_setting(name, value, catalog, target))
    for kind, source, dest in n8n.mounts:
        if dest.rstrip("/") == N8N_DATA:
            rows.append(Row(f"mount {dest}", "moved", f"{kind} {source} -> volume {target.volume} on {target.host}"))
        else:
            rows.append(Row(f"mount {dest}", "unmapped", f"{kind} {source}: not copied (the catalog mounts only "
                            f"{N8N_DATA})"))
    if not any(d.rstrip("/") == N8N_DATA for _, _, d in n8n.mounts):
        rows.append(Row(f"files {N8N_DATA}", "moved", f"the container's own copy -> volume {target.volume} "
                        "(it had no volume: data lost with that container)"))
    for port in n8n.ports:
        rows.append(Row(f"port {port}", "replaced", f"Traefik routes {target.url}"))
    return rows


def _image_row(n8n: Container, target: Target) -> Row:
    theirs, ours = _version(n8n.tag), _version(target.image_tag)
    if theirs is None or ours is None:
        return Row("image", "differs", f"{n8n.image}: version unknown; the catalog runs {target.image_tag}: check "
                   "that it is not older (n8n's migrations only go forward)")
    if theirs == ours:
        return Row("image", "same", n8n.image)
    if theirs < ours:
        return Row("image", "differs", f"{n8n.image}; the catalog runs {target.image_tag}: n8n migrates the "
                   "database on its first start")
    return Row("image", "differs", f"{n8n.image} is NEWER than the catalog's {target.image_tag}")


def refusals(n8n: Container, rows: list[Row]) -> list[str]:
    """What makes the import impossible (module doc); empty when it can go on."""
    out = []
    db_type = n8n.plain("DB_TYPE", "sqlite")
    if db_type != "postgresdb":
        out.append(f"{n8n.name}: DB_TYPE={db_type}: only n8n on PostgreSQL can be imported yet")
    if n8n.plain("DB_TABLE_PREFIX"):
        out.append(f"{n8n.name}: DB_TABLE_PREFIX is set: the catalog's n8n reads unprefixed tables")
    schema = n8n.plain("DB_POSTGRESDB_SCHEMA", "public")
    if schema != "public":
        out.append(f"{n8n.name}: DB_POSTGRESDB_SCHEMA={schema}: the catalog's n8n uses the public schema")
    newer = [r for r in rows if r.setting == "image" and "NEWER" in r.note]
    if newer:
        out.append(f"{n8n.name}: {newer[0].note}: its database cannot be opened by an older n8n (set "
                   "services.n8n.version in environment.yaml to at least that version)")
    return out


def pick(containers: tuple[Container, ...]) -> tuple[Container, Container]:
    """The n8n main container and its PostgreSQL server among the project's containers."""
    n8ns = [c for c in containers if c.image_name == "n8n" and "worker" not in c.args and "webhook" not in c.args]
    if len(n8ns) != 1:
        found = ", ".join(f"{c.name} ({c.image})" for c in containers)
        raise ImportRefused(f"expected one n8n main container (image n8nio/n8n) in the project, found {len(n8ns)}: "
                            f"{found}")
    n8n = n8ns[0]
    host = n8n.plain("DB_POSTGRESDB_HOST", "localhost")
    pgs = [c for c in containers if c is not n8n and (c.service == host or c.name == host)] or \
          [c for c in containers if c.image_name.startswith("postgres")]
    if len(pgs) != 1:
        raise ImportRefused(f"{n8n.name}: its database server (DB_POSTGRESDB_HOST={host}) is not a container of the "
                            "project; only a PostgreSQL in the same Compose project can be dumped")
    return n8n, pgs[0]
