"""Idempotent provisioning of databases, users and extensions on PostgreSQL and MariaDB.

The script runs as a one-shot job with the store's own image, waits for the server, and
creates or updates each app's role/user, database and extensions. Passwords arrive only
through the job's 0600 env file; the script text itself carries no secret.
"""

from __future__ import annotations

from .context import RenderContext, StoreEndpoint, secret_file_name
from .hostfiles import render_host_file


def provision_script(kind: str) -> str:
    """The shell script for ``kind`` (postgres or mariadb): ``templates/stores/provision-<kind>.sh.j2``."""
    return render_host_file(f"stores/provision-{'postgres' if kind == 'postgres' else 'mariadb'}.sh.j2")


def provision_env(
    ctx: RenderContext, kind: str, server: str, admin_secret: str, endpoints: list[StoreEndpoint]
) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """Env for the job (name, value, is_secret) and the secrets it reads as files.

    Passwords never travel in the environment: the job gets ``*_FILE`` paths under
    ``/run/secrets`` (Compose secrets), so ``docker inspect`` shows no credential.
    """
    files = [admin_secret]
    env: list[tuple[str, str, bool]] = [
        ("ZIXLY_SERVER", server, False),
        ("ZIXLY_COUNT", str(len(endpoints)), False),
        ("ZIXLY_ADMIN_PASSWORD_FILE", f"/run/secrets/{secret_file_name(admin_secret)}", False),
    ]
    exts = _extensions(ctx, kind)
    for i, ep in enumerate(sorted(endpoints, key=lambda e: e.database), start=1):
        env.append((f"ZIXLY_DB_{i}", ep.database, False))
        env.append((f"ZIXLY_USER_{i}", ep.user, False))
        env.append((f"ZIXLY_USER_{i}_PASSWORD_FILE", f"/run/secrets/{secret_file_name(ep.password_secret)}", False))
        files.append(ep.password_secret)
        if kind == "postgres":
            env.append((f"ZIXLY_EXT_{i}", " ".join(exts.get(ep.database, [])), False))
    return env, files


def _extensions(ctx: RenderContext, kind: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for app in ctx.stack.services.values():
        for b in app.stores:
            if b.kind == kind and b.extensions:
                out.setdefault(ctx.endpoint(app, b).database, []).extend(sorted(b.extensions))
    return out
