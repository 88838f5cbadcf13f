"""Check specifications: what to probe, derived from the catalog plus ``healthchecks/`` data.

Pure. :func:`derive` turns a loaded environment and :class:`Settings` into a :class:`Suite`
of frozen specs; probes (:mod:`.probes`) execute them. Every spec has a stable ``check_id``
(``KIND:APP:DETAIL``) that history and notifications key on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..catalog.routes import route_host
from ..catalog.stack import STORE_KINDS
from ..config.healthchecks import Settings
from ..models.environment import Host
from ..models.service import Container, Route
from ..project import Loaded, image_mapper


@dataclass(frozen=True)
class Edge:
    """Where a host's Traefik answers HTTPS: an address and port to connect to."""

    host: str
    address: str
    port: int


@dataclass(frozen=True)
class HttpCheck:
    """GET ``https://<edge><path>`` with ``Host: <vhost>`` (SNI too); expect status and body substring."""

    check_id: str
    app: str
    edge: Edge
    vhost: str
    path: str
    status: int | None
    body: str | None
    warn_ms: float
    timeout_s: float


@dataclass(frozen=True)
class TlsCheck:
    """Days left on the certificate the edge presents for ``server_name``."""

    check_id: str
    app: str
    edge: Edge
    server_name: str
    warn_days: int
    critical_days: int
    timeout_s: float
    verify: bool = False  # also require a chain trusted by the system store, valid for server_name


@dataclass(frozen=True)
class ExpectedContainer:
    """A long-running container the engine should run, and the image it should run."""

    app: str
    container: str
    image: str
    replicas: int = 1


@dataclass(frozen=True)
class EngineCheck:
    """Every expected container on one host: state, health, restarts, OOM kills, image drift."""

    host: str
    target: Host
    env: str
    expected: tuple[ExpectedContainer, ...]
    max_restarts: int
    check_images: bool


@dataclass(frozen=True)
class HostCheck:
    """Disk usage of ``paths`` and memory use on one host."""

    check_id: str
    host: str
    target: Host
    paths: tuple[str, ...]
    disk_warn: float
    disk_critical: float
    mem_warn: float
    mem_critical: float


@dataclass(frozen=True)
class BackupCheck:
    """Age of the latest snapshot of one service."""

    check_id: str
    app: str
    warn_hours: float
    critical_hours: float


@dataclass(frozen=True)
class DnsCheck:
    """A route's host name resolves."""

    check_id: str
    app: str
    name: str


@dataclass(frozen=True)
class Suite:
    """Everything one report probes."""

    env: str
    http: tuple[HttpCheck, ...] = ()
    tls: tuple[TlsCheck, ...] = ()
    engines: tuple[EngineCheck, ...] = ()
    hosts: tuple[HostCheck, ...] = ()
    backups: tuple[BackupCheck, ...] = ()
    dns: tuple[DnsCheck, ...] = ()
    skipped: tuple[str, ...] = field(default=())


def edge_for(name: str, host: Host, bind: str, port: int) -> Edge:
    """The address to reach a host's edge: ``@local`` is loopback (or the bind address)."""
    address = ("127.0.0.1" if bind in ("0.0.0.0", "") else bind) if host.address == "@local" else host.address
    return Edge(name, address, port)


def route_paths(c: Container, r: Route) -> list[tuple[str, int | None, str | None]]:
    """(path, expected status, body) probes for one route from the container's contract.

    Only contract answers on the route's port and reachable under its path prefix count; a
    route without one is probed at its root and any answer below 500 is healthy.
    """
    out: list[tuple[str, int | None, str | None]] = []
    for h in c.contract.http if c.contract else []:
        if h.port != r.port:
            continue
        if r.path_prefix and r.strip_prefix:
            out.append((r.path_prefix.rstrip("/") + h.path, h.status, h.body))
        elif not r.path_prefix or h.path.startswith(r.path_prefix):
            out.append((h.path, h.status, h.body))
    if not out:
        out.append((r.path_prefix or "/", None, None))
    return out


def narrows_a_sibling(c: Container, r: Route) -> bool:
    """True for a route that only carves a path or method out of a sibling route to the same
    port (n8n's ``/webhook`` under its ``/``, for its own rate limit): the sibling's probe
    already reaches that process, so it gets no check of its own."""
    return any(o is not r and o.port == r.port and not o.path_prefix and not o.methods for o in c.routes) and bool(
        r.path_prefix or r.methods
    )


