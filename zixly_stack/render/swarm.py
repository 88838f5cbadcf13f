"""``mode: swarm``: the Compose project of a service, turned into a Docker Swarm stack file.

Pure. The input is exactly what compose mode renders from the same catalog definitions
(:func:`render.compose.render_project`, already hardening-checked); this module rewrites it
for ``docker stack deploy``:

* ``deploy:`` per service: replicas (environment ``services.<name>.replicas``), rolling
  updates that roll back on failure, rollback config, restart policy, resource limits,
  placement (services holding volumes pinned to nodes labelled ``zixly.<service>=true``,
  every container of them: a sidecar runs beside its volumes, as on one compose host, and
  its image is needed on that node only;
  the edge global on ``zixly.edge=true`` nodes, Docker-socket users on managers);
* rendered files become Swarm configs and secret files Swarm secrets, named with a content
  hash so that a change creates a new object and rolls the service;
* networks become overlays (the project network stays ``internal``, created by the deploy);
* routes become Traefik swarm-provider labels under ``deploy.labels``;
* Compose-only keys (``restart``, ``depends_on``, ``mem_limit``, ``security_opt`` ...) go.

``org.zixly.spec-hash`` in ``deploy.labels`` hashes the rendered service definition and the
top-level networks, volumes, configs and secrets it references: the plan compares it with
``docker service inspect`` to name the services a deploy changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from ..catalog.stack import Stack
from ..errors import Location, Problem
from ..models.service import Container, Image, Route, Service
from ..secrets.fingerprint import Fingerprinter
from .compose import LOGGING
from .context import RenderContext
from .traefik import route_router, router_labels, router_name, router_tls
from .tree import RenderedFile, dump_yaml
from .units import Project, Unit

HEADER = (
    "# Rendered by zixly (mode: swarm) from services/{svc}/service.yaml for `docker stack deploy`.\n"
    "# Do not edit: change the definition.\n"
)
COMPOSE_ONLY = ("container_name", "restart", "depends_on", "mem_limit", "cpus", "pids_limit", "security_opt",
                "build", "links", "network_mode", "profiles", "extends", "pull_policy")
DOCKER_SOCKET = "/var/run/docker.sock"
SPEC_HASH = "org.zixly.spec-hash"
NAME_MAX = 64  # Docker object names (configs, secrets)
AGENT_PORT = 9001


def digest(text: str, n: int = 12) -> str:
    """Short sha256 hex of *text*."""
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def object_name(project: str, key: str, content: str, fp: Fingerprinter | None = None) -> str:
    """Swarm config/secret name: ``<project>-<key>-<content hash>``, at most 64 characters.

    A secret's name takes a keyed hash (*fp*): names are public (``docker secret ls``,
    stack.yaml), and a plain digest of a password file would help guess it.
    """
    tail = "-" + (fp.short(content, 12) if fp is not None else digest(content))
    return f"{project}-{key}"[: NAME_MAX - len(tail)] + tail


def label_key(svc: str) -> str:
    """Node label that pins a service holding volumes: ``zixly.<service>``."""
    return f"zixly.{svc}"


def _has_volumes(unit: Unit) -> bool:
    return bool(unit.container.volumes)


def _uses_socket(c: Container) -> bool:
    return any(h.source == DOCKER_SOCKET for h in c.host_mounts)


def manager_host(stack: Stack) -> str:
    """The first manager in ``hosts.yaml`` (else the first host): where stacks are deployed from."""
    for name, host in stack.hosts.items():
        if "manager" in host.roles:
            return name
    return next(iter(stack.hosts))


def node_labels(stack: Stack) -> dict[str, dict[str, str]]:
    """Labels each swarm node gets: ``zixly.edge`` on edge hosts, ``zixly.<service>`` on the
    host a volume-holding service is placed on, plus the host's own ``labels:``."""
    out: dict[str, dict[str, str]] = {}
    counts: dict[str, int] = {}
    for p in stack.placements:
        counts[p.name] = counts.get(p.name, 0) + 1
    for name, host in stack.hosts.items():
        labels: dict[str, str] = {}
        if "edge" in host.roles:
            labels["zixly.edge"] = "true"
        for p in stack.on_host(name):
            if p.service.kind != "edge" and counts[p.name] == 1 and _service_has_volumes(stack, p.service):
                labels[label_key(p.name)] = "true"
        labels.update(host.labels)
        out[name] = dict(sorted(labels.items()))
    return out


def _service_has_volumes(stack: Stack, svc: Service) -> bool:
    if any(c.volumes for c in svc.containers.values()):
        return True
    return stack.environment.stores == "dedicated" and bool(svc.stores)


