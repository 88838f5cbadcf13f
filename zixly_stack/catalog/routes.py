"""Where a route is reached: its host name and its public URL — built here and nowhere else.

A route of service ``n8n`` with ``subdomain: n8n`` in an environment whose ``domain`` is
``example.com`` is served at ``n8n.example.com`` and reached at ``https://n8n.example.com``
(plus ``:<port>`` when the edge's HTTPS port is not 443). The render (Traefik rules, the
``${host:...}`` and ``${url:...}`` placeholders), the demos, the deploy's app list, the sign-in
rows and the health checks all ask these functions, so a change of the scheme is one edit;
``tests/test_routes_single_builder.py`` fails when a second builder appears.
"""

from __future__ import annotations

from ..models.environment import Environment


def route_host(subdomain: str, domain: str) -> str:
    """The host name a route with *subdomain* is served at in *domain*: ``<subdomain>.<domain>``."""
    return f"{subdomain}.{domain}"


def https_origin(host: str, https_port: int = 443) -> str:
    """``https://<host>``, with ``:<https_port>`` when the edge does not listen on 443."""
    return f"https://{host}" + ("" if https_port == 443 else f":{https_port}")


def dashboard_host(env: Environment) -> str:
    """The Traefik dashboard's host name (``edge.dashboard_subdomain`` in the domain)."""
    return route_host(env.edge.dashboard_subdomain, env.domain)
