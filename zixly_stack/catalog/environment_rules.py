"""Rules of one environment (``environment.yaml`` and ``hosts.yaml``) against the catalog:
overrides name real services, hosts and containers; companions are enabled; settings agree.

Each public function is one rule ``(catalog, env_config) -> problems``, registered in
:mod:`zixly_stack.catalog.rules`.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..config.loader import Catalog, EnvConfig
from ..config.problems import did_you_mean
from ..config.yamlsrc import PathT
from ..errors import Problem
from ..models.environment import ServiceOverride
from ..models.service import Service, tag_is_floating
from .rulebase import env_problem, hosts_problem
from .service_rules import PINNED
from .stack import enabled_names


def _overrides(cat: Catalog, cfg: EnvConfig) -> Iterator[tuple[PathT, Service, ServiceOverride]]:
    """``services.<name>`` entries that name a catalog service and change something."""
    for name, o in cfg.environment.services.items():
        svc = cat.services.get(name)
        if svc is not None and o is not None:
            yield ("services", name), svc, o


def _enabled(cat: Catalog, cfg: EnvConfig) -> Iterator[tuple[str, Service, list[str]]]:
    """Enabled catalog services with the list of every enabled name."""
    enabled = enabled_names(cfg.environment)
    for name in enabled:
        svc = cat.services.get(name)
        if svc is not None:
            yield name, svc, enabled


def known_services(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """``services`` names catalog services (``services/<name>/service.yaml``)."""
    return [env_problem(cfg, ("services", name), f"unknown service {name!r}",
                        did_you_mean(name, cat.services) or "see services/ for the catalog", key=True)
            for name in cfg.environment.services if name not in cat.services and name not in cat.invalid]


def pinned_version(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """``services.<svc>.version`` is an exact version, never a moving tag."""
    return [env_problem(cfg, (*path, "version"), f"version {o.version!r} is not pinned", PINNED)
            for path, _, o in _overrides(cat, cfg) if o.version and tag_is_floating(o.version)]


def known_override_host(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """``services.<svc>.host`` names a host of ``hosts.yaml``."""
    hosts = cfg.hosts.hosts
    return [env_problem(cfg, (*path, "host"), f"unknown host {o.host!r}",
                        did_you_mean(o.host, hosts) or f"hosts: {', '.join(hosts)}")
            for path, _, o in _overrides(cat, cfg) if o.host and o.host not in hosts]


def known_override_containers(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """``services.<svc>.resources`` / ``.env`` are keyed by containers of that service."""
    return [env_problem(cfg, (*path, key, cname), f"service {svc.name!r} has no container {cname!r}",
                        did_you_mean(cname, svc.containers), key=True)
            for path, svc, o in _overrides(cat, cfg) for key in ("resources", "env")
            for cname in getattr(o, key) if cname not in svc.containers]


def stores_enabled(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """Every data store an enabled service binds is enabled too."""
    return [env_problem(cfg, ("services", name), f"{name} needs the {b.kind!r} data store, which is not enabled",
                        f"add '{b.kind}:' under services", key=True)
            for name, svc, enabled in _enabled(cat, cfg) for b in svc.stores if b.kind not in enabled]


def uses_enabled(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """Every service an enabled service ``uses`` is enabled too."""
    return [env_problem(cfg, ("services", name), f"{name} uses {used!r}, which is not enabled",
                        f"add '{used}:' under services", key=True)
            for name, svc, enabled in _enabled(cat, cfg) for used in svc.uses if used not in enabled]


def host_services(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """A host's ``services`` (hosts.yaml) names catalog services."""
    return [hosts_problem(cfg, ("hosts", hname, "services", i), f"unknown service {sname!r}",
                          did_you_mean(sname, cat.services))
            for hname, host in cfg.hosts.hosts.items() for i, sname in enumerate(host.services)
            if sname not in cat.services]


def distinct_edge_ports(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """``edge.http_port`` and ``edge.https_port`` differ."""
    edge = cfg.environment.edge
    if edge.http_port != edge.https_port:
        return []
    return [env_problem(cfg, ("edge", "https_port"), "http_port and https_port are the same port",
                        "use two different ports")]


def _test_domain(domain: str) -> bool:
    """``*.localhost`` never resolves off the machine (RFC 6761)."""
    return domain == "localhost" or domain.endswith(".localhost")


def standins_local_only(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """``images.allow_standins`` only where every host is this machine or the domain is ``*.localhost``.

    Such a domain marks a test environment even on remote hosts (the vps test hosts).
    """
    env = cfg.environment
    if not env.images.allow_standins or cfg.hosts.all_local or _test_domain(env.domain):
        return []
    return [env_problem(cfg, ("images", "allow_standins"), "stand-in images are for local test environments only",
                        "remove allow_standins; real hosts must run the real apps")]


def public_domain_acme(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """A public (not ``*.localhost``) domain has ``acme:`` settings for its certificates."""
    env = cfg.environment
    if _test_domain(env.domain) or env.acme is not None:
        return []
    return [env_problem(cfg, ("domain",), "a public domain needs 'acme:' settings for certificates",
                        "add acme: {email: you@example.com}")]


def mirror_set(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """``images.source: mirror`` comes with ``images.mirror``."""
    images = cfg.environment.images
    if images.source != "mirror" or images.mirror:
        return []
    return [env_problem(cfg, ("images", "mirror"), "images.source is 'mirror' but no mirror is set",
                        "set images.mirror: registry.example.com")]
