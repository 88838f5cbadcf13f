"""Rules on what Traefik will read: router rules, the static config, rendered file modes.

Router rules are judged as rendered (``dynamic/routes.yml`` in compose mode, the
``traefik.http.routers.*.rule`` service labels in swarm mode): each must be exactly
``Host(`<dns label>.<domain>`)`` optionally ``&& PathPrefix(`<path>`)`` and then optionally
``&& Method(`POST`)`` (or ``&& (Method(`A`) || Method(`B`))``, HTTP method names only), so a
subdomain or prefix that smuggles ``|| HostRegexp(...)`` or a backtick into a rule is refused,
and no two routers may claim the same host, path and methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..catalog.routes import https_origin
from ..catalog.stack import Stack
from .findings import Origin, PathT, Report
from .traefik import router_name
from .tree import RenderedFile

_METHOD = r"Method\(`(?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)`\)"
_RULE = re.compile(r"^Host\(`(?P<host>[^`]*)`\)(?: && PathPrefix\(`(?P<path>[^`]*)`\))?"
                   rf"(?: && (?P<methods>{_METHOD}|\({_METHOD}(?: \|\| {_METHOD})+\)))?$")
LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
PATH_PREFIX = re.compile(r"^/([A-Za-z0-9_~-][A-Za-z0-9._~-]*/?)*$")


@dataclass(frozen=True)
class RouteSource:
    """Where a router's rule comes from: a catalog route (``key`` = ``("routes", i)`` in the
    container) whose subdomain may be an environment override, or an environment key."""

    origin: Origin | None
    key: PathT
    subdomain_env_key: PathT | None = None


def route_sources(stack: Stack, origin_of: Any, hosts: list[str] | None) -> dict[str, RouteSource]:
    """Router name -> source, for the services placed on ``hosts`` (None: all services)."""
    env = stack.environment
    out: dict[str, RouteSource] = {}
    if env.edge.dashboard:
        out["dashboard"] = RouteSource(None, (), ("edge", "dashboard_subdomain"))
    placed = stack.placements if hosts is None else [p for p in stack.placements if p.host in hosts]
    for p in placed:
        svc = p.service
        override = env.services.get(svc.name)
        for cname, c in svc.containers.items():
            for i, r in enumerate(c.routes):
                env_key = (("services", svc.name, "subdomain") if override is not None and override.subdomain
                           and r.subdomain == override.subdomain else None)
                out[router_name(svc.name, cname, r, i)] = RouteSource(origin_of(svc.name, cname), ("routes", i),
                                                                      env_key)
    return out


def check_rules(report: Report, routers: dict[str, str], domain: str, sources: dict[str, RouteSource],
                where: str) -> None:
    """Every router rule strictly formed, inside ``domain``, and no host+path claimed twice."""
    seen: dict[tuple[str, str, str], str] = {}
    for name, rule in routers.items():
        src = sources.get(name) or RouteSource(None, ())
        at = where.format(name=name)
        m = _RULE.match(str(rule))
        host, path = (m.group("host"), m.group("path")) if m else ("", None)
        label = host[: -len(domain) - 1] if host.endswith("." + domain) else ""
        if not m or not LABEL.match(label):
            report.add("route_rule", src.origin, (*src.key, "subdomain") if src.key else (), at,
                       f"router {name}: rule {rule!r} is not Host(`<subdomain>.{domain}`)",
                       "a subdomain is one lowercase DNS label (letters, digits, inner hyphens)",
                       exemptable=False, env_key=src.subdomain_env_key)
            continue
        if path is not None and not PATH_PREFIX.match(path):
            report.add("route_rule", src.origin, (*src.key, "path_prefix") if src.key else (), at,
                       f"router {name}: path prefix {path!r} is not a plain path",
                       "segments of letters, digits, '.', '_', '~', '-'; no '..' or '//'", exemptable=False)
            continue
        methods = " ".join(sorted(re.findall(r"Method\(`(\w+)`\)", m.group("methods") or "")))
        claim = (host, path or "/", methods)
        if claim in seen:
            on = f" ({methods})" if methods else ""
            report.add("route_conflict", src.origin, src.key, at,
                       f"routers {seen[claim]} and {name} both claim {https_origin(host)}{claim[1]}{on}",
                       "give one route a distinct subdomain or path_prefix", exemptable=False,
                       env_key=src.subdomain_env_key)
        seen.setdefault(claim, name)


def file_routers(doc: dict[str, Any]) -> dict[str, str]:
    """Router name -> rule of a parsed ``dynamic/routes.yml``."""
    routers = ((doc or {}).get("http") or {}).get("routers") or {}
    return {str(n): str((r or {}).get("rule", "")) for n, r in routers.items()}


def label_routers(labels: dict[str, Any]) -> dict[str, str]:
    """Router name -> rule from swarm provider labels ``traefik.http.routers.<name>.rule``."""
    out = {}
    for key, value in labels.items():
        parts = str(key).split(".")
        if len(parts) == 5 and parts[:3] == ["traefik", "http", "routers"] and parts[4] == "rule":
            out[parts[3]] = str(value)
    return out


def check_static(report: Report, doc: dict[str, Any], origin: Origin | None) -> None:
    """``traefik.yml``: the API is not insecure; providers expose only labelled containers."""
    if ((doc or {}).get("api") or {}).get("insecure") is not False:
        report.add("edge_config", origin, (), "api.insecure", "the API is not explicitly secure",
                   "api.insecure: false", exemptable=False)
    for name, provider in ((doc or {}).get("providers") or {}).items():
        if name in ("docker", "swarm") and (provider or {}).get("exposedByDefault") is not False:
            report.add("edge_config", origin, (), f"providers.{name}.exposedByDefault",
                       "containers are exposed by default", "exposedByDefault: false", exemptable=False)


def check_modes(files: list[RenderedFile], sources: dict[str, tuple[Origin, PathT]]) -> list[Report]:
    """No rendered file is setuid, setgid, sticky or world-writable (``sources``: path -> catalog key)."""
    out = []
    for f in files:
        if f.mode & ~0o777 or f.mode & 0o002:
            origin, key = sources.get(f.path, (None, ()))
            report = Report(f.path)
            report.add("file_mode", origin, key, "", f"mode {f.mode:#o} has setuid/setgid/sticky or world-write "
                       "bits", "modes like 0o644 or 0o640 (the mode is octal: write 0o644 or 0644; 644 alone is "
                       "decimal)", exemptable=False)
            out.append(report)
    return out
