"""Pure rules of demos: client names, TTLs, which services a demo runs, memory sizes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta

from ..errors import ZixlyError
from ..models.service import Service

CLIENT_MAX = 20
CLIENT_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
TTL_RE = re.compile(r"^([1-9][0-9]{0,4})([mhdw])$")
TTL_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_TTL = timedelta(days=90)
EDGE_KINDS = ("edge",)
STORE_SERVICES = {"postgres": "postgres", "mariadb": "mariadb", "redis": "redis"}
_MEM = re.compile(r"^([0-9]+)([kmg])$")
_MEM_FACTOR = {"k": 1024, "m": 1024**2, "g": 1024**3}


class DemoError(ZixlyError):
    """Bad demo input (name, TTL, services) or a refused demo; nothing was changed."""

    exit_code = 2


def validate_client(name: str) -> str:
    """*name* if it is a usable client name: one lowercase DNS label of at most 20 characters."""
    hint = "use a lowercase DNS label: a-z, 0-9 and '-', not starting or ending with '-', e.g. 'acme' or 'acme-2'"
    if not name:
        raise DemoError(f"client name: empty; {hint}")
    if len(name) > CLIENT_MAX:
        raise DemoError(f"client name {name!r}: {len(name)} characters, at most {CLIENT_MAX} allowed (it becomes "
                        f"part of hostnames and Compose project names); {hint}")
    if not CLIENT_RE.match(name):
        raise DemoError(f"client name {name!r}: not a lowercase DNS label; {hint}")
    return name


def parse_ttl(text: str) -> timedelta:
    """``30m``, ``36h``, ``7d``, ``2w`` -> timedelta (at most 90 days)."""
    m = TTL_RE.match(text.strip())
    if not m:
        raise DemoError(f"--ttl {text!r}: expected a number and a unit (m, h, d, w), e.g. '7d' or '36h'")
    ttl = timedelta(**{TTL_UNITS[m.group(2)]: int(m.group(1))})
    if ttl > MAX_TTL:
        raise DemoError(f"--ttl {text!r}: longer than the 90-day maximum; extend later with `zixly demo extend`")
    return ttl


def mem_bytes(size: str) -> int:
    """``384m`` -> bytes (catalog MemSize syntax)."""
    m = _MEM.match(size)
    if not m:
        raise ValueError(f"not a memory size: {size!r}")
    return int(m.group(1)) * _MEM_FACTOR[m.group(2)]


def human_mem(n: int) -> str:
    """Bytes as MiB/GiB for messages."""
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n // 1024**2} MiB"


def template_services(template: Iterable[str], catalog: Mapping[str, Service]) -> list[str]:
    """The template's default selection: its app and infra services (not the edge nor what only the edge
    uses, such as the socket proxy; data stores come by closure)."""
    edge_uses = {u for s in catalog.values() if s.kind == "edge" for u in s.uses}
    return [n for n in template if n in catalog and catalog[n].kind in ("app", "infra") and n not in edge_uses]


def select_services(wanted: Iterable[str], template: Iterable[str], catalog: Mapping[str, Service]) -> list[str]:
    """*wanted* plus everything they need (used services, data stores), sorted; bad names raise DemoError."""
    allowed = template_services(template, catalog)
    chosen = list(dict.fromkeys(w.strip() for w in wanted if w.strip()))
    if not chosen:
        raise DemoError(f"--services: empty; choose from {', '.join(allowed)}")
    unknown = [w for w in chosen if w not in allowed]
    if unknown:
        raise DemoError(f"--services: {', '.join(unknown)} not offered by the demo template "
                        f"(inventories/demo/environment.yaml); choose from {', '.join(allowed)}")
    out: set[str] = set()
    todo = list(chosen)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        svc = catalog[name]
        todo.extend(u for u in svc.uses if u in catalog)
        todo.extend(STORE_SERVICES[b.kind] for b in svc.stores if b.kind in STORE_SERVICES)
    return sorted(out)
