"""Render one Compose project (compose.yaml + env files + secret files + mounted files).

Hardening is applied here by construction (no-new-privileges, cap_drop ALL, limits, log
rotation, restart policy, internal networks); :mod:`hardening` judges the written output.
Every ``$`` written into compose.yaml is doubled so Compose never interpolates.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Any

from ..catalog.datastores import volume_name, volume_suffix
from ..catalog.placeholders import refs, resolve
from ..models.service import Container, HttpContract
from ..secrets.fingerprint import Fingerprinter
from .context import RenderContext, secret_file_name
from .env_file import env_file
from .templates import render_template
from .traefik import edge_compose_extras, edge_files
from .tree import RenderedFile, dump_yaml
from .units import Project, Unit, remount

LOGGING = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}
# A stand-in (``images.allow_standins``) answers its contract about a second after it starts and
# runs no migrations, so it is probed on its own timing rather than the real application's:
# healthy within seconds (a passing probe ends the start period), unhealthy about a minute after
# it is told to fail (the 30 s start period spares a stand-in that a loaded machine starts
# slowly). This matters on engines before 25 (Debian 12's docker.io 20.10), which ignore
# ``start_interval`` and probe only every ``interval``: a 30-60 s interval kept each stand-in
# "starting" that long, and every deploy, restore or drill of a stand-in environment waited for
# it. The probe command stays the vendor's; real images keep the catalog's timing.
STANDIN_PROBE_TIMING = {"interval": "5s", "start_period": "30s", "start_interval": "1s"}
HEADER = "# Rendered by zixly from services/{svc}/service.yaml. Do not edit: change the definition.\n"


def esc(text: str) -> str:
    """Escape ``$`` for Compose interpolation."""
    return text.replace("$", "$$")


def _has_exception(c: Container, rule: str) -> bool:
    return any(e.rule == rule for e in c.exceptions)


def _healthcheck(ctx: RenderContext, unit: Unit) -> dict[str, Any] | None:
    hc = unit.container.healthcheck
    if hc is None:
        return None
    look = ctx.lookup(unit.owner, unit.secret_ns)
    if isinstance(hc.test, str):
        test = ["CMD-SHELL", esc(resolve(hc.test, look).value)]
    else:
        items = [esc(resolve(t, look).value) for t in hc.test]
        test = items if items and items[0] in ("CMD", "CMD-SHELL", "NONE") else ["CMD", *items]
    out: dict[str, Any] = {
        "test": test,
        "interval": hc.interval,
        "timeout": hc.timeout,
        "retries": hc.retries,
        "start_period": hc.start_period,
    }
    if hc.start_interval:
        out["start_interval"] = hc.start_interval
    if ctx.images(unit.container.image).standin:
        out.update(STANDIN_PROBE_TIMING)
    return out


class _Files:
    """Collects a project's files and the content hash that forces recreation on change.

    The hash covers env and secret files, so it is keyed (:mod:`zixly_stack.secrets.fingerprint`):
    the label sits in the 0644 compose file and in ``docker inspect``.
    """

    def __init__(self, host: str, svc: str, fp: Fingerprinter) -> None:
        self.base = f"{host}/{svc}"
        self.files: list[RenderedFile] = []
        self.hashes: dict[str, list[str]] = {}
        self.fp = fp

    def add(self, rel: str, text: str, unit: str, *, mode: int = 0o644, secret: bool = False) -> None:
        path = f"{self.base}/{rel}"
        if not any(f.path == path for f in self.files):
            self.files.append(RenderedFile(path, text, mode, secret))
        self.hashes.setdefault(unit, []).append(hashlib.sha256(f"{rel}\0{text}".encode()).hexdigest())

    def digest(self, unit: str) -> str:
        return self.fp.short("".join(sorted(self.hashes.get(unit, []))), 16)


def _store_refs(c: Container) -> set[str]:
    """Store kinds a container's strings reference (it joins only those stores' networks)."""
    texts = [*c.env.values(), *(c.command or []), *(c.entrypoint or [])]
    return {r.arg.split(".")[0] for t in texts for r in refs(t) if r.kind == "store"}


def _networks(ctx: RenderContext, proj: Project, unit: Unit) -> dict[str, Any]:
    """Networks of one container: its project's internal network always; the edge network when
    routed; egress for apps unless narrowed by ``networks:``; used services' networks; and the
    shared store networks of the stores it actually references."""
    c = unit.container
    svc = proj.placed.service
    allowed = set(c.networks)
    nets: dict[str, Any] = {"internal": {"aliases": list(unit.aliases)} if unit.aliases else {}}
    if unit.store:
        return nets
    routed = bool(c.routes) or svc.kind == "edge"
    if routed and (not allowed or "proxy" in allowed):
        nets["proxy"] = {"aliases": [a for a in unit.aliases if a != svc.name] or [f"{svc.name}-{unit.key}"]}
    wants_egress = svc.kind in ("app", "edge") or routed
    if wants_egress and (not allowed or "egress" in allowed):
        nets["egress"] = {}
    if not allowed or "uses" in allowed:
        for used in proj.uses:
            nets[f"uses-{used}"] = {}
    needed = _store_refs(c)
    for kind in proj.shared_stores:
        if kind in needed:
            nets[f"store-{kind}"] = {}
    return nets


def _env(ctx: RenderContext, unit: Unit, files: _Files, secrets: list[str]) -> tuple[dict[str, str], list[str]]:
    plain: dict[str, str] = {}
    hidden: list[tuple[str, str]] = []
    look = ctx.lookup(unit.owner, unit.secret_ns, secrets)
    for key, raw in unit.container.env.items():
        got = resolve(raw, look)
        if got.secret:
            hidden.append((key, got.value))
        else:
            plain[key] = esc(got.value)
    for key, value, secret in unit.extra_env:
        if secret:
            hidden.append((key, value))
        else:
            plain[key] = esc(value)
    env_files: list[str] = []
    if hidden:
        rel = f"env/{unit.key}.env"
        files.add(rel, env_file(hidden), unit.key, mode=0o600, secret=True)
        env_files.append(rel)
    return plain, env_files



def standin_answer(app: str, h: HttpContract) -> dict[str, Any]:
    """A contract answer for the stand-in's config. A page the vendor documents only by status and
    type (``text/html``, no body) gets a page that says it is a stand-in, not an empty one."""
    answer = h.model_dump(exclude_none=True)
    if h.body is None and h.content_type.startswith("text/html"):
        answer["body"] = (f"<!doctype html><html><head><title>STAND-IN for {app}</title></head><body>"
                          f"<h1>STAND-IN: this is not the real {app}</h1><p>A zixly offline-kit stand-in: it answers "
                          f"the vendor's documented health contract so routing, health and backups can be tested."
                          f"</p></body></html>\n")
    return answer

def _service(ctx: RenderContext, proj: Project, unit: Unit, files: _Files) -> dict[str, Any]:
    c = unit.container
    svc = proj.placed.service
    mapped = ctx.images(c.image)
    look = ctx.lookup(unit.owner, unit.secret_ns)
    secrets: list[str] = list(unit.secret_files)
    plain, env_files = _env(ctx, unit, files, secrets)
    out: dict[str, Any] = {"image": mapped.ref}
    if c.entrypoint is not None:
        out["entrypoint"] = [esc(resolve(x, look).value) for x in c.entrypoint]
    if c.command is not None:
        out["command"] = [esc(resolve(x, look).value) for x in c.command]
    if c.user:
        out["user"] = c.user
    if c.working_dir:
        out["working_dir"] = c.working_dir
    if mapped.standin:
        contract = c.contract
        cfg = {
            "app": svc.name,
            "http": [standin_answer(svc.name, h) for h in contract.http] if contract else [],
            "processes": contract.processes if contract else [],
            "write": [m.target for m in c.volumes],
            "job": c.role == "job",
        }
        plain["ZIXLY_STANDIN_CONFIG"] = esc(json.dumps(cfg, sort_keys=True, separators=(",", ":")))
    if plain:
        out["environment"] = plain
    if env_files:
        out["env_file"] = [{"path": p, "required": True} for p in env_files]
    if secrets:
        secrets = list(dict.fromkeys(secrets))
        for full in secrets:
            name = secret_file_name(full)
            files.add(f"secrets/{name}", ctx.secret(full), unit.key, mode=0o444, secret=True)
        out["secrets"] = [secret_file_name(s) for s in secrets]
    volumes: list[dict[str, Any]] = []
    for m in c.volumes:
        v: dict[str, Any] = {"type": "volume", "source": remount(unit, m), "target": m.target}
        if m.read_only:
            v["read_only"] = True
        volumes.append(v)
    for i, f in enumerate(c.files):
        rel = f"files/{unit.key}/{posixpath.basename(f.target)}"
        text = render_template(ctx, svc, f.template, f"containers.{unit.key}.files[{i}].template")
        files.add(rel, text, unit.key, mode=f.mode)
        volumes.append({"type": "bind", "source": f"./{rel}", "target": f.target, "read_only": True})
    for rel, text, target in unit.generated_files:
        files.add(rel, text, unit.key, mode=0o755)
        volumes.append({"type": "bind", "source": f"./{rel}", "target": target, "read_only": True})
    for h in c.host_mounts:
        volumes.append({"type": "bind", "source": h.source, "target": h.target, "read_only": h.read_only})
    if volumes:
        out["volumes"] = volumes
    if c.tmpfs:
        out["tmpfs"] = list(c.tmpfs)
    if c.read_only:
        out["read_only"] = True
    nets = _networks(ctx, proj, unit)
    out["networks"] = nets
    hc = _healthcheck(ctx, unit)
    if hc:
        out["healthcheck"] = hc
    deps: dict[str, Any] = {}
    for dep in c.depends_on:
        deps[dep] = {"condition": _condition(proj, dep)}
    if not unit.store and unit.owner is svc:
        for other in proj.units:
            if other.store and other.key in {b.kind for b in svc.stores} and other.container.role == "service":
                deps[other.key] = {"condition": "service_healthy"}
            elif other.container.role == "job" and other.owner.kind == "store" and other.key.endswith("-provision"):
                deps[other.key] = {"condition": "service_completed_successfully"}
    if deps:
        out["depends_on"] = deps
    out["restart"] = "no" if c.role == "job" else "unless-stopped"
    if not _has_exception(c, "no_new_privileges"):
        out["security_opt"] = ["no-new-privileges:true"]
    if not _has_exception(c, "cap_drop"):
        out["cap_drop"] = ["ALL"]
    if c.cap_add:
        out["cap_add"] = list(c.cap_add)
    out["mem_limit"] = c.resources.memory
    out["cpus"] = c.resources.cpus
    out["pids_limit"] = c.resources.pids
    if c.stop_grace_period:
        out["stop_grace_period"] = c.stop_grace_period
    out["logging"] = LOGGING
    labels = {
        "org.zixly.env": ctx.stack.env_name,
        "org.zixly.service": svc.name,
        "org.zixly.container": unit.key,
        "org.zixly.files-hash": files.digest(unit.key),
    }
    if mapped.standin:
        labels["org.zixly.standin"] = f"true: stand-in for {c.image.ref}, not the real application"
    labels.update({k: esc(resolve(v, look).value) for k, v in c.labels.items()})
    out["labels"] = labels
    return out


def _condition(proj: Project, dep: str) -> str:
    for u in proj.units:
        if u.key == dep:
            if u.container.role == "job":
                return "service_completed_successfully"
            return "service_healthy" if u.container.healthcheck else "service_started"
    return "service_started"


def _edge(ctx: RenderContext, host: str, proj: Project, files: _Files, rendered: dict[str, Any]) -> None:
    """Ports, config mount and users file for the edge's primary container."""
    key = proj.units[0].key
    extras = edge_compose_extras(ctx)
    svc = rendered[key]
    svc["ports"] = extras["ports"]
    svc["volumes"] = [*svc.get("volumes", []), *extras["volumes"]]
    svc["secrets"] = sorted({*svc.get("secrets", []), *extras["secrets"]})
    for f in edge_files(ctx, host):
        rel = f.path.split("/", 2)[2]
        files.add(rel, f.text, key, mode=f.mode, secret=f.secret)


