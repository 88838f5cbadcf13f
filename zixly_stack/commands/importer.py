"""argv for ``zixly import``: reading an existing Compose install on its host, loading it into ours. Pure.

The source side only reads: ``docker compose ls``, ``docker inspect``, ``docker cp CONTAINER:PATH -``
(a tar stream of a path in a running container: no tool needed inside it) and ``pg_dump``/``psql``
run in the source's PostgreSQL container as its superuser over the local socket (the official
image trusts local connections), never with a password in an argv.
"""

from __future__ import annotations

from collections.abc import Sequence

from .docker import DOCKER


def compose_ls() -> list[str]:
    """Every Compose project on the host (running or not), as JSON: Name, Status, ConfigFiles."""
    return [DOCKER, "compose", "ls", "--all", "--format", "json"]


def inspect_containers(names: Sequence[str]) -> list[str]:
    """``docker inspect`` of containers as JSON. The whole object, environment included: an import has to
    read the old install's settings; the caller masks every secret-looking value before showing anything."""
    return [DOCKER, "inspect", "--type", "container", *names]


def image_env(image: str) -> list[str]:
    """The environment an image itself sets (its ``Config.Env`` as JSON): not the install's settings."""
    return [DOCKER, "image", "inspect", "--format", "{{json .Config.Env}}", image]


def copy_out(container: str, path: str) -> list[str]:
    """A tar stream of *path* in *container* on stdout (read-only; works on a running container)."""
    return [DOCKER, "cp", f"{container}:{path}", "-"]


def pg_dump(user: str, database: str) -> list[str]:
    """``pg_dump -Fc`` of *database* as *user* (argv run inside the server container): one consistent snapshot."""
    return ["pg_dump", "-U", user, "-Fc", "--no-owner", "--no-privileges", "-d", database]


def psql_as(user: str, database: str, sql: str) -> list[str]:
    """*sql* (no values in it) in *database* as *user*: unaligned, tab-separated rows, stop at the first error."""
    return ["psql", "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-X", "-At", "-F", "\t", "-c", sql]


def pg_restore_as(owner: str, database: str) -> list[str]:
    """Load a ``pg_dump -Fc`` archive from stdin into the new, empty *database*, its objects owned by *owner*."""
    return ["pg_restore", "-U", "postgres", "--no-owner", f"--role={owner}", "--exit-on-error",
            "--single-transaction", "-d", database]


def untar_keep_owner(dest: str) -> list[str]:
    """A tar stream on stdin unpacked under *dest* with the numeric owners it records (the app's user)."""
    return ["tar", "-x", "-f", "-", "-C", dest, "--same-owner", "--numeric-owner"]