def _edges(loaded: Loaded) -> list[Edge]:
    env = loaded.config.environment
    stack = loaded.stack
    edge_hosts = [p.host for p in stack.placements if p.service.kind == "edge"] or stack.host_names()[:1]
    seen: list[Edge] = []
    for h in dict.fromkeys(edge_hosts):
        seen.append(edge_for(h, stack.hosts[h], env.edge.bind, env.edge.https_port))
    return seen


def derive(loaded: Loaded, settings: Settings, *, offline: bool = False) -> Suite:
    """All checks for the environment (pure). ``offline`` skips DNS."""
    stack = loaded.stack
    env = loaded.config.environment
    skip = set(settings.skip) | ({"dns"} if offline or not settings.dns.enabled else set())
    edges = _edges(loaded)
    edge = edges[0] if edges else None
    http: list[HttpCheck] = []
    tls: list[TlsCheck] = []
    dns: list[DnsCheck] = []
    backups: list[BackupCheck] = []
    vhosts_seen: set[str] = set()
    for p in stack.placements:
        svc = p.service
        for c in svc.containers.values():
            for r in c.routes:
                vhost = route_host(r.subdomain, env.domain)
                if edge is not None and not narrows_a_sibling(c, r):
                    for path, status, body in route_paths(c, r):
                        http.append(
                            HttpCheck(
                                f"http:{svc.name}:{vhost}{path}", svc.name, edge, vhost, path, status, body,
                                settings.http.warn_ms, settings.http.timeout_s,
                            )
                        )
                if vhost in vhosts_seen:
                    continue
                vhosts_seen.add(vhost)
                if edge is not None:
                    tls.append(
                        TlsCheck(f"tls:{svc.name}:{vhost}", svc.name, edge, vhost, settings.tls.warn_days,
                                 settings.tls.critical_days, settings.http.timeout_s, verify=env.acme is not None)
                    )
                if not any(vhost.endswith(s) or vhost == s.lstrip(".") for s in settings.dns.skip_suffixes):
                    dns.append(DnsCheck(f"dns:{svc.name}:{vhost}", svc.name, vhost))
        if env.backup.enabled and (svc.backup.databases or svc.backup.volumes):
            backups.append(
                BackupCheck(f"backup:{svc.name}", svc.name, settings.backup.max_age_hours,
                            settings.backup.critical_age_hours)
            )
    for extra in settings.extra_http:
        if edge is None:
            break
        vhost = route_host(extra.subdomain, env.domain)
        http.append(
            HttpCheck(f"http:{extra.app}:{extra.name}", extra.app, edge, vhost, extra.path, extra.status,
                      extra.body, settings.http.warn_ms, settings.http.timeout_s)
        )
    return Suite(
        env=stack.env_name,
        http=() if "http" in skip else tuple(http),
        tls=() if "tls" in skip else tuple(tls),
        engines=() if "container" in skip else _engines(loaded, settings, "image" not in skip),
        hosts=() if "host" in skip else _hosts(loaded, settings),
        backups=() if "backup" in skip else tuple(backups),
        dns=() if "dns" in skip else tuple(dns),
        skipped=tuple(sorted(skip)),
    )


def _engines(loaded: Loaded, settings: Settings, check_images: bool) -> tuple[EngineCheck, ...]:
    stack = loaded.stack
    mapper = image_mapper(loaded)
    env = loaded.config.environment
    dedicated = env.stores == "dedicated"
    out: list[EngineCheck] = []
    for host in stack.host_names():
        expected: list[ExpectedContainer] = []
        for p in stack.on_host(host):
            override = env.services.get(p.name)
            replicas = override.replicas if override is not None else 1
            if replicas == 0:
                continue
            svc = p.service
            if dedicated and svc.kind == "store" and svc.name in STORE_KINDS:
                continue  # each app runs its own store server (below)
            for cname, c in svc.containers.items():
                if c.role == "service":
                    expected.append(ExpectedContainer(p.name, cname, mapper(c.image).ref, replicas))
            for b in svc.stores if dedicated else []:
                sdef = stack.services.get(b.kind)
                if sdef is not None and "server" in sdef.containers:
                    expected.append(ExpectedContainer(p.name, b.kind, mapper(sdef.containers["server"].image).ref))
        out.append(
            EngineCheck(host, stack.hosts[host], stack.env_name, tuple(expected),
                        settings.containers.max_restarts, check_images)
        )
    return tuple(out)


def _hosts(loaded: Loaded, settings: Settings) -> tuple[HostCheck, ...]:
    h = settings.host
    return tuple(
        HostCheck(f"host:{name}", name, loaded.stack.hosts[name], tuple(h.disk_paths), h.disk_warn_pct,
                  h.disk_critical_pct, h.memory_warn_pct, h.memory_critical_pct)
        for name in loaded.stack.host_names()
    )