def render_project(ctx: RenderContext, host: str, proj: Project) -> tuple[list[RenderedFile], dict[str, Any]]:
    """compose.yaml and companions for one project on one host, plus the compose document."""
    svc = proj.placed.service
    prefix = ctx.stack.prefix
    files = _Files(host, svc.name, ctx.fingerprint)
    services: dict[str, Any] = {}
    # files first so the files-hash label covers them
    rendered = {u.key: _service(ctx, proj, u, files) for u in proj.units}
    if svc.kind == "edge":
        _edge(ctx, host, proj, files, rendered)
    for u in proj.units:
        rendered[u.key]["labels"]["org.zixly.files-hash"] = files.digest(u.key)
        services[u.key] = rendered[u.key]
    networks: dict[str, Any] = {"internal": {"name": proj.placed.project, "internal": True}}
    if any("proxy" in s["networks"] for s in services.values()):
        networks["proxy"] = {"name": f"{prefix}-proxy", "external": True}
    if any("egress" in s["networks"] for s in services.values()):
        networks["egress"] = {"name": f"{proj.placed.project}-egress"}
    joined = {n for s in services.values() for n in s["networks"]}
    for used in proj.uses:
        if f"uses-{used}" in joined:
            networks[f"uses-{used}"] = {"name": f"{prefix}-{used}", "external": True}
    for kind in proj.shared_stores:
        if f"store-{kind}" in joined:
            networks[f"store-{kind}"] = {"name": f"{prefix}-{kind}", "external": True}
    doc: dict[str, Any] = {"name": proj.placed.project, "services": services, "networks": networks}
    if proj.volumes:
        moved = volume_suffix(svc, ctx.stack.environment.services.get(svc.name))
        doc["volumes"] = {v: {"name": volume_name(proj.placed.project, v, moved if v in svc.volumes else "")}
                          for v in proj.volumes}
    secret_names = sorted({n for s in services.values() for n in s.get("secrets", [])})
    if secret_names:
        doc["secrets"] = {n: {"file": f"./secrets/{n}"} for n in secret_names}
    header = HEADER.format(svc=svc.name)
    return [RenderedFile(f"{host}/{svc.name}/compose.yaml", dump_yaml(doc, header)), *files.files], doc
