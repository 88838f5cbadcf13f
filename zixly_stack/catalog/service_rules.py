"""Rules of one service definition (``services/<name>/service.yaml``): names that must resolve
inside it (volumes, containers, secrets, stores, hooks), pins and healthchecks.

Each public function is one rule ``(catalog, service) -> problems``, registered in
:mod:`zixly_stack.catalog.rules`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..config.loader import Catalog
from ..config.problems import did_you_mean
from ..config.yamlsrc import PathT
from ..errors import Problem
from ..models.service import Container, Service, tag_is_floating
from .rulebase import svc_problem
from .stack import STORE_KINDS
from .templates import check_template

PINNED = "use an exact version such as 1.2.3"


def _containers(svc: Service) -> Iterator[tuple[PathT, Container]]:
    for cname, c in svc.containers.items():
        yield ("containers", cname), c


def pinned_image(cat: Catalog, svc: Service) -> list[Problem]:
    """An image tag names one version, never a moving one (``latest``, ``16``, ``v2``)."""
    return [svc_problem(cat, svc.name, (*base, "image", "tag"), f"image tag {c.image.tag!r} is not pinned", PINNED)
            for base, c in _containers(svc) if tag_is_floating(c.image.tag)]


def declared_volumes(cat: Catalog, svc: Service) -> list[Problem]:
    """A container mounts only volumes the service declares under ``volumes``."""
    declared = set(svc.volumes)
    return [svc_problem(cat, svc.name, (*base, "volumes", i, "volume"),
                        f"volume {m.volume!r} is not declared in 'volumes'",
                        did_you_mean(m.volume, declared) or "add it to the service's volumes")
            for base, c in _containers(svc) for i, m in enumerate(c.volumes) if m.volume not in declared]


def depends_on_siblings(cat: Catalog, svc: Service) -> list[Problem]:
    """``depends_on`` names containers of the same service."""
    return [svc_problem(cat, svc.name, (*base, "depends_on", i), f"no container named {dep!r}",
                        did_you_mean(dep, svc.containers))
            for base, c in _containers(svc) for i, dep in enumerate(c.depends_on) if dep not in svc.containers]


def file_templates(cat: Catalog, svc: Service) -> list[Problem]:
    """A mounted file's template exists under ``services/<svc>/`` or ``templates/`` and parses."""
    pos = cat.sources[svc.name].positions
    return [p for base, c in _containers(svc) for i, f in enumerate(c.files)
            for p in check_template(cat.root, pos, svc.name, (*base, "files", i, "template"), f.template)]


def service_healthcheck(cat: Catalog, svc: Service) -> list[Problem]:
    """A long-running container has a healthcheck, or a ``healthcheck`` exception with a reason."""
    return [svc_problem(cat, svc.name, base, "long-running container has no healthcheck",
                        "add 'healthcheck:' or an exception with a reason")
            for base, c in _containers(svc)
            if c.role == "service" and c.healthcheck is None and not any(e.rule == "healthcheck" for e in c.exceptions)]


def distinct_route_names(cat: Catalog, svc: Service) -> list[Problem]:
    """Two routes of one container have distinct ``name`` s (one Traefik router each)."""
    out: list[Problem] = []
    for base, c in _containers(svc):
        seen: set[str] = set()
        for i, r in enumerate(c.routes):
            if (r.name or "") in seen:
                out.append(svc_problem(cat, svc.name, (*base, "routes", i), "two routes without distinct names",
                                       "give each route a 'name'"))
            seen.add(r.name or "")
    return out


def backup_volumes(cat: Catalog, svc: Service) -> list[Problem]:
    """``backup.volumes`` names volumes the service declares."""
    declared = set(svc.volumes)
    return [svc_problem(cat, svc.name, ("backup", "volumes", i), f"volume {vol!r} is not declared",
                        did_you_mean(vol, declared))
            for i, vol in enumerate(svc.backup.volumes) if vol not in declared]


def backup_step_containers(cat: Catalog, svc: Service) -> list[Problem]:
    """``backup.pre`` / ``backup.post`` steps run in containers of the service."""
    return [svc_problem(cat, svc.name, ("backup", key, i, "container"), f"no container named {step.container!r}",
                        did_you_mean(step.container, svc.containers))
            for key, steps in (("pre", svc.backup.pre), ("post", svc.backup.post))
            for i, step in enumerate(steps) if step.container not in svc.containers]


def backup_database_store(cat: Catalog, svc: Service) -> list[Problem]:
    """A dumped database without its own ``container`` is in a store the service binds."""
    bound = {b.kind for b in svc.stores}
    return [svc_problem(cat, svc.name, ("backup", "databases", i, "store"), f"this service binds no {db.store!r} store",
                        "add it under 'stores:'")
            for i, db in enumerate(svc.backup.databases) if db.container is None and db.store not in bound]


def bcrypt_source(cat: Catalog, svc: Service) -> list[Problem]:
    """A ``bcrypt`` secret names (``of``) another secret of the service it hashes."""
    return [svc_problem(cat, svc.name, ("secrets", sname, "of"),
                        "bcrypt secret needs 'of' naming another secret of this service",
                        did_you_mean(spec.of or "", [s for s in svc.secrets if s != sname])
                        or "declare the secret it hashes under 'secrets:'")
            for sname, spec in svc.secrets.items()
            if spec.type == "bcrypt" and (spec.of is None or spec.of not in svc.secrets)]


def known_uses(cat: Catalog, svc: Service) -> list[Problem]:
    """``uses`` names catalog services."""
    return [svc_problem(cat, svc.name, ("uses", i), f"unknown service {used!r}", did_you_mean(used, cat.services))
            for i, used in enumerate(svc.uses) if used not in cat.services and used not in cat.invalid]


def store_server(cat: Catalog, svc: Service) -> list[Problem]:
    """A data store service (postgres, mariadb, redis) has a container named ``server``."""
    if svc.kind == "store" and svc.name in STORE_KINDS and "server" not in svc.containers:
        return [svc_problem(cat, svc.name, ("containers",), "a store needs a container named 'server'")]
    return []


def known_hook_needs(cat: Catalog, svc: Service) -> list[Problem]:
    """A hook's ``needs`` names hooks some catalog service declares."""
    names = {h.name for s in cat.services.values() for h in s.hooks}
    return [svc_problem(cat, svc.name, ("hooks", i, "needs", j), f"unknown hook {need!r}", did_you_mean(need, names))
            for i, hook in enumerate(svc.hooks) for j, need in enumerate(hook.needs) if need not in names]
