"""Units: the containers of one Compose project, before they become YAML.

A service's own containers become units; in dedicated store mode the store server and
its provisioning job are added to the app's project; a shared store's project gets its
provisioning job. Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..catalog.stack import STORE_KINDS, Placed, primary_container
from ..models.service import Container, FileMount, Healthcheck, Resources, Service, VolumeMount
from .context import RenderContext, StoreEndpoint
from .stores import provision_env, provision_script


@dataclass(frozen=True)
class Unit:
    """One Compose service to render."""

    key: str
    container: Container
    owner: Service
    secret_ns: Callable[[str], str]
    aliases: tuple[str, ...] = ()
    extra_env: tuple[tuple[str, str, bool], ...] = ()
    generated_files: tuple[tuple[str, str, str], ...] = ()  # (relative path, text, target)
    store: bool = False
    volume_prefix: str = ""
    secret_files: tuple[str, ...] = ()  # full secret names mounted as Compose secrets


@dataclass
class Project:
    """A Compose project: its units, volumes, and the networks it joins."""

    placed: Placed
    units: list[Unit] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)
    shared_stores: list[str] = field(default_factory=list)


def _ns(prefix: str) -> Callable[[str], str]:
    return lambda local: f"{prefix}.{local}"


def _ns_dedicated(app: str, prefix: str) -> Callable[[str], str]:
    return lambda local: f"{app}.{prefix}{local}"


def _own_units(svc: Service) -> list[Unit]:
    primary = primary_container(svc)
    out = []
    for cname, c in svc.containers.items():
        aliases = [f"{svc.name}-{cname}"] + ([svc.name] if cname == primary and cname != svc.name else [])
        if cname == svc.name:
            aliases = [svc.name]
        out.append(Unit(cname, c, svc, _ns(svc.name), tuple(aliases), store=svc.kind == "store"))
    return out


def _provision_unit(
    ctx: RenderContext,
    kind: str,
    store_svc: Service,
    key: str,
    server_key: str,
    admin_secret: str,
    endpoints: list[StoreEndpoint],
) -> Unit | None:
    """A one-shot job that creates databases, users and extensions idempotently."""
    if kind == "redis" or not endpoints:
        return None
    server = store_svc.containers["server"]
    script = provision_script(kind)
    env, secret_files = provision_env(ctx, kind, server_key, admin_secret, endpoints)
    job = Container(
        image=server.image,
        role="job",
        entrypoint=["/bin/sh", "/zixly/provision.sh"],
        command=[],
        resources=Resources(memory="128m", cpus=0.5, pids=64),
        depends_on=[server_key],
        user=None,
        cap_add=[],
    )
    return Unit(
        key,
        job,
        store_svc,
        lambda local: local,
        (),
        tuple(env),
        (("files/provision.sh", script, "/zixly/provision.sh"),),
        secret_files=tuple(secret_files),
    )


def build_projects(ctx: RenderContext, host: str) -> list[Project]:
    """The Compose projects of one host, in deploy order."""
    stack = ctx.stack
    projects: list[Project] = []
    store_defs = {k: stack.services[k] for k in STORE_KINDS if k in stack.services}
    for placed in stack.on_host(host):
        svc = placed.service
        if svc.kind == "store" and svc.name in STORE_KINDS:
            if ctx.dedicated:
                continue
            proj = Project(placed, volumes=list(svc.volumes))
            proj.units.extend(_own_units(svc))
            users = [(a, b) for a in stack.services.values() for b in a.stores if b.kind == svc.name]
            eps = [ctx.endpoint(a, b) for a, b in users]
            job = _provision_unit(ctx, svc.name, svc, "provision", "server", f"{svc.name}.admin_password", eps)
            if job:
                proj.units.append(job)
            projects.append(proj)
            continue
        proj = Project(placed, volumes=list(svc.volumes), uses=list(svc.uses))
        proj.units.extend(_own_units(svc))
        for b in svc.stores:
            if not ctx.dedicated:
                proj.shared_stores.append(b.kind)
                continue
            sdef = store_defs.get(b.kind)
            if sdef is None:
                continue
            server = sdef.containers["server"]
            ns_prefix = f"{b.kind}_"
            proj.units.append(
                Unit(
                    b.kind, server, sdef, _ns_dedicated(svc.name, ns_prefix), (), store=True, volume_prefix=f"{b.kind}-"
                )
            )
            proj.volumes.extend(f"{b.kind}-{v}" for v in sdef.volumes)
            job = _provision_unit(
                ctx,
                b.kind,
                sdef,
                f"{b.kind}-provision",
                b.kind,
                ctx.instance_secret(svc.name, b.kind, "admin_password"),
                [ctx.endpoint(svc, b)],
            )
            if job:
                proj.units.append(job)
        projects.append(proj)
    return projects


def remount(unit: Unit, m: VolumeMount) -> str:
    """Project-level volume name of a unit's mount (store units in app projects are prefixed)."""
    return f"{unit.volume_prefix}{m.volume}"


__all__ = ["FileMount", "Healthcheck", "Project", "Unit", "build_projects", "remount"]
