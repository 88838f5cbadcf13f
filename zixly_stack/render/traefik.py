"""Traefik v3 static and dynamic (file provider) configuration for one host.

Catalog routes are rendered into the file provider (``dynamic/routes.yml``) rather than
container labels: a route change is a reviewable file diff that Traefik reloads live,
without recreating the app container. The Docker provider stays enabled (through the
read-only socket proxy, ``exposedByDefault: false``) for containers users label themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..catalog.routes import dashboard_host, route_host
from ..models.environment import Edge
from ..models.service import RATE_LIMIT_PROFILES, Route
from .context import RenderContext
from .tree import RenderedFile, dump_yaml

HEADER = "# Rendered by zixly. Do not edit: change the environment or the service definitions.\n"
CIPHERS_TLS12 = [
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
]
USERS_SECRET = "edge_dashboard_users"
CONFIG_DIR = "/etc/traefik"
LE_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


def router_tls(acme: bool) -> dict[str, Any]:
    """A router's ``tls``: the ``le`` resolver's certificates with ACME, else the default store's."""
    return {"certResolver": "le"} if acme else {}


def _tls_router(ctx: RenderContext) -> dict[str, Any]:
    return router_tls(ctx.stack.environment.acme is not None)


def static_config(ctx: RenderContext) -> dict[str, Any]:
    """``traefik.yml``."""
    env = ctx.stack.environment
    websecure: dict[str, Any] = {
        "address": ":443",
        "http": {"middlewares": ["security-headers@file"], "tls": _tls_router(ctx)},
        "transport": {
            "respondingTimeouts": {
                "readTimeout": env.edge.upload_timeout,
                "writeTimeout": env.edge.upload_timeout,
                "idleTimeout": "180s",
            },
        },
    }
    doc: dict[str, Any] = {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "INFO", "format": "json"},
        "accessLog": {
            "format": "json",
            "fields": {
                "defaultMode": "keep",
                "headers": {"defaultMode": "drop", "names": {"User-Agent": "keep", "Content-Type": "keep"}},
            },
        },
        # disableDashboardAd: the dashboard otherwise loads scripts from traefik.github.io (Traefik Hub
        # button and demo app) -- calls out from every admin's browser, failed requests offline.
        "api": {"dashboard": env.edge.dashboard, "insecure": False, "disableDashboardAd": True},
        "ping": {"entryPoint": "traefik"},
        "entryPoints": {
            "web": {
                "address": ":80",
                "http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}},
            },
            "websecure": websecure,
            "traefik": {"address": ":8080"},
        },
        "providers": {"file": {"directory": f"{CONFIG_DIR}/dynamic", "watch": True}},
    }
    if "socket-proxy" in ctx.stack.services and env.mode == "swarm":
        doc["providers"]["swarm"] = {
            "endpoint": "tcp://socket-proxy:2375",
            "exposedByDefault": False,
            "network": f"{ctx.stack.prefix}-proxy",
            "refreshSeconds": "15s",
            "watch": True,
        }
    elif "socket-proxy" in ctx.stack.services:
        doc["providers"]["docker"] = {
            "endpoint": "tcp://socket-proxy:2375",
            "exposedByDefault": False,
            "network": f"{ctx.stack.prefix}-proxy",
            "watch": True,
        }
    if env.acme:
        acme: dict[str, Any] = {"email": env.acme.email, "storage": "/acme/acme.json"}
        if env.acme.staging:
            acme["caServer"] = LE_STAGING
        if env.acme.challenge == "http":
            acme["httpChallenge"] = {"entryPoint": "web"}
        elif env.acme.challenge == "tls":
            acme["tlsChallenge"] = {}
        else:
            acme["dnsChallenge"] = {"provider": env.acme.dns_provider or "cloudflare"}
        doc["certificatesResolvers"] = {"le": {"acme": acme}}
    return doc


def tls_config(ctx: RenderContext) -> dict[str, Any]:
    """``dynamic/tls.yml``: TLS >= 1.2, AEAD suites only, strict SNI."""
    t = ctx.stack.environment.tls
    opts: dict[str, Any] = {"minVersion": t.min_version, "sniStrict": t.sni_strict}
    if t.min_version == "VersionTLS12":
        opts["cipherSuites"] = CIPHERS_TLS12
    return {"tls": {"options": {"default": opts}}}


