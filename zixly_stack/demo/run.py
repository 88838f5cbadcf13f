"""Demos on this machine's engine: up, down, extend, reap, list (module :mod:`zixly_stack.demo`).

``up`` checks everything that can be checked before touching anything (client name, TTL,
services, the host's edge running, uniqueness, the memory budget, a full render), then
writes the demo's state dir (``<base_dir>/demos/<client>/``: registry record, generated
environment, its own encrypted secrets store, the rendered tree), brings its Compose
projects up stage by stage (stores, infra, apps), publishes its routes as one file in the
host edge's watched file-provider directory, and runs the seeding hooks (warehouse
migrations + the deterministic demo year, n8n workflows, Metabase dashboards...).
``down`` removes exactly that demo's projects (containers, networks, volumes), its route
file and its state dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ..clock import fmt_time, parse_time
from ..commands import docker as dk
from ..config.yamlsrc import load_yaml
from ..deploy.storecheck import local_evidence
from ..errors import ApplyError, ConfigError
from ..hooks.base import Transport
from ..hooks.local import LocalDocker
from ..hooks.local_run import context_factory, standin_check, state_path
from ..hooks.runner import PlannedHook, plan_hooks, run_hooks
from ..hooks.state import JsonStateFile, StateStore
from ..models.service import Hook
from ..outdir import write_tree
from ..plan.compute import compose_shape
from ..project import Loaded, display, load, prepare_secrets, render
from ..runner import LocalRunner
from ..safepath import inside
from ..secrets.value import Secret
from . import registry as reg
from .build import (
    app_urls,
    env_name,
    environment_doc,
    hosts_doc,
    memory_of,
    rewrite_compose,
    routes_text,
)
from .hostside import judge
from .spec import DemoError, human_mem, mem_bytes, select_services, template_services, validate_client

TEMPLATE_ENV = "demo"
WAIT_TIMEOUT = 600
STAGES = ("store", "infra", "app")
Say = Callable[[str], None]
CREDENTIAL_SUFFIXES = ("admin_password", "owner_password")


@dataclass(frozen=True)
class HostEdge:
    """The environment whose edge a demo hangs off, and where that edge watches for routes."""

    loaded: Loaded
    host: str
    network: str
    dynamic_dir: Path          # under the release the environment's `current` points to
    watched_dir: Path | None = None  # the directory the running Traefik really has mounted, if different

    @property
    def route_dirs(self) -> list[Path]:
        """Where a demo's route file goes: ``current``'s directory (what Traefik mounts whenever it is
        (re)started -- a host reboot, a restore) and, when a deploy moved ``current`` without
        recreating Traefik, the older release directory it watches right now."""
        dirs = [self.dynamic_dir]
        if self.watched_dir is not None and self.watched_dir.resolve() != self.dynamic_dir.resolve():
            dirs.append(self.watched_dir)
        return dirs

    @property
    def base_dir(self) -> str:
        """The host environment's base dir (demos live under ``<base_dir>/demos``)."""
        return self.loaded.config.environment.base_dir


