"""Resolve an environment against the catalog: which services, where, with which overrides.

Pure: (Catalog, EnvConfig) -> Stack. Validation of references lives in :mod:`checks`;
this module assumes a checked input and never raises for user errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config.loader import Catalog, EnvConfig
from ..models.environment import Environment, Host, ServiceOverride
from ..models.service import Container, Route, Service

KIND_ORDER = {"store": 0, "infra": 1, "edge": 2, "app": 3}
STORE_KINDS = ("postgres", "mariadb", "redis")
ROLE_FOR_KIND = {"store": "stores", "infra": "apps", "edge": "edge", "app": "apps"}


@dataclass(frozen=True)
class Placed:
    """A service with its environment overrides applied, placed on a host."""

    service: Service
    host: str
    project: str

    @property
    def name(self) -> str:
        """The service name."""
        return self.service.name


@dataclass(frozen=True)
class Stack:
    """Everything render needs to know about one environment, resolved."""

    env_name: str
    environment: Environment
    hosts: dict[str, Host]
    services: dict[str, Service] = field(default_factory=dict)
    placements: list[Placed] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        """Name prefix for projects, networks and volumes: ``zixly-<env>``."""
        return f"zixly-{self.env_name}"

    def on_host(self, host: str) -> list[Placed]:
        """Services placed on ``host`` in deploy order."""
        return [p for p in self.placements if p.host == host]

    def hosts_of(self, name: str) -> list[str]:
        """Hosts a service runs on (edge services run on every host that serves routes)."""
        return [p.host for p in self.placements if p.name == name]

    def host_names(self) -> list[str]:
        """Hosts that run at least one service, in declaration order."""
        used = {p.host for p in self.placements}
        return [h for h in self.hosts if h in used]


def enabled_names(env: Environment) -> list[str]:
    """Service names switched on in the environment."""
    return [n for n, o in env.services.items() if o is None or o.enabled]


def primary_container(svc: Service) -> str:
    """The first container: reachable as ``<service>`` on shared networks."""
    return next(iter(svc.containers))


def _override_container(c: Container, cname: str, svc: Service, o: ServiceOverride) -> Container:
    changes: dict[str, object] = {}
    primary = svc.containers[primary_container(svc)]
    if (
        o.version
        and c.image.tag == primary.image.tag
        and c.image.repository.split("/")[0] == (primary.image.repository.split("/")[0])
    ):
        changes["image"] = c.image.model_copy(update={"tag": o.version, "digest": None})
    if cname in o.resources:
        changes["resources"] = o.resources[cname]
    if cname in o.env:
        changes["env"] = {**c.env, **o.env[cname]}
    if o.subdomain and c.routes:
        first = _first_route(svc)
        changes["routes"] = [
            r.model_copy(update={"subdomain": o.subdomain}) if first and r.subdomain == first.subdomain else r
            for r in c.routes
        ]
    return c.model_copy(update=changes) if changes else c


def _first_route(svc: Service) -> Route | None:
    for c in svc.containers.values():
        if c.routes:
            return c.routes[0]
    return None


def apply_override(svc: Service, o: ServiceOverride | None) -> Service:
    """The service as this environment runs it (version, subdomain, resources, env)."""
    if o is None:
        return svc
    containers = {n: _override_container(c, n, svc, o) for n, c in svc.containers.items()}
    return svc.model_copy(update={"containers": containers})


def place(cfg: EnvConfig, svc: Service) -> str:
    """Host for a service: explicit override, else a host listing it, else the first with its role."""
    env, hosts = cfg.environment, cfg.hosts.hosts
    override = env.services.get(svc.name)
    if override is not None and override.host:
        return override.host
    for name, host in hosts.items():
        if svc.name in host.services:
            return name
    role = ROLE_FOR_KIND[svc.kind]
    for name, host in hosts.items():
        if role in host.roles and not host.services:
            return name
    for name, host in hosts.items():
        if role in host.roles:
            return name
    return next(iter(hosts))


def resolve_stack(catalog: Catalog, cfg: EnvConfig) -> Stack:
    """Apply overrides and placement to every enabled service, in deploy order."""
    env = cfg.environment
    names = [n for n in enabled_names(env) if n in catalog.services]
    names.sort(key=lambda n: (KIND_ORDER[catalog.services[n].kind], n))
    stack = Stack(cfg.name, env, dict(cfg.hosts.hosts))
    for n in names:
        stack.services[n] = apply_override(catalog.services[n], env.services.get(n))
    home = {n: place(cfg, svc) for n, svc in stack.services.items()}
    routed_hosts = {home[n] for n, svc in stack.services.items() if has_routes(svc)}
    edge_hosts = [h for h, host in cfg.hosts.hosts.items() if h in routed_hosts or "edge" in host.roles]
    follows_edge = {u for svc in stack.services.values() if svc.kind == "edge" for u in svc.uses}
    for n, svc in stack.services.items():
        targets = edge_hosts if (svc.kind == "edge" or n in follows_edge) and edge_hosts else [home[n]]
        for h in targets:
            stack.placements.append(Placed(svc, h, f"{stack.prefix}-{n}"))
    return stack


def has_routes(svc: Service) -> bool:
    """True if any container of the service is routed by Traefik."""
    return any(c.routes for c in svc.containers.values())