def client_source(edge: Edge) -> dict[str, Any]:
    """Traefik ``sourceCriterion`` that keys a limit on the real client address.

    The edge publishes 80/443 itself, so by default the client is the TCP peer
    (``ipStrategy`` without depth = the request's remote address). Behind trusted proxies,
    the first X-Forwarded-For address from the right that is not one of them.
    """
    if edge.trusted_proxies:
        return {"ipStrategy": {"excludedIPs": list(edge.trusted_proxies)}}
    return {"ipStrategy": {"depth": 0}}


def rate_limit_middlewares(edge: Edge) -> dict[str, Any]:
    """``ratelimit-<profile>`` for every profile (routes name one with ``rate_limit:``)."""
    out: dict[str, Any] = {}
    for name in RATE_LIMIT_PROFILES:
        limit = edge.rate_limits.profile(name)
        out[f"ratelimit-{name}"] = {
            "rateLimit": {
                "average": limit.average,
                "burst": limit.burst,
                "period": limit.period,
                "sourceCriterion": client_source(edge),
            }
        }
    return out


def route_middlewares(route: Route) -> list[str]:
    """The shared (``@file``) middlewares a route's router uses, in order: its rate limit, then the rest."""
    mws = [f"ratelimit-{route.rate_limit}@file"] if route.rate_limit else []
    return mws + [f"{m}@file" for m in route.middlewares if m != "large-uploads"]


def middlewares(ctx: RenderContext) -> dict[str, Any]:
    """``dynamic/middlewares.yml``: security headers, the rate-limit profiles, basic auth."""
    env = ctx.stack.environment
    return {
        "http": {
            "middlewares": {
                "security-headers": {
                    "headers": {
                        "stsSeconds": env.tls.hsts_seconds,
                        "stsIncludeSubdomains": True,
                        "stsPreload": env.tls.hsts_preload,
                        "forceSTSHeader": True,
                        "contentTypeNosniff": True,
                        "browserXssFilter": True,
                        "referrerPolicy": "strict-origin-when-cross-origin",
                        "customFrameOptionsValue": "SAMEORIGIN",
                        "customResponseHeaders": {"X-Powered-By": "", "Server": ""},
                    }
                },
                **rate_limit_middlewares(env.edge),
                "auth": {
                    "basicAuth": {"usersFile": f"/run/secrets/{USERS_SECRET}", "realm": "zixly", "removeHeader": True}
                },
            }
        }
    }


def host_rule(host: str) -> str:
    """The rule matching requests for *host*: ``Host(`<host>`)``."""
    return f"Host(`{host}`)"


def route_rule(route: Route, domain: str) -> str:
    """The router rule: ``Host(...)``, then ``PathPrefix(...)`` and ``Method(...)`` when the route has them."""
    rule = host_rule(route_host(route.subdomain, domain))
    if route.path_prefix:
        rule += f" && PathPrefix(`{route.path_prefix}`)"
    if route.methods:
        methods = " || ".join(f"Method(`{m}`)" for m in route.methods)
        rule += f" && ({methods})" if len(route.methods) > 1 else f" && {methods}"
    return rule


def router_name(svc: str, container: str, route: Route, index: int) -> str:
    """Stable router/service name: ``<svc>[-<container>][-<route>]``."""
    parts = [svc] if container == svc else [svc, container]
    if route.name:
        parts.append(route.name)
    elif index:
        parts.append(str(index))
    return "-".join(parts)


def router(rule: str, service: str, tls: dict[str, Any], middlewares: Sequence[str] = (),
           priority: int | None = None) -> dict[str, Any]:
    """A Traefik router on the ``websecure`` entry point, as the file provider reads it.

    Every router zixly renders is built here: the file provider's (apps, the dashboard, a demo's)
    as this dict, the swarm provider's as :func:`router_labels` of it."""
    out: dict[str, Any] = {"rule": rule, "entryPoints": ["websecure"], "service": service}
    if middlewares:
        out["middlewares"] = list(middlewares)
    if priority:
        out["priority"] = priority
    out["tls"] = tls
    return out


