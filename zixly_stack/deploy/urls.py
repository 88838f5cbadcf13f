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
from typing import Any


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


def app_urls(loaded: Any) -> list[AppUrl]:
    """Every routed container of the environment, in catalog deploy order."""
    from ..project import image_mapper

    mapper = image_mapper(loaded)
    env = loaded.config.environment
    out: list[AppUrl] = []
    for name, svc in loaded.stack.services.items():
        for cname, c in svc.containers.items():
            if not c.routes:
                continue
            route = c.routes[0]
            host = f"{route.subdomain}.{env.domain}"
            path, expect = route.path_prefix or "/", 200
            for h in c.contract.http if c.contract else []:
                if h.port == route.port and (not route.path_prefix or h.path.startswith(route.path_prefix)):
                    path, expect = h.path, h.status
                    break
            else:
                expect = 0  # no documented answer: any HTTP status proves routing
            port = env.edge.https_port
            url = f"https://{host}" + ("" if port == 443 else f":{port}") + (route.path_prefix or "/")
            out.append(AppUrl(name, cname, host, url, path, expect, mapper(c.image).standin, svc.kind))
    return out


@dataclass(frozen=True)
class ProbeResult:
    """What Traefik answered for one app."""

    app: AppUrl
    status: int
    ok: bool
    error: str = ""


def probe(urls: Sequence[AppUrl], address: str, port: int, timeout: float = 10.0) -> list[ProbeResult]:
    """GET each app's health path through Traefik at *address*:*port* with its Host header."""
    import httpx

    out = []
    with httpx.Client(verify=False, timeout=timeout) as client:
        for u in urls:
            try:
                resp = client.get(f"https://{address}:{port}{u.health_path}", headers={"Host": u.host})
            except httpx.HTTPError as exc:
                out.append(ProbeResult(u, 0, False, f"{type(exc).__name__}: {exc}"))
                continue
            ok = resp.status_code == u.expect if u.expect else resp.status_code < 500 and resp.status_code != 404
            out.append(ProbeResult(u, resp.status_code, ok))
    return out