def route_labels(ctx: RenderContext, svc: Service, cname: str, routes: list[Route]) -> dict[str, str]:
    """Traefik swarm-provider labels for one container's routes (``deploy.labels``)."""
    env = ctx.stack.environment
    if not routes:
        return {}
    out = {"traefik.enable": "true", "traefik.swarm.network": f"{ctx.stack.prefix}-proxy"}
    by_port: dict[int, str] = {}  # routes to one port share the first one's service
    tls = router_tls(env.acme is not None)
    for i, r in enumerate(routes):
        name = router_name(svc.name, cname, r, i)
        service = by_port.setdefault(r.port, name)
        out.update(router_labels(name, *route_router(name, r, env.domain, service, tls, "swarm")))
        if service == name:
            out[f"traefik.http.services.{name}.loadbalancer.server.port"] = str(r.port)
            out[f"traefik.http.services.{name}.loadbalancer.passhostheader"] = "true"
    return out


class _Objects:
    """Configs and secrets of one stack, named by content hash."""

    def __init__(self, project: str, files: dict[str, RenderedFile], fp: Fingerprinter) -> None:
        self.project = project
        self.files = files
        self.fp = fp
        self.configs: dict[str, dict[str, str]] = {}
        self.secrets: dict[str, dict[str, str]] = {}

    def config(self, rel: str, target: str) -> dict[str, Any]:
        f = self.files[rel]
        key = rel.replace("/", "_").replace(".", "_").removeprefix("files_")
        self.configs[key] = {"file": f"./{rel}", "name": object_name(self.project, key, f"{rel}\0{f.text}")}
        return {"source": key, "target": target, "mode": 0o555 if f.mode & 0o111 else 0o444}

    def mounts(self, rel: str, target: str) -> list[dict[str, Any]]:
        """Configs for a rendered file, or for every file under a rendered directory."""
        if rel in self.files:
            return [self.config(rel, target)]
        return [self.config(r, target + r[len(rel):]) for r in sorted(self.files) if r.startswith(rel + "/")]

    def secret(self, key: str) -> None:
        f = self.files[f"secrets/{key}"]
        name = object_name(self.project, key, f"{key}\0{f.text}", self.fp)
        self.secrets[key] = {"file": f"./secrets/{key}", "name": name}


