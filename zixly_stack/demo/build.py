"""PURE pieces of a demo: its environment files, Compose rewrites, routes and memory sum.

A demo is the ``demo`` template rendered by the ordinary pipeline as environment
``demo-<client>`` (so projects, networks and volumes are ``zixly-demo-<client>-*``), minus
the edge: its routed containers join the host edge's proxy network under demo-unique
aliases only (never the catalog's ``<svc>-<container>`` aliases, which the host's own
routes point at), and its routes are one Traefik file-provider document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from ..catalog.routes import https_origin, route_host
from ..catalog.stack import Stack
from ..models.environment import Environment, HostPrepare
from ..models.environment import Host as HostModel
from ..render.demo_reap import demo_hosts as demo_hosts
from ..render.schedule import Calendar, Schedule, named_files
from ..render.traefik import RoutesDoc, router_name, router_tls
from ..render.tree import dump_yaml
from .spec import mem_bytes

ROUTES_HEADER = "# Rendered by zixly for demo {client}; removed by `zixly demo down {client}`. Do not edit.\n"


def env_name(client: str) -> str:
    """The demo's environment name: ``demo-<client>``."""
    return f"demo-{client}"


def demo_domain(client: str, host_domain: str) -> str:
    """``<client>.demo.<host domain>``."""
    return f"{client}.demo.{host_domain}"


def environment_doc(template: Mapping[str, Any], host: Environment, client: str, services: list[str],
                    base_dir: str) -> dict[str, Any]:
    """The demo's ``environment.yaml``: the template, with the host's domain, TLS and image source."""
    doc: dict[str, Any] = {
        "description": f"Demo for {client} ({template.get('description', 'demo template')})",
        "domain": demo_domain(client, host.domain),
        "stores": template.get("stores", "shared"),
        "tls": host.tls.model_dump(),
        "edge": {"dashboard": False},
        "images": host.images.model_dump(exclude_none=True),
        "admin_email": host.admin_email,
        "timezone": host.timezone,
        "base_dir": base_dir,
        "services": {s: None for s in services},
        "backup": {"enabled": False},
    }
    if host.acme is not None:
        doc["acme"] = host.acme.model_dump(exclude_none=True)
    return doc


def hosts_doc(host: str) -> dict[str, Any]:
    """The demo's ``hosts.yaml``: the one machine it runs on (this one)."""
    return {"hosts": {host: {"address": "@local", "roles": ["apps", "stores"],
                             "prepare": {"firewall": False, "ssh_hardening": False,
                                         "unattended_upgrades": False, "deploy_user": False,
                                         # the host's own stack monitors the edge; a demo is short-lived
                                         "backup_schedule": False, "health_schedule": False}}}}


def remote_hosts_doc(host: str, model: HostModel) -> dict[str, Any]:
    """The demo's ``hosts.yaml`` on a remote host: the host environment's connection settings, no preparation
    (the host's own deploy prepares it)."""
    doc = hosts_doc(host)
    entry = doc["hosts"][host]
    entry.update(address=model.address, user=model.user, port=model.port)
    if model.ssh_key:
        entry["ssh_key"] = model.ssh_key
    entry["prepare"] = {k: False for k in HostPrepare.model_fields}
    return doc


def alias(stack: Stack, svc: str, container: str) -> str:
    """The demo-unique name a routed container has on the host edge's network."""
    return f"{stack.prefix}-{svc}-{container}"


def rewrite_compose(text: str, stack: Stack, edge_network: str) -> str:
    """A rendered compose.yaml joined to the host edge's network under demo-unique aliases only."""
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    doc = yaml.safe_load(text)
    nets = doc.get("networks") or {}
    if "proxy" not in nets:
        return text
    nets["proxy"] = {"name": edge_network, "external": True}
    svc_name = str(doc["name"])[len(stack.prefix) + 1:]
    for key, service in (doc.get("services") or {}).items():
        joined = service.get("networks") or {}
        if "proxy" in joined:
            joined["proxy"] = {"aliases": [alias(stack, svc_name, key)]}
    return dump_yaml(doc, header)


def routes_doc(stack: Stack, host: str, *, acme: bool) -> dict[str, Any]:
    """The demo's Traefik dynamic configuration (routers/services named ``<prefix>-...``)."""
    out = RoutesDoc()
    tls = router_tls(acme)
    for placed in stack.on_host(host):
        svc = placed.service
        for cname, c in svc.containers.items():
            named = [(f"{stack.prefix}-{router_name(svc.name, cname, r, i)}", r) for i, r in enumerate(c.routes)]
            out.add(named, stack.environment.domain, tls, alias(stack, svc.name, cname))
    return out.doc()


def routes_text(stack: Stack, host: str, client: str, *, acme: bool) -> str:
    """:func:`routes_doc` as the YAML file the edge watches."""
    return dump_yaml(routes_doc(stack, host, acme=acme), ROUTES_HEADER.format(client=client))


def app_urls(stack: Stack, *, https_port: int = 443) -> dict[str, str]:
    """``{service: https://<first subdomain>.<demo domain>/}`` for every routed service."""
    out: dict[str, str] = {}
    for name, svc in stack.services.items():
        for c in svc.containers.values():
            if c.routes and name not in out:
                out[name] = https_origin(route_host(c.routes[0].subdomain, stack.environment.domain), https_port) + "/"
    return out


def memory_of(stack: Stack) -> int:
    """Sum of the memory limits of the stack's long-running containers (jobs excluded)."""
    return sum(mem_bytes(c.resources.memory) for svc in stack.services.values()
               for c in svc.containers.values() if c.role != "job")


def reap_schedule(zixly: list[str], root: str, env: str, every_minutes: int = 15) -> dict[str, str]:
    """A systemd service + timer and an equivalent cron.d entry running ``zixly demo reap`` on the host."""
    return named_files(reap_job(zixly, root, env, every_minutes))


def reap_job(zixly: list[str], root: str, env: str, every_minutes: int = 15) -> Schedule:
    """``zixly demo reap`` every *every_minutes* minutes as a :class:`~zixly_stack.render.schedule.Schedule`."""
    return (Schedule(
        name=f"zixly-demo-reap-{env}", description=f"Remove expired zixly client demos of environment {env}",
        argv=(*zixly, "--root", root, "demo", "reap", "--env", env), calendar=Calendar(every_minutes=every_minutes),
        wants=("docker.service",), after=("docker.service",), randomized_delay="60",
    ))