@dataclass
class UpResult:
    """What ``demo up`` made: the record, the credentials (shown once) and timings."""

    record: reg.DemoRecord
    credentials: dict[str, Secret] = field(default_factory=dict)
    loaded: Loaded | None = None  # the demo's own environment (its sign-in table)
    hooks: list[tuple[str, str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _docker(args: Sequence[str], *, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """*args* (from :mod:`zixly_stack.commands.docker`) on this machine's engine, as a completed process."""
    res = LocalRunner().run(args, timeout=timeout)
    return subprocess.CompletedProcess(list(args), res.code, res.out, res.err)


def now_utc() -> datetime:
    """The clock (UTC, whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0)


def host_edge(root: Path, env: str, host: str | None) -> HostEdge:
    """Load *env* and find its running edge on this machine (Traefik's watched directory)."""
    loaded = load(root, env)
    hosts = loaded.config.hosts.hosts
    name = host or next((h for h, m in hosts.items() if "edge" in m.roles), next(iter(hosts)))
    if name not in hosts:
        raise DemoError(f"--host {name!r}: not a host of environment {env!r} (hosts: {', '.join(hosts)})")
    if hosts[name].address != "@local":
        raise DemoError(f"--host {name!r}: demos run on this machine's engine only (hosts with address '@local'); "
                        f"{name} is {hosts[name].address}")
    if "traefik" not in loaded.stack.services:
        raise DemoError(f"environment {env!r} has no edge (traefik) to publish demo routes through")
    edge = f"{loaded.stack.prefix}-traefik-traefik-1"
    res = _docker(dk.inspect_format("{{json .Mounts}} {{.State.Running}}", edge))
    if res.returncode != 0 or not res.stdout.strip().endswith("true"):
        raise DemoError(f"environment {env!r}: its edge ({edge}) is not running on this machine; bring the "
                        f"environment up first (`zixly up --env {env}`)")
    mounts = json.loads(res.stdout.strip().rsplit(" ", 1)[0])
    config = next((m["Source"] for m in mounts if m.get("Destination") == "/etc/traefik"), None)
    if config is None or not (Path(config) / "dynamic").is_dir():
        raise DemoError(f"{edge}: no file-provider directory mounted at /etc/traefik/dynamic")
    watched = mounted_source(edge, "/etc/traefik")
    return HostEdge(loaded, name, f"{loaded.stack.prefix}-proxy", Path(config) / "dynamic",
                    watched / "dynamic" if watched is not None and (watched / "dynamic").is_dir() else None)


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounted_source(container: str, target: str) -> Path | None:
    """The host directory really bind-mounted at *target* in *container*: Docker resolves a
    symlinked source (``.../current/...``) once, when the container starts, so after ``current``
    moved the container still sees the old release. Read from the container's mountinfo (the
    mount's root on its device) and this machine's mounts of that device; None if unknown."""
    res = _docker(dk.inspect_format("{{.State.Pid}}", container))
    try:
        pid = int(res.stdout.strip())
        theirs = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
        ours = Path("/proc/self/mountinfo").read_text().splitlines()
    except (ValueError, OSError):
        return None
    for line in theirs:
        f = line.split()
        if len(f) > 4 and _unescape(f[4]) == target:
            dev, root = f[2], _unescape(f[3])
            break
    else:
        return None
    for line in ours:  # a mount of the same device whose root contains the container's root
        g = line.split()
        base = _unescape(g[3]).rstrip("/")
        if len(g) > 4 and g[2] == dev and (root == base or root.startswith(base + "/")):
            candidate = Path(_unescape(g[4]).rstrip("/") + root[len(base):])
            if candidate.is_dir():
                return candidate
    return None


def template_of(root: Path) -> dict[str, Any]:
    """``inventories/demo/environment.yaml`` (the template demos are made from)."""
    path = root / "inventories" / TEMPLATE_ENV / "environment.yaml"
    try:
        doc, _ = load_yaml(path, display(root, path), root)  # bounded: aliases, nesting and size are limited there
    except ConfigError as exc:
        raise DemoError(f"the demo template cannot be read:\n{exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise DemoError(f"{display(root, path)}: the demo template has no services mapping")
    return doc


def default_services(root: Path, edge: HostEdge) -> list[str]:
    """The template's app and infra services."""
    return template_services(template_of(root)["services"], edge.loaded.catalog.services)


def memory_budget(edge: HostEdge) -> tuple[int, str]:
    """(bytes, where it comes from): the environment's ``memory_budget`` or this machine's MemTotal."""
    env = edge.loaded.config.environment
    if env.memory_budget:
        return mem_bytes(env.memory_budget), f"memory_budget of environment {edge.loaded.config.name!r}"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024, "this machine's MemTotal"
    raise ApplyError("cannot read MemTotal from /proc/meminfo")


def check_memory(edge: HostEdge, new: int, client: str) -> None:
    """Refuse a demo that would push the host past its budget (sum of memory limits)."""
    budget, source = memory_budget(edge)
    main = memory_of(edge.loaded.stack)
    demos = sum(r.memory for r in reg.all_records(edge.base_dir) if r.client != client)
    if main + demos + new > budget:
        raise DemoError(
            f"demo {client!r} refused: it needs {human_mem(new)} (sum of its containers' memory limits); the host "
            f"already has {human_mem(main)} for environment {edge.loaded.config.name!r} and {human_mem(demos)} for "
            f"other demos, and {human_mem(main + demos + new)} exceeds the budget of {human_mem(budget)} ({source}); "
            "nothing was changed. Hint: fewer --services, `zixly demo down` or `zixly demo reap` old demos, "
            "or raise memory_budget"
        )


def _write_root(dest: Path, root: Path, env: str, env_doc: dict[str, Any], hosts: dict[str, Any]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for part in ("services", "templates", "images"):
        if (root / part).exists():
            (dest / part).symlink_to((root / part).resolve())
    inv = dest / "inventories" / env
    inv.mkdir(parents=True)
    (inv / "environment.yaml").write_text(yaml.safe_dump(env_doc, sort_keys=False))
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))


def _project_order(loaded: Loaded) -> list[list[str]]:
    """Services in levels: a service starts once the stores and used services it needs are up
    (the warehouse, needing nothing, starts together with the data stores)."""
    services = loaded.stack.services
    needs = {n: {b.kind for b in s.stores if b.kind in services} | {u for u in s.uses if u in services}
             for n, s in services.items()}
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            level[name] = 1 + max((depth(d) for d in needs[name]), default=-1)
        return level[name]

    for name in services:
        depth(name)
    return [sorted(n for n in services if level[n] == i) for i in range(max(level.values(), default=-1) + 1)]


def _up_project(build: Path, host: str, svc: str) -> tuple[str, bool, str]:
    file = build / host / svc / "compose.yaml"
    shape = compose_shape(yaml.safe_load(file.read_text()))
    argvs = [dk.compose_up_wait(str(file), shape.waited, WAIT_TIMEOUT)] if shape.waited else []
    argvs += [dk.compose_run_job(str(file), job) for job in shape.jobs]
    for argv in argvs:
        res = _docker(argv, timeout=WAIT_TIMEOUT + 120)
        if res.returncode != 0:
            return svc, False, (res.stderr or res.stdout).strip()[-800:]
    return svc, True, ""


def seed(loaded: Loaded, secrets: dict[str, Secret], transport: Transport, state: StateStore,
         say: Say) -> list[tuple[str, str, str]]:
    """The demo's hooks (plus the deterministic demo year after the warehouse migrations) through
    *transport* (this machine's engine, or a host's over the deploy connection)."""
    planned = plan_hooks(loaded.stack)
    if "warehouse" in loaded.stack.services:
        data = PlannedHook("warehouse", Hook(name="warehouse-demo-data", needs=["warehouse-migrate"],
                                             run="zixly_stack.hooks.warehouse:load_demo_data",
                                             timeout="300s", on_failure="fail"))
        at = next((i + 1 for i, p in enumerate(planned) if p.name == "warehouse-migrate"), len(planned))
        planned.insert(at, data)
    report = run_hooks(planned, context_factory(loaded, secrets, transport, lambda _: None), state,
                       on_outcome=lambda o: say(f"  hook {o.name}: {o.status} ({o.seconds:.1f}s) {o.summary}"),
                       applicable=standin_check(loaded, transport))
    return [(o.name, o.status, o.summary) for o in report.outcomes]


def _hooks(loaded: Loaded, secrets: dict[str, Secret], say: Say) -> list[tuple[str, str, str]]:
    state = JsonStateFile(state_path(loaded.config.environment.base_dir, loaded.stack.env_name))
    return seed(loaded, secrets, LocalDocker(prefix=loaded.stack.prefix), state, say)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def up(root: Path, host_env: str, client: str, ttl: timedelta, services: Sequence[str] | None,
       host: str | None = None, *, say: Say = lambda _: None, clock: Callable[[], datetime] = now_utc) -> UpResult:
    """Create, start, route and seed demo *client* (module contract)."""
    started = time.monotonic()
    validate_client(client)
    edge = host_edge(root, host_env, host)
    base = edge.base_dir
    existing = reg.get(base, client)
    if existing is not None or (reg.demos_dir(base) / client).exists():
        until = f" (expires {existing.expires})" if existing else ""
        raise DemoError(f"demo {client!r} already exists{until}; client names are unique: pick another name, or "
                        f"`zixly demo down {client}` first")
    template = template_of(root)
    chosen = list(services) if services else default_services(root, edge)
    stack_services = select_services(chosen, template["services"], edge.loaded.catalog.services)
    env = env_name(client)
    demo_dir = reg.demos_dir(base) / client
    fresh = [d for d in (demo_dir.parent, *demo_dir.parent.parents) if not d.exists()]  # deepest first
    demo_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{client}.", dir=demo_dir.parent))

    def undo() -> None:
        shutil.rmtree(staging, ignore_errors=True)
        if demo_dir.parent in fresh:
            (demo_dir.parent / reg.LOCK).unlink(missing_ok=True)
        for d in fresh:
            with contextlib.suppress(OSError):
                d.rmdir()

    # the memory guard's check and the record are one step under the demos' lock (as on a remote host)
    with reg.locked(base):
        try:
            env_doc = environment_doc(template, edge.loaded.config.environment, client, stack_services, str(demo_dir))
            _write_root(staging / "root", root, env, env_doc, hosts_doc(edge.host))
            loaded = load(staging / "root", env)
            new = memory_of(loaded.stack)
            check_memory(edge, new, client)
            prepared = prepare_secrets(loaded, create=True, evidence=lambda: local_evidence(loaded))
            files = render(loaded, prepared.values)
            prepared.commit()
            files = tuple(f.__class__(f.path, rewrite_compose(f.text, loaded.stack, edge.network), f.mode, f.secret)
                          if f.path.endswith("/compose.yaml") else f for f in files)
            write_tree(files, staging / "build")
            routes = routes_text(loaded.stack, edge.host, client, acme=loaded.config.environment.acme is not None)
            staging.rename(demo_dir)
        except ConfigError as exc:
            undo()
            raise DemoError(f"demo {client!r}: the demo environment does not render:\n{exc}") from None
        except BaseException:
            undo()
            raise
        loaded = load(demo_dir / "root", env)
        secrets = dict(prepared.values)
        created = clock()
        route_file = edge.dynamic_dir / f"{env}.yml"
        urls = app_urls(loaded.stack, https_port=edge.loaded.config.environment.edge.https_port)
        stages = [[f"{loaded.stack.prefix}-{n}" for n in stage] for stage in _project_order(loaded)]
        projects = [p for stage in stages for p in stage]
        record = reg.DemoRecord(client=client, env=env, host_env=host_env, host=edge.host, services=sorted(chosen),
                                stack=stack_services, projects=projects, stages=stages, created=fmt_time(created),
                                expires=fmt_time(created + ttl), urls=urls, memory=new, route_file=str(route_file))
        reg.save(base, record)
    result = UpResult(record, loaded=loaded)
    result.seconds["prepare"] = time.monotonic() - started
    for stage in _project_order(loaded):
        if not stage:
            continue
        say(f"starting {', '.join(stage)}")
        with ThreadPoolExecutor(max_workers=len(stage)) as pool:
            outcomes = list(pool.map(lambda s: _up_project(demo_dir / "build", edge.host, s), stage))
        failed = [(s, msg) for s, ok, msg in outcomes if not ok]
        if failed:
            reg.save(base, record.with_(status="failed"))
            detail = "; ".join(f"{s}: {m}" for s, m in failed)
            raise ApplyError(f"demo {client!r}: {detail}\nthe demo is left as it is for inspection; remove it with "
                             f"`zixly demo down {client}`")
    result.seconds["healthy"] = time.monotonic() - started
    for d in edge.route_dirs:
        _write_atomic(d / route_file.name, routes)
    result.hooks = _hooks(loaded, secrets, say)
    ok = all(status in ("ok", "unchanged", "n/a") for _, status, _ in result.hooks)
    result.record = record.with_(status="ready" if ok else "degraded")
    reg.save(base, result.record)
    result.credentials = {k: v for k, v in sorted(secrets.items()) if k.endswith(CREDENTIAL_SUFFIXES)}
    result.seconds["seeded"] = time.monotonic() - started
    return result


def down(root: Path, host_env: str, client: str, *, say: Say = lambda _: None) -> reg.DemoRecord:
    """Remove demo *client*: its projects (containers, networks, volumes), route file and state dir."""
    validate_client(client)
    loaded = load(root, host_env)
    base = loaded.config.environment.base_dir
    rec = reg.get(base, client)
    if rec is None:
        known = ", ".join(r.client for r in reg.all_records(base)) or "none"
        raise DemoError(f"no demo {client!r} on environment {host_env!r} (demos: {known})")
    return _remove(base, rec, say)


def _down_project(project: str) -> str:
    res = _docker(dk.compose_down(project, volumes=True), timeout=900)
    return "" if res.returncode == 0 else f"{project}: {res.stderr.strip()[-300:]}"


def _remove(base: str, rec: reg.DemoRecord, say: Say) -> reg.DemoRecord:
    if rec.route_file and Path(rec.route_file).name == f"{rec.env}.yml":  # only the file the demo wrote
        Path(rec.route_file).unlink(missing_ok=True)
        watched = mounted_source(f"zixly-{rec.host_env}-traefik-traefik-1", "/etc/traefik")
        if watched is not None:  # also where the running Traefik may watch (see HostEdge.route_dirs)
            (watched / "dynamic" / Path(rec.route_file).name).unlink(missing_ok=True)
    errors: list[str] = []
    for stage in reversed(rec.stages or [[p] for p in rec.projects]):  # apps first, data stores last
        say(f"removing {', '.join(stage)}")
        with ThreadPoolExecutor(max_workers=len(stage)) as pool:
            errors += [e for e in pool.map(_down_project, stage) if e]
    if errors:
        raise ApplyError(f"demo {rec.client!r}: could not remove everything: " + "; ".join(errors) +
                         "; its record is kept, run `zixly demo down` again")
    shutil.rmtree(inside(reg.demos_dir(base), rec.client), ignore_errors=True)
    return rec


def republish(root: Path, host_env: str, *, say: Say = lambda _: None) -> list[reg.DemoRecord]:
    """Write every demo's route file into the directory the host edge watches NOW.

    A redeploy of the host environment that recreates Traefik mounts a new release directory;
    the demos' route files stayed in the old one. Idempotent: a file already in place and
    identical is not rewritten. Returns the demos whose route file was (re)written."""
    loaded = load(root, host_env)
    base = loaded.config.environment.base_dir
    recs = [r for r in reg.all_records(base) if r.host_env == host_env and r.status != "failed"]
    if not recs:
        return []
    written = []
    for rec in recs:
        edge = host_edge(root, host_env, rec.host)
        demo = load(reg.demos_dir(base) / rec.client / "root", rec.env)
        routes = routes_text(demo.stack, edge.host, rec.client, acme=demo.config.environment.acme is not None)
        target = edge.dynamic_dir / f"{rec.env}.yml"
        moved = False
        for d in edge.route_dirs:
            path = d / target.name
            if not (path.is_file() and path.read_text(encoding="utf-8") == routes):
                _write_atomic(path, routes)
                moved = True
                say(f"demo {rec.client}: routes published in {d}")
        if moved:
            written.append(rec)
        if rec.route_file != str(target):
            reg.save(base, rec.with_(route_file=str(target)))
    return written


def extend(root: Path, host_env: str, client: str, ttl: timedelta, *,
           clock: Callable[[], datetime] = now_utc) -> reg.DemoRecord:
    """Move *client*'s expiry to ``max(expires, now) + ttl``."""
    validate_client(client)
    base = load(root, host_env).config.environment.base_dir
    rec = reg.get(base, client)
    if rec is None:
        raise DemoError(f"no demo {client!r} on environment {host_env!r}")
    start = max(parse_time(rec.expires), clock())
    rec = rec.with_(expires=fmt_time(start + ttl))
    reg.save(base, rec)
    return rec


def reap(root: Path, host_env: str, *, say: Say = lambda _: None,
         clock: Callable[[], datetime] = now_utc) -> list[reg.DemoRecord]:
    """Remove every expired demo of *host_env* (and nothing else)."""
    base = load(root, host_env).config.environment.base_dir
    now = clock()
    return [_remove(base, r, say) for r in reg.all_records(base) if r.expired(now)]


def health(rec: reg.DemoRecord) -> str:
    """``healthy``, ``unhealthy: ...`` or ``down``: the demo's containers as the engine sees them."""
    res = _docker(dk.env_containers(rec.env, "{{.Names}}\t{{.State}}\t{{.Status}}"))
    return judge(rec.env, res.stdout) if res.returncode == 0 else "unknown: engine did not answer"


def records(root: Path, host_env: str) -> list[reg.DemoRecord]:
    """Every demo of *host_env*."""
    return reg.all_records(load(root, host_env).config.environment.base_dir)


def listing(root: Path, host_env: str) -> list[tuple[reg.DemoRecord, str]]:
    """Every demo of *host_env* with its health (see :func:`health`)."""
    return [(r, health(r)) for r in records(root, host_env)]
