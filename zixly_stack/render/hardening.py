"""Hardening rules as code, run on every render against the rendered Compose documents.

Each rule inspects the rendered service and reports a Problem unless the catalog carries an
explicit, reasoned exception for it. These re-check what :mod:`compose` builds by
construction, so a future change that weakens the output fails loudly.
"""

from __future__ import annotations

from typing import Any

from ..errors import Location, Problem
from ..models.service import Container

SENSITIVE_MOUNTS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
DOCKER_SOCKET = "/var/run/docker.sock"


def _exempt(c: Container | None, rule: str) -> bool:
    return c is not None and any(e.rule == rule for e in c.exceptions)


def check_service(
    svc_name: str, kind: str, key: str, doc: dict[str, Any], c: Container | None, compose_path: str
) -> list[Problem]:
    """Problems of one rendered Compose service (``c`` is its catalog container, if any)."""
    out: list[Problem] = []
    where = f"services.{svc_name}.containers.{key}"

    def bad(rule: str, message: str, hint: str) -> None:
        if not _exempt(c, rule):
            out.append(Problem(Location(compose_path), where, f"hardening: {message}", hint))

    if doc.get("ports") and kind != "edge":
        bad("no_ports", "publishes ports; only Traefik may publish", "route it through Traefik instead")
    if "no-new-privileges:true" not in doc.get("security_opt", []):
        bad("no_new_privileges", "no-new-privileges is not set", "remove the exception or justify it")
    if doc.get("cap_drop") != ["ALL"]:
        bad("cap_drop", "capabilities are not dropped", "cap_drop: [ALL] plus the cap_add it needs")
    if not (doc.get("mem_limit") and doc.get("pids_limit") and doc.get("cpus")):
        bad("limits", "memory, cpu and pids limits are required", "set resources:")
    restart = doc.get("restart")
    job = c is not None and c.role == "job"
    if (job and restart != "no") or (not job and restart not in ("unless-stopped", "always", "on-failure:5")):
        bad("restart", f"restart policy {restart!r} not allowed", "long-running: unless-stopped; jobs: no")
    if not job and "healthcheck" not in doc:
        bad("healthcheck", "long-running container without healthcheck", "add a healthcheck")
    image = str(doc.get("image", ""))
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    if not tag or tag == "latest":
        bad("pinned_image", f"image {image!r} is not pinned", "pin an exact version")
    if (doc.get("logging") or {}).get("options", {}).get("max-size") is None:
        bad("limits", "logs are not rotated", "json-file with max-size and max-file")
    for v in doc.get("volumes", []):
        src = str(v.get("source", "")) if isinstance(v, dict) else ""
        if v.get("type") == "bind" and src == DOCKER_SOCKET:
            bad("docker_socket", "mounts the Docker socket", "only the socket proxy and Portainer may")
            if not v.get("read_only") and not _exempt(c, "docker_socket"):
                bad("docker_socket", "mounts the Docker socket read-write", "mount it read_only")
        elif (
            v.get("type") == "bind"
            and src.startswith("/")
            and any(src == p or (p != "/" and src.startswith(p + "/")) for p in SENSITIVE_MOUNTS)
        ):
            bad("read_only", f"bind-mounts sensitive host path {src}", "use a volume")
    for field in ("network_mode", "pid", "ipc", "uts", "userns_mode"):
        if doc.get(field) == "host":
            out.append(Problem(Location(compose_path), where, f"hardening: {field}: host is never allowed"))
    if doc.get("privileged"):
        out.append(Problem(Location(compose_path), where, "hardening: privileged containers are never allowed"))
    if kind == "store" and set(doc.get("networks", {})) - {"internal"}:
        bad("internal_only", "data store joins a non-internal network", "data stores stay on internal networks")
    return out


def check_project(
    svc_name: str, kind: str, doc: dict[str, Any], containers: dict[str, Container | None], compose_path: str
) -> list[Problem]:
    """All rules over a rendered compose document."""
    out: list[Problem] = []
    nets = doc.get("networks", {})
    if not nets.get("internal", {}).get("internal"):
        out.append(Problem(Location(compose_path), f"services.{svc_name}", "hardening: project network not internal"))
    for key, sdoc in doc.get("services", {}).items():
        c = containers.get(key)
        skind = "store" if key in ("postgres", "mariadb", "redis") and kind != "store" else kind
        out.extend(check_service(svc_name, skind, key, sdoc, c, compose_path))
    return out