def route_router(name: str, route: Route, domain: str, service: str, tls: dict[str, Any],
                 provider: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The router of catalog *route* named *name*, and the middlewares of its own (its
    ``<name>-strip`` when it strips its prefix), referenced ``@<provider>``."""
    mws = route_middlewares(route)
    own: dict[str, Any] = {}
    if route.strip_prefix and route.path_prefix:
        own[f"{name}-strip"] = {"stripPrefix": {"prefixes": [route.path_prefix]}}
        mws.append(f"{name}-strip@{provider}")
    return router(route_rule(route, domain), service, tls, mws, route.priority), own


def _label_value(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def router_labels(name: str, router: dict[str, Any], middlewares: dict[str, Any]) -> dict[str, str]:
    """A :func:`router` and its own middlewares as swarm-provider labels
    (``traefik.http.routers.<name>.*``, ``traefik.http.middlewares.<mw>.<kind>.<option>``)."""
    key = f"traefik.http.routers.{name}"
    out = {f"{key}.rule": router["rule"], f"{key}.entrypoints": _label_value(router["entryPoints"]),
           f"{key}.service": router["service"], f"{key}.tls": "true"}
    if router["tls"].get("certResolver"):
        out[f"{key}.tls.certresolver"] = router["tls"]["certResolver"]
    for mw, spec in middlewares.items():
        for kind, options in spec.items():
            for option, value in options.items():
                out[f"traefik.http.middlewares.{mw}.{kind.lower()}.{option.lower()}"] = _label_value(value)
    if "middlewares" in router:
        out[f"{key}.middlewares"] = _label_value(router["middlewares"])
    if "priority" in router:
        out[f"{key}.priority"] = str(router["priority"])
    return out


@dataclass
class RoutesDoc:
    """A file-provider ``http:`` document being built: routers, services, middlewares."""

    routers: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    middlewares: dict[str, Any] = field(default_factory=dict)

    def add(self, named: Sequence[tuple[str, Route]], domain: str, tls: dict[str, Any], upstream: str) -> None:
        """One container's routes (reached as *upstream*, its network alias): a router each;
        routes to the same port share the first one's service."""
        by_port: dict[int, str] = {}
        for name, r in named:
            service = by_port.setdefault(r.port, name)
            router, own = route_router(name, r, domain, service, tls, "file")
            self.middlewares.update(own)
            self.routers[name] = router
            if service == name:
                self.services[name] = {
                    "loadBalancer": {"servers": [{"url": f"http://{upstream}:{r.port}"}], "passHostHeader": True}
                }

    def doc(self) -> dict[str, Any]:
        """``{"http": ...}``, or ``{}`` without routers (an empty ``routers:`` disables the whole file provider)."""
        if not self.routers:
            return {}
        http: dict[str, Any] = {"routers": self.routers}
        if self.services:
            http["services"] = self.services
        if self.middlewares:
            http["middlewares"] = self.middlewares
        return {"http": http}


def routes(ctx: RenderContext, host: str) -> dict[str, Any]:
    """``dynamic/routes.yml``: a router per catalog route on this host, a service per routed port."""
    out = RoutesDoc()
    env = ctx.stack.environment
    domain = env.domain
    if env.edge.dashboard:
        out.routers["dashboard"] = router(host_rule(dashboard_host(env)), "api@internal", _tls_router(ctx),
                                          ["auth@file"])
    # mode: swarm routes catalog services by service labels (render/swarm.py), not this file
    placements = ctx.stack.on_host(host) if env.mode == "compose" else []
    for placed in placements:
        svc = placed.service
        for cname, c in svc.containers.items():
            named = [(router_name(svc.name, cname, r, i), r) for i, r in enumerate(c.routes)]
            out.add(named, domain, _tls_router(ctx), f"{svc.name}-{cname}")
    return out.doc()


def edge_files(ctx: RenderContext, host: str) -> list[RenderedFile]:
    """Traefik's config files for ``host`` (under ``<host>/traefik/``)."""
    base = f"{host}/traefik"
    users = f"admin:{ctx.secret('edge.admin_password_hash')}\n"
    return [
        RenderedFile(f"{base}/config/traefik.yml", dump_yaml(static_config(ctx), HEADER)),
        RenderedFile(f"{base}/config/dynamic/tls.yml", dump_yaml(tls_config(ctx), HEADER)),
        RenderedFile(f"{base}/config/dynamic/middlewares.yml", dump_yaml(middlewares(ctx), HEADER)),
        RenderedFile(f"{base}/config/dynamic/routes.yml", dump_yaml(routes(ctx, host), HEADER)),
        RenderedFile(f"{base}/secrets/{USERS_SECRET}", users, 0o444, secret=True),
    ]


def edge_compose_extras(ctx: RenderContext) -> dict[str, Any]:
    """What the edge container gets besides its catalog definition: ports, config, users file."""
    e = ctx.stack.environment.edge
    return {
        "ports": [f"{e.bind}:{e.http_port}:80", f"{e.bind}:{e.https_port}:443"],
        "volumes": [{"type": "bind", "source": "./config", "target": CONFIG_DIR, "read_only": True}],
        "secrets": [USERS_SECRET],
    }
