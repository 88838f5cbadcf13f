"""The public URLs of an environment's apps and how to probe them through Traefik. Pure, but :func:`probe`.

Every routed container gets one :class:`AppUrl`: ``https://<subdomain>.<domain>`` plus
the vendor's documented health path (the container's ``contract.http`` entry on the
routed port, else the route's prefix, else ``/``) and whether the image is a labelled
stand-in. :func:`probe` asks Traefik on the edge address with the Host header, so it
needs neither DNS nor a matching certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from ..catalog.routes import https_origin, route_host
from ..project import Loaded, image_mapper


@dataclass(frozen=True)
class AppUrl:
    """One routed container."""

    service: str
    container: str
    host: str  # the Host header, e.g. n8n.localhost
    url: str
    health_path: str
    expect: int
    standin: bool
    kind: str
    prefix: str = "/"  # the route's path prefix


def app_urls(loaded: Loaded) -> list[AppUrl]:
    """Every routed container of the environment, in catalog deploy order.

    A container's probe is the vendor's documented answer (``contract.http``) on a routed
    port whose path lies under one of its routes; without one, the route's prefix, where
    any answer but Traefik's own 404 or a 5xx proves the route reaches the container.
    """
    mapper = image_mapper(loaded)
    env = loaded.config.environment
    port = env.edge.https_port
    out: list[AppUrl] = []
    for name, svc in loaded.stack.services.items():
        for cname, c in svc.containers.items():
            if not c.routes:
                continue
            route, path, expect = c.routes[0], c.routes[0].path_prefix or "/", 0
            found = [
                (r, h)
                for h in (c.contract.http if c.contract else [])
                for r in c.routes
                if h.port == r.port and (not r.path_prefix or h.path.startswith(r.path_prefix.rstrip("/")))
            ]
            if found:
                route, contract = found[0]
                path, expect = contract.path, contract.status
            host = route_host(route.subdomain, env.domain)
            url = https_origin(host, port) + (route.path_prefix or "/")
            prefix = route.path_prefix or "/"
            out.append(AppUrl(name, cname, host, url, path, expect, mapper(c.image).standin, svc.kind, prefix))
    return out


def main_urls(urls: Sequence[AppUrl]) -> list[AppUrl]:
    """One URL per service: its root route when it has one (Plane's web, not its /api/)."""
    best: dict[str, AppUrl] = {}
    for u in urls:
        if u.service not in best or (u.prefix == "/" and best[u.service].prefix != "/"):
            best[u.service] = u
    return list(best.values())


TRAEFIK_404 = "404 page not found"


@dataclass(frozen=True)
class ProbeResult:
    """What Traefik answered for one app."""

    app: AppUrl
    status: int
    ok: bool
    error: str = ""


def probe(urls: Sequence[AppUrl], address: str, port: int, timeout: float = 10.0) -> list[ProbeResult]:
    """GET each app's health path through Traefik at *address*:*port* with its Host header."""
    out = []
    with httpx.Client(verify=False, timeout=timeout) as client:
        for u in urls:
            try:
                resp = client.get(f"https://{address}:{port}{u.health_path}", headers={"Host": u.host})
            except httpx.HTTPError as exc:
                out.append(ProbeResult(u, 0, False, f"{type(exc).__name__}: {exc}"))
                continue
            if u.expect:
                ok = resp.status_code == u.expect
            else:
                traefik_404 = resp.status_code == 404 and resp.text.strip() == TRAEFIK_404
                ok = resp.status_code < 500 and not traefik_404
            out.append(ProbeResult(u, resp.status_code, ok))
    return out
