"""Rules of the resolved stack (overrides applied, services placed on hosts): route and
subdomain collisions, replicas of stateful services, companions on one host in compose mode.

Each public function is one rule ``(catalog, env_config, stack) -> problems``, registered in
:mod:`zixly_stack.catalog.rules`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from ..config.loader import Catalog, EnvConfig
from ..errors import Problem
from ..models.service import Route
from .routes import route_host
from .rulebase import env_problem
from .stack import Stack


def _routes(stack: Stack) -> Iterator[tuple[str, str, Route]]:
    """``(service, "service.container", route)`` of every route, in stack order."""
    for name, svc in stack.services.items():
        for cname, c in svc.containers.items():
            for r in c.routes:
                yield name, f"{name}.{cname}", r


def distinct_subdomains(cat: Catalog, cfg: EnvConfig, stack: Stack) -> list[Problem]:
    """A subdomain belongs to one service (and never to the Traefik dashboard's)."""
    env = cfg.environment
    out: list[Problem] = []
    owners: dict[str, str] = {env.edge.dashboard_subdomain: "traefik dashboard"} if env.edge.dashboard else {}
    for name, where, r in _routes(stack):
        owner = owners.setdefault(r.subdomain, where)
        if not owner.startswith(f"{name}."):
            out.append(env_problem(cfg, ("services", name), f"subdomain {r.subdomain!r} is used by {owner} and {where}",
                                   "set a different 'subdomain' for one of them", key=True))
    return out


def distinct_routes(cat: Catalog, cfg: EnvConfig, stack: Stack) -> list[Problem]:
    """No two routes claim the same subdomain, path prefix and methods."""
    out: list[Problem] = []
    seen: dict[tuple[str, str, tuple[str, ...]], str] = {}
    for name, where, r in _routes(stack):
        key = (r.subdomain, r.path_prefix or "/", tuple(r.methods))
        if key in seen:
            out.append(env_problem(cfg, ("services", name),
                                   f"route {route_host(r.subdomain, cfg.environment.domain)}{key[1]} is claimed by "
                                   f"{seen[key]} and {where}",
                                   "give one route a distinct path_prefix or subdomain", key=True))
        seen[key] = where
    return out


def stateless_replicas(cat: Catalog, cfg: EnvConfig, stack: Stack) -> list[Problem]:
    """In swarm mode only stateless services (no volumes, not a data store) run more than one replica."""
    env = cfg.environment
    if env.mode != "swarm":
        return []
    out: list[Problem] = []
    for name, o in env.services.items():
        found = stack.services.get(name)
        stateful = found is not None and (found.kind == "store" or any(c.volumes for c in found.containers.values()))
        if o is not None and o.replicas > 1 and stateful:
            out.append(env_problem(cfg, ("services", name, "replicas"),
                                   f"{name} holds volumes (or is a data store): it runs once, pinned to the "
                                   f"node labelled zixly.{name}; {o.replicas} replicas would not share its data",
                                   "remove replicas: (only stateless services replicate)"))
    return out


def companions_on_one_host(cat: Catalog, cfg: EnvConfig, stack: Stack) -> list[Problem]:
    """In compose mode a service runs on the hosts of what it uses (and of its shared stores): no cross-host network."""
    env = cfg.environment
    if env.mode != "compose":
        return []
    homes: dict[str, set[str]] = defaultdict(set)
    for p in stack.placements:
        homes[p.name].add(p.host)
    out: list[Problem] = []
    for name, svc in stack.services.items():
        needs = [b.kind for b in svc.stores] if env.stores == "shared" else []
        for dep in [*needs, *svc.uses]:
            if dep in homes and not homes[name] <= homes[dep]:
                out.append(env_problem(cfg, ("services", name),
                                       f"{name} runs on {', '.join(sorted(homes[name]))} but {dep} on "
                                       f"{', '.join(sorted(homes[dep]))}; compose mode has no cross-host network",
                                       "place them on one host, use stores: dedicated, or mode: swarm", key=True))
    return out
