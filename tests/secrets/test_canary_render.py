"""Canary: every secret, set to a known string, reaches exactly the files the catalog routes it
to -- and no other file, no CLI output, no manifest.

Where a secret belongs is derived here from the catalog, independently of the renderer: each
``${secret:X}`` / ``${store:K.password|url}`` in a container's env goes to that container's
0600 env file ``<host>/<project>/env/<container>.env``; each ``${secret_file:X}`` /
``${store:K.password_file}`` (env, command or entrypoint) to the 0444 Compose secret
``<host>/<project>/secrets/<x_y>``; the provisioning job of a PostgreSQL/MariaDB server mounts
the server's admin password and every bound app's password; the edge mounts its dashboard
users file; the backup its restic password. Secrets no file receives are read by post-deploy
hooks only: they are listed in :data:`HOOK_ONLY` by name, so a secret that silently stops
being rendered fails here (goldens mask secret files and cannot see it).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, REPO, copy_repo, zixly
from zixly_stack.catalog.placeholders import refs
from zixly_stack.catalog.stack import STORE_KINDS, Stack
from zixly_stack.models.service import Container, Service
from zixly_stack.project import load
from zixly_stack.render.context import required_secrets
from zixly_stack.secrets.store import SecretStore

# Secrets rendered into no file, and who reads them instead (hooks get them from the store).
HOOK_ONLY = {
    "n8n.owner_password": "the n8n-owner hook logs in with it (n8n itself reads only its bcrypt hash)",
    "edge.admin_password": "the Traefik dashboard users file holds only its bcrypt hash",
    "chatwoot.admin_password": "the chatwoot-admin hook creates the first administrator with it",
    "metabase.admin_password": "the metabase-setup hook creates the first administrator with it",
    "plane.admin_password": "the plane-admin hook creates the instance administrator with it",
    "mautic.admin_password": "the mautic-admin hook creates the administrator with it",
    "warehouse.reader_password": "the warehouse-roles hook sets it; metabase-setup gives it to Metabase",
    "zixly.fingerprint_key": "keys the change-detection hashes (docs/secrets.md); only the recovery sheet holds it",
}
NOT_RENDERED = {
    "minirepo": {"warehouse.loader_password": "the fixture's n8n does not load the warehouse",
                 "edge.admin_password": HOOK_ONLY["edge.admin_password"],
                 "zixly.fingerprint_key": HOOK_ONLY["zixly.fingerprint_key"]},
    "production": HOOK_ONLY,
    "local": HOOK_ONLY,
}


def _canary(name: str) -> str:
    return "CANARY" + hashlib.sha256(name.encode()).hexdigest()[:16]


def _secret_file(full: str) -> str:
    return full.replace(".", "_").replace("-", "_")


def _container_targets(ns: Callable[[str], str], app: Service, c: Container, dedicated: bool
                       ) -> tuple[set[str], set[str]]:
    """(secrets in the container's env file, secrets mounted as files) of one catalog container
    whose own secrets are named ``ns(local)`` and whose stores are *app*'s bindings."""
    in_env: set[str] = set()
    as_file: set[str] = set()
    texts = [(v, True) for v in c.env.values()] + [(t, False) for t in (c.command or []) + (c.entrypoint or [])]
    for text, is_env in texts:
        for ref in refs(text):
            if ref.kind in ("secret", "secret_file"):
                full = ref.arg if "." in ref.arg else ns(ref.arg)
                assert ref.kind == "secret_file" or is_env, f"{full} in a command line would be in compose.yaml"
                (as_file if ref.kind == "secret_file" else in_env).add(full)
            elif ref.kind == "store":
                kind, _, field = ref.arg.partition(".")
                if field in ("password", "url", "password_file"):
                    full = "redis.password" if kind == "redis" and not dedicated else f"{app.name}.{kind}_password"
                    (as_file if field == "password_file" else in_env).add(full)
    return in_env, as_file


def expected_files(stack: Stack) -> dict[str, set[str]]:
    """Secret full name -> the rendered files (``host/...``) that must hold its value (see module doc)."""
    out: dict[str, set[str]] = {}

    def put(names: set[str], path: str) -> None:
        for name in names:
            out.setdefault(name, set()).add(path)

    def mount(names: set[str], base: str) -> None:
        for name in names:
            put({name}, f"{base}/secrets/{_secret_file(name)}")

    dedicated = stack.environment.stores == "dedicated"
    binders = {k: [a.name for a in stack.services.values() for b in a.stores if b.kind == k] for k in STORE_KINDS}
    for placed in stack.placements:
        svc, base = placed.service, f"{placed.host}/{placed.name}"
        is_store = svc.kind == "store" and svc.name in STORE_KINDS
        if is_store and dedicated:
            continue  # copied into each app's project below
        # (container key, catalog container, how its own secrets are named, whose store bindings)
        units = [(key, c, lambda local, s=svc.name: f"{s}.{local}", svc) for key, c in svc.containers.items()]
        jobs: list[set[str]] = []
        if is_store and svc.name != "redis" and binders[svc.name]:
            jobs.append({f"{svc.name}.admin_password"} | {f"{a}.{svc.name}_password" for a in binders[svc.name]})
        for b in svc.stores if dedicated else ():
            server = stack.services[b.kind].containers["server"]
            units.append((b.kind, server, lambda local, a=svc.name, k=b.kind: f"{a}.{k}_{local}", svc))
            if b.kind != "redis":
                jobs.append({f"{svc.name}.{b.kind}_admin_password", f"{svc.name}.{b.kind}_password"})
        for key, c, ns, app in units:
            in_env, as_file = _container_targets(ns, app, c, dedicated)
            put(in_env, f"{base}/env/{key}.env")
            mount(as_file, base)
        for names in jobs:
            mount(names, base)
        if svc.kind == "edge":
            put({"edge.admin_password_hash"}, f"{base}/secrets/edge_dashboard_users")
    if stack.environment.backup.enabled:
        for host in stack.host_names():
            put({"backup.restic_password"}, f"{host}/backup/secrets/restic_password")
    return out


def _seed_canaries(root: Path, env: str) -> dict[str, str]:
    assert zixly("secrets", "init", env, root=root).code == 0
    store = SecretStore.open(root / "inventories" / env)
    names = list(required_secrets(load(root, env).stack))
    for name in names:
        store.set(name, _canary(name), force=True)
    store.save()
    return {n: _canary(n) for n in names}


def _root(source: str, tmp_path: Path) -> tuple[Path, str]:
    if source == "minirepo":
        root = tmp_path / "repo"
        shutil.copytree(FIXTURES / "minirepo", root)
        return root, "base"
    return copy_repo(tmp_path / "repo", REPO, envs=(source,)), source


@pytest.mark.parametrize("source", ["minirepo", "production", "local"])
def test_every_secret_reaches_exactly_its_files(source: str, tmp_path: Path, age_key: Path) -> None:
    root, env = _root(source, tmp_path)
    canaries = _seed_canaries(root, env)
    out = tmp_path / "out"
    result = zixly("render", env, "--out", str(out), root=root)
    assert result.code == 0, result.stderr
    assert not [c for c in canaries.values() if c in result.stdout + result.stderr]

    found: dict[str, set[str]] = {}
    recovery: list[str] = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = str(path.relative_to(out))
        text = path.read_text()
        if path.parent.name == ".zixly":  # the host's recovery sheet (secrets recover): its values, 0600
            assert path.name == "recovery.json" and path.stat().st_mode & 0o777 == 0o600, rel
            recovery.append(rel)
            continue
        for name, value in canaries.items():
            if value in text:
                found.setdefault(name, set()).add(rel)
                kind = path.parent.name
                assert kind in ("env", "secrets"), f"{rel} (not an env/secret file) holds {name}"
                # env files 0600; Compose secrets 0444 (read by the container's own user); restic's 0600 (root)
                mode = 0o444 if kind == "secrets" and rel.split("/")[1] != "backup" else 0o600
                assert path.stat().st_mode & 0o777 == mode, rel

    expected = expected_files(load(root, env).stack)
    unrendered = NOT_RENDERED[source]
    assert not set(expected) & set(unrendered), "a secret listed as not rendered is routed to a file"
    assert set(canaries) == set(expected) | set(unrendered), "every secret is either rendered or listed as not"
    wrong = {n: (sorted(found.get(n, ())), sorted(expected.get(n, ()))) for n in canaries
             if found.get(n, set()) != expected.get(n, set())}
    assert not wrong, "secret: (found in, expected in)\n" + "\n".join(f"{n}: {v}" for n, v in wrong.items())
    assert len(found) == len(canaries) - len(unrendered) > 0
    assert recovery, "no host carries its recovery sheet"

    listing = zixly("secrets", "list", env, "--json", root=root)
    assert listing.code == 0 and not [c for c in canaries.values() if c in listing.stdout]


def test_the_derivation_is_not_the_renderer_s() -> None:
    """Spot checks of :func:`expected_files` against the catalog text, so a wrong derivation
    cannot agree with a wrong renderer by construction."""
    prod = expected_files(load(REPO, "production").stack)
    assert prod["n8n.encryption_key"] == {"vps1/n8n/secrets/n8n_encryption_key"}
    assert prod["n8n.runners_auth_token"] == {"vps1/n8n/env/runner.env", "vps1/n8n/secrets/n8n_runners_auth_token"}
    assert prod["invoiceninja.admin_password"] == {"vps1/invoiceninja/env/app.env"}
    assert prod["n8n.postgres_admin_password"] == {"vps1/n8n/secrets/n8n_postgres_admin_password"}
    assert prod["warehouse.loader_password"] >= {"vps1/n8n/secrets/warehouse_loader_password"}
    local = expected_files(load(REPO, "local").stack)
    assert local["postgres.admin_password"] == {"local/postgres/secrets/postgres_admin_password"}
    assert "local/postgres/secrets/n8n_postgres_password" in local["n8n.postgres_password"]