def _deploy(ctx: RenderContext, proj: Project, unit: Unit, s: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    env = ctx.stack.environment
    svc = proj.placed.service
    c = unit.container
    sw = env.swarm
    d: dict[str, Any] = {}
    stateful = unit.store or _has_volumes(unit)
    constraints: list[str] = []
    if c.role == "job":
        d["mode"] = "replicated-job"
    elif svc.kind == "edge":
        d["mode"] = "global"
        constraints.append(f"node.labels.{label_key('edge')}==true")
    else:
        override = env.services.get(svc.name)
        replicas = override.replicas if override is not None else 1
        d["mode"] = "replicated"
        d["replicas"] = min(replicas, 1) if stateful else replicas
    d["endpoint_mode"] = sw.endpoint_mode
    if c.role != "job":
        order = "stop-first" if stateful or svc.kind == "edge" else "start-first"
        d["update_config"] = {"parallelism": 1, "delay": sw.update_delay, "failure_action": "rollback",
                              "monitor": sw.monitor, "max_failure_ratio": 0, "order": order}
        d["rollback_config"] = {"parallelism": 1, "delay": "0s", "failure_action": "pause",
                                "monitor": sw.monitor, "max_failure_ratio": 0, "order": order}
        d["restart_policy"] = {"condition": "any", "delay": "5s", "window": "120s"}
    else:
        d["restart_policy"] = {"condition": "on-failure", "delay": "5s", "max_attempts": 5}
    if "mem_limit" in s:
        d["resources"] = {"limits": {"cpus": str(s["cpus"]), "memory": s["mem_limit"], "pids": s["pids_limit"]}}
    if (stateful or _service_has_volumes(ctx.stack, svc)) and svc.kind != "edge":
        constraints.append(f"node.labels.{label_key(svc.name)}==true")  # sidecars follow the volumes
    if _uses_socket(c):
        constraints.append("node.role==manager")
    if constraints:
        d["placement"] = {"constraints": constraints}
    d["labels"] = labels
    return d


def _service(ctx: RenderContext, proj: Project, unit: Unit, s: dict[str, Any], objs: _Objects) -> dict[str, Any]:
    out = {k: v for k, v in s.items() if k not in COMPOSE_ONLY}
    if "env_file" in out:
        out["env_file"] = [e["path"] for e in out["env_file"]]
    if "healthcheck" in out:
        out["healthcheck"] = {k: v for k, v in out["healthcheck"].items() if k != "start_interval"}
    volumes: list[dict[str, Any]] = []
    configs: list[dict[str, Any]] = []
    for v in out.pop("volumes", []):
        src = str(v.get("source", ""))
        if v["type"] == "bind" and src.startswith("./"):
            configs.extend(objs.mounts(src[2:], v["target"]))
        else:
            volumes.append(v)
    volumes.extend({"type": "tmpfs", "target": t} for t in out.pop("tmpfs", []))
    if volumes:
        out["volumes"] = volumes
    if configs:
        out["configs"] = configs
    for key in out.get("secrets", []):
        objs.secret(key)
    if "ports" in out:
        out["ports"] = [_host_port(p) for p in out["ports"]]
    svc = proj.placed.service
    if svc.name == "socket-proxy" and "environment" in out:
        # Traefik's swarm provider inspects the node of every task (GET /nodes/<id>): checked
        # here, without it every task is skipped with "403 Forbidden" and nothing is routed
        out["environment"] = {**out["environment"], "NODES": "1"}
    labels = {k: v for k, v in out["labels"].items() if k.startswith("org.zixly.")}
    if not unit.store and unit.owner is svc:
        labels.update(route_labels(ctx, svc, unit.key, list(unit.container.routes)))
    out["deploy"] = _deploy(ctx, proj, unit, s, labels)
    return out


def _host_port(spec: str) -> dict[str, Any]:
    """``[ip:]published:target`` as a long-syntax ``mode: host`` port (no routing mesh, keeps client IPs)."""
    parts = spec.split(":")
    return {"target": int(parts[-1]), "published": int(parts[-2]), "protocol": "tcp", "mode": "host"}


def _portainer_agent(ctx: RenderContext, proj: Project, services: dict[str, Any]) -> None:
    """Portainer in swarm: the server talks to a global ``agent`` service instead of the local socket."""
    svc = proj.placed.service
    key = next(iter(svc.containers))
    server = services[key]
    cmd = list(server.get("command", []))
    if "-H" in cmd:
        i = cmd.index("-H")
        cmd[i:i + 2] = ["-H", f"tcp://tasks.agent:{AGENT_PORT}", "--tlsskipverify"]
        server["command"] = cmd
    server["volumes"] = [v for v in server.get("volumes", []) if v.get("source") != DOCKER_SOCKET]
    server["deploy"]["placement"] = {"constraints": [f"node.labels.{label_key(svc.name)}==true",
                                                     "node.role==manager"]}
    image = svc.containers[key].image
    agent_image = Image(repository="portainer/agent", tag=image.tag.removesuffix("-alpine"))
    mapped = ctx.images(agent_image)
    agent: dict[str, Any] = {
        "image": mapped.ref,
        "volumes": [
            {"type": "bind", "source": DOCKER_SOCKET, "target": DOCKER_SOCKET},
            {"type": "bind", "source": "/var/lib/docker/volumes", "target": "/var/lib/docker/volumes"},
        ],
        "networks": {"internal": {}},
        "cap_drop": ["ALL"],
        "logging": LOGGING,
        "labels": {"org.zixly.env": ctx.stack.env_name, "org.zixly.service": svc.name,
                   "org.zixly.container": "agent"},
        "deploy": {
            "mode": "global",
            "endpoint_mode": "dnsrr",
            "update_config": {"parallelism": 1, "failure_action": "rollback", "order": "stop-first"},
            "rollback_config": {"parallelism": 1, "failure_action": "pause", "order": "stop-first"},
            "restart_policy": {"condition": "any", "delay": "5s", "window": "120s"},
            "resources": {"limits": {"cpus": "0.5", "memory": "128m", "pids": 128}},
            "placement": {"constraints": ["node.platform.os==linux"]},
            "labels": {"org.zixly.env": ctx.stack.env_name, "org.zixly.service": svc.name,
                       "org.zixly.container": "agent"},
        },
    }
    if mapped.standin:
        agent["environment"] = {"ZIXLY_STANDIN_CONFIG": json.dumps(
            {"app": "portainer-agent", "http": [{"port": AGENT_PORT, "path": "/ping", "status": 204}],
             "job": False, "processes": [], "write": []}, sort_keys=True, separators=(",", ":"))}
        agent["labels"]["org.zixly.standin"] = "true: stand-in for portainer/agent, not the real agent"
    services["agent"] = agent


def _networks(doc: dict[str, Any]) -> dict[str, Any]:
    """The project network is named after the project (other projects that use this one or its
    store join it by that name), so like the shared networks it is created up front by the deploy
    as an internal overlay and external here; ``egress`` stays stack-scoped."""
    out: dict[str, Any] = {}
    for key, net in doc["networks"].items():
        if net.get("external") or key == "internal":
            out[key] = {"name": net["name"], "external": True}
        else:
            out[key] = {"driver": "overlay"}
    return out


def swarm_project(ctx: RenderContext, proj: Project, doc: dict[str, Any],
                  rendered: list[RenderedFile]) -> list[RenderedFile]:
    """The stack file (``<host>/<service>/stack.yaml``) and its companion files for one project.

    *doc* and *rendered* are compose mode's output for the project (compose.yaml first).
    """
    svc = proj.placed.service
    base = rendered[0].path.rsplit("/", 1)[0]
    files = {f.path[len(base) + 1:]: f for f in rendered[1:]}
    objs = _Objects(proj.placed.project, files, ctx.fingerprint)
    units = {u.key: u for u in proj.units}
    services = {key: _service(ctx, proj, units[key], s, objs) for key, s in doc["services"].items()}
    if svc.name == "portainer":
        _portainer_agent(ctx, proj, services)
    networks = _networks(doc)
    volumes = doc.get("volumes", {})
    for s in services.values():
        refs = {
            "networks": {k: networks[k] for k in s.get("networks", {})},
            "volumes": {v["source"]: volumes.get(v["source"]) for v in s.get("volumes", []) if v["type"] == "volume"},
            "configs": {c["source"]: objs.configs[c["source"]] for c in s.get("configs", [])},
            "secrets": {k: objs.secrets[k] for k in s.get("secrets", [])},
        }
        s["deploy"]["labels"][SPEC_HASH] = digest(json.dumps([s, refs], sort_keys=True), 16)
    stack: dict[str, Any] = {"services": services, "networks": networks}
    if "volumes" in doc:
        stack["volumes"] = doc["volumes"]
    if objs.secrets:
        stack["secrets"] = dict(sorted(objs.secrets.items()))
    if objs.configs:
        stack["configs"] = dict(sorted(objs.configs.items()))
    text = dump_yaml(stack, HEADER.format(svc=svc.name))
    return [RenderedFile(f"{base}/stack.yaml", text), *rendered[1:]]


def check_stack(path: str, svc_name: str, stack: dict[str, Any]) -> list[Problem]:
    """Swarm-specific checks ``docker stack config`` does not make (it accepts Compose-only keys)."""
    out: list[Problem] = []
    for key, s in stack.get("services", {}).items():
        where = f"services.{svc_name}.containers.{key}"

        def bad(message: str, hint: str, where: str = where) -> None:
            out.append(Problem(Location(path), where, f"swarm: {message}", hint))

        for k in COMPOSE_ONLY:
            if k in s:
                bad(f"compose-only key {k!r} in a stack file", "swarm ignores it; express it under deploy:")
        d = s.get("deploy") or {}
        if d.get("mode") in ("replicated", "global"):
            if (d.get("update_config") or {}).get("failure_action") != "rollback":
                bad("update_config.failure_action is not rollback", "a failed update must roll back")
            if not (d.get("restart_policy") and d.get("rollback_config")):
                bad("restart_policy/rollback_config missing", "render them")
        for v in s.get("volumes", []):
            if v.get("type") == "volume" and not any(
                c.startswith("node.labels.zixly.") and c != "node.labels.zixly.edge==true"
                for c in (d.get("placement") or {}).get("constraints", [])
            ) and d.get("mode") != "global":
                bad(f"volume {v.get('source')} is not pinned to a labelled node", "node.labels.zixly.<service>")
        for p in s.get("ports", []):
            if not isinstance(p, dict) or p.get("mode") != "host":
                bad("port without mode: host", "the routing mesh needs IPVS; publish in host mode")
    for name, net in stack.get("networks", {}).items():
        if not net.get("external") and net.get("driver") != "overlay":
            out.append(Problem(Location(path), f"networks.{name}", "swarm: network is not an overlay", ""))
    return out


def stack_doc(file: RenderedFile) -> dict[str, Any]:
    """Parse a rendered stack file back (tests and plan)."""
    data: dict[str, Any] = yaml.safe_load(file.text)
    return data


__all__ = ["check_stack", "manager_host", "node_labels", "object_name", "route_labels", "swarm_project"]
