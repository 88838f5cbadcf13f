"""A route's host name, its public origin and its Traefik router, each from one function.

``catalog/routes.py`` builds ``<subdomain>.<domain>`` and ``https://<host>[:port]``;
``render/traefik.py`` builds every router (:func:`router`), the catalog route's
(:func:`route_router`) and the swarm labels of it (:func:`router_labels`).
"""

from __future__ import annotations

from zixly_stack.catalog.routes import dashboard_host, https_origin, route_host
from zixly_stack.models.environment import Environment
from zixly_stack.models.service import Route
from zixly_stack.render.traefik import host_rule, route_router, router, router_labels, router_tls


def test_route_host_is_subdomain_dot_domain() -> None:
    assert route_host("n8n", "example.com") == "n8n.example.com"
    assert route_host("crm", "demo-acme.localhost") == "crm.demo-acme.localhost"


def test_https_origin_names_the_port_only_when_it_is_not_443() -> None:
    assert https_origin("n8n.example.com") == "https://n8n.example.com"
    assert https_origin("n8n.example.com", 443) == "https://n8n.example.com"
    assert https_origin("n8n.localhost", 8443) == "https://n8n.localhost:8443"


def test_dashboard_host_uses_the_edge_subdomain() -> None:
    env = Environment.model_validate({"domain": "example.com", "edge": {"dashboard_subdomain": "proxy"}})
    assert dashboard_host(env) == "proxy.example.com"
    assert dashboard_host(Environment.model_validate({"domain": "example.com"})) == "traefik.example.com"


def test_router_keeps_the_file_provider_key_order_and_omits_empty_keys() -> None:
    assert list(router(host_rule("a.example.com"), "a", {})) == ["rule", "entryPoints", "service", "tls"]
    full = router("Host(`a.example.com`)", "a", router_tls(True), ["auth@file"], 10)
    assert full == {"rule": "Host(`a.example.com`)", "entryPoints": ["websecure"], "service": "a",
                    "middlewares": ["auth@file"], "priority": 10, "tls": {"certResolver": "le"}}
    assert list(full) == ["rule", "entryPoints", "service", "middlewares", "priority", "tls"]


def test_route_router_adds_the_strip_middleware_for_its_provider() -> None:
    route = Route(subdomain="plane", port=3000, path_prefix="/api/", strip_prefix=True, methods=["GET", "POST"],
                  rate_limit="api", middlewares=["auth"])
    for provider in ("file", "swarm"):
        got, own = route_router("plane-api", route, "example.com", "plane", {}, provider)
        assert got["rule"] == ("Host(`plane.example.com`) && PathPrefix(`/api/`) "
                               "&& (Method(`GET`) || Method(`POST`))")
        assert got["middlewares"] == ["ratelimit-api@file", "auth@file", f"plane-api-strip@{provider}"]
        assert own == {"plane-api-strip": {"stripPrefix": {"prefixes": ["/api/"]}}}


def test_router_labels_flatten_the_router_and_its_middlewares() -> None:
    route = Route(subdomain="plane", port=3000, path_prefix="/api/", strip_prefix=True, priority=5)
    labels = router_labels("p", *route_router("p", route, "example.com", "p", router_tls(True), "swarm"))
    assert labels == {
        "traefik.http.routers.p.rule": "Host(`plane.example.com`) && PathPrefix(`/api/`)",
        "traefik.http.routers.p.entrypoints": "websecure",
        "traefik.http.routers.p.service": "p",
        "traefik.http.routers.p.tls": "true",
        "traefik.http.routers.p.tls.certresolver": "le",
        "traefik.http.middlewares.p-strip.stripprefix.prefixes": "/api/",
        "traefik.http.routers.p.middlewares": "p-strip@swarm",
        "traefik.http.routers.p.priority": "5",
    }
    plain = router_labels("q", router(host_rule("q.example.com"), "q", router_tls(False)), {})
    assert "traefik.http.routers.q.tls.certresolver" not in plain
    assert plain["traefik.http.routers.q.tls"] == "true"
