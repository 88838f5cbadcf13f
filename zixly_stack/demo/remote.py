"""Demos on a remote host of an environment, over the deploy connection (module :mod:`zixly_stack.demo`).

Contract
--------
* Every command goes through the host's :class:`~zixly_stack.runner.Runner` (one SSH session,
  pyinfra's connection with the deploy's host-key policy), argv lists only.
* The registry lives on the host, ``<base_dir>/demos/<client>/demo.json``, and every change
  to it is made there by the host tool (:mod:`.hostside`, fed to ``python3 -``) under a flock
  of ``<base_dir>/demos/.lock``: two operators see the same list, and two ``demo up`` at once
  cannot both pass the memory guard (``reserve``: the environment's ``memory_budget``, else
  the host's MemTotal). The reap timer that deploy installs runs the same tool.
* ``up`` decides everything it can before the host is touched (name, TTL, services, the edge
  running there, a full render), then reserves, uploads the rendered tree and the demo's
  encrypted store (``root/inventories``: its age identity never leaves this machine), loads
  the images the host lacks, starts the projects stage by stage, publishes the routes into
  the host edge's file-provider directory and seeds through the hooks over the connection.
  A refusal changes nothing; a failure after the reservation leaves the demo ``failed`` for
  inspection (``demo down`` removes it).
"""

from __future__ import annotations

import contextlib
import io
import json
import posixpath
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ..clock import fmt_time
from ..commands import docker as dk
from ..commands import hostfs
from ..deploy.imagelist import image_rows, refs
from ..deploy.images import transfer
from ..errors import ApplyError, ConfigError
from ..hooks.local_run import state_path
from ..hooks.remote import RemoteStateFile, SshDocker, pyinfra_runner
from ..hooks.tunnel import pyinfra_forwarder
from ..outdir import write_tree
from ..plan.compute import compose_shape
from ..plan.facts import parse_facts
from ..project import Loaded, load, prepare_secrets, render
from ..render.demo_reap import TOOL_SOURCE, demos_dir
from ..runner import Result, Runner
from ..runner.connect import open_session, parallel, runner_for
from . import registry as reg
from .build import (
    app_urls,
    demo_hosts,
    env_name,
    environment_doc,
    memory_of,
    remote_hosts_doc,
    rewrite_compose,
    routes_text,
)
from .run import (
    CREDENTIAL_SUFFIXES,
    WAIT_TIMEOUT,
    Say,
    UpResult,
    _project_order,
    _write_root,
    now_utc,
    seed,
    template_of,
)
from .spec import DemoError, mem_bytes, select_services, template_services, validate_client

HOST_TOOL = TOOL_SOURCE
PYTHON = "python3"


def is_remote(loaded: Loaded) -> bool:
    """True when the environment's demo hosts are remote (not every host is ``@local``)."""
    return not loaded.config.hosts.all_local


def tool(runner: Runner, *args: str, timeout: float = 1200.0) -> Result:
    """``python3 - ARGS`` on the host with the host tool on stdin (the same code the reap timer runs)."""
    return runner.run([PYTHON, "-", *args], stdin=HOST_TOOL.read_bytes(), timeout=timeout)


def answer(res: Result, what: str) -> Any:
    """The tool's JSON answer; exit 2 is a refusal (:class:`DemoError`), anything else an ApplyError."""
    if res.code == 2:
        raise DemoError(res.err.strip() or f"{what}: refused")
    try:
        out = json.loads(res.out.strip().splitlines()[-1]) if res.out.strip() else None
    except ValueError:
        out = None
    if res.code != 0 or out is None:
        detail = (out or {}).get("errors") if isinstance(out, dict) else None
        raise ApplyError(f"{what}: {'; '.join(detail) if detail else res.tail()}")
    return out


@dataclass
class Connected:
    """The host environment and open runners to its demo hosts."""

    loaded: Loaded
    runners: dict[str, Runner]
    connections: dict[str, Any]

    @property
    def demos(self) -> str:
        return demos_dir(self.loaded.config.environment.base_dir)


@contextlib.contextmanager
def connect(root: Path, env: str, only: str | None = None) -> Iterator[Connected]:
    """Load *env* and connect to its demo hosts (or *only* that one); unreachable hosts are an error."""
    loaded = load(root, env)
    hosts = demo_hosts(loaded.stack)
    if not hosts:
        raise DemoError(f"environment {env!r} has no host running its edge (traefik) in compose mode: demos need one")
    if only is not None:
        if only not in loaded.config.hosts.hosts:
            raise DemoError(f"--host {only!r}: not a host of environment {env!r} "
                            f"(hosts: {', '.join(loaded.config.hosts.hosts)})")
        if only not in hosts:
            raise DemoError(f"--host {only!r}: runs no edge (traefik) of {env!r}; demos can run on {', '.join(hosts)}")
        hosts = [only]
    models = {h: loaded.config.hosts.hosts[h] for h in hosts}
    session = open_session(models)
    try:
        if session.errors:
            raise ApplyError("; ".join(f"{h}: unreachable: {e}" for h, e in session.errors.items()))
        yield Connected(loaded, {h: runner_for(session.hosts[h], h) for h in hosts}, dict(session.hosts))
    finally:
        session.close()


def _record(data: dict[str, Any], host: str) -> reg.DemoRecord:
    known = {f for f in reg.DemoRecord.__dataclass_fields__}
    rec = reg.DemoRecord(**{k: v for k, v in data.items() if k in known})
    return rec if rec.host else rec.with_(host=host)


def listing(root: Path, host_env: str, host: str | None = None) -> list[tuple[reg.DemoRecord, str]]:
    """Every demo of *host_env* on its demo hosts, with its health, by client."""
    with connect(root, host_env, host) as c:
        def one(name: str) -> list[tuple[reg.DemoRecord, str]]:
            rows = answer(tool(c.runners[name], "list", c.demos, host_env, timeout=120), f"{name}: demo list")
            return [(_record(r["record"], name), str(r["health"])) for r in rows]

        found = [row for rows in parallel(one, list(c.runners)) for row in rows]
    return sorted(found, key=lambda row: row[0].client)


def records(root: Path, host_env: str) -> list[reg.DemoRecord]:
    """Every demo of *host_env* (registry records from its hosts)."""
    return [r for r, _ in listing(root, host_env)]


def _where(c: Connected, client: str, host_env: str) -> str:
    """The host whose registry holds *client*."""
    def has(name: str) -> bool:
        rows = answer(tool(c.runners[name], "list", c.demos, timeout=120), f"{name}: demo list")
        return any(r["record"]["client"] == client for r in rows)

    hits = [h for h, yes in zip(c.runners, parallel(has, list(c.runners)), strict=True) if yes]
    if not hits:
        raise DemoError(f"no demo {client!r} on environment {host_env!r} (hosts asked: {', '.join(c.runners)})")
    return hits[0]


def down(root: Path, host_env: str, client: str, *, host: str | None = None,
         say: Say = lambda _: None) -> reg.DemoRecord:
    """Remove demo *client* on the host that runs it (its projects, route files, state dir)."""
    validate_client(client)
    with connect(root, host_env, host) as c:
        name = _where(c, client, host_env)
        rows = answer(tool(c.runners[name], "list", c.demos, timeout=120), f"{name}: demo list")
        rec = next(_record(r["record"], name) for r in rows if r["record"]["client"] == client)
        say(f"removing demo {client} on {name}")
        answer(tool(c.runners[name], "remove", c.demos, client), f"{name}: demo down {client}")
    return rec


def extend(root: Path, host_env: str, client: str, ttl: timedelta, *, host: str | None = None,
           clock: Callable[[], datetime] = now_utc) -> reg.DemoRecord:
    """expires := max(expires, now) + *ttl*, on the host that runs *client*."""
    validate_client(client)
    with connect(root, host_env, host) as c:
        name = _where(c, client, host_env)
        out = answer(tool(c.runners[name], "extend", c.demos, client, str(int(ttl.total_seconds())),
                          "--now", fmt_time(clock())), f"{name}: demo extend {client}")
    return _record(out, name)


def reap(root: Path, host_env: str, *, say: Say = lambda _: None,
         clock: Callable[[], datetime] = now_utc) -> list[str]:
    """Remove every expired demo of *host_env* on each of its demo hosts; the clients removed."""
    with connect(root, host_env) as c:
        def one(name: str) -> list[str]:
            out = answer(tool(c.runners[name], "reap", c.demos, host_env, "--now", fmt_time(clock())),
                         f"{name}: demo reap")
            for client in out["removed"]:
                say(f"{name}: reaped demo {client}")
            return list(out["removed"])

        return sorted(x for got in parallel(one, list(c.runners)) for x in got)


def republish(root: Path, host_env: str, *, say: Say = lambda _: None) -> list[str]:
    """Each demo's routes where its host's Traefik looks now (after a deploy moved ``current``); nothing for an
    environment whose hosts carry no demos."""
    done: list[str] = []
    if not demo_hosts(load(root, host_env).stack):
        return done
    with connect(root, host_env) as c:
        edge = f"{c.loaded.stack.prefix}-traefik-traefik-1"
        for name, runner in c.runners.items():
            out = answer(tool(runner, "republish", c.demos, host_env, edge, timeout=300), f"{name}: demo republish")
            for client, dirs in sorted(out["written"].items()):
                say(f"demo {client}: routes published on {name} in {', '.join(dirs)}")
                done.append(client)
    return done


# --- up -------------------------------------------------------------------------------------------

def _edge_running(runner: Runner, container: str) -> bool:
    res = runner.run(dk.inspect_format("{{.State.Running}}", container), timeout=60, read=True)
    return res.ok and res.out.strip() == "true"


def _tar(directory: Path, members: Sequence[str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for m in members:
            tar.add(directory / m, arcname=m)
    return buf.getvalue()


def _images(c: Connected, name: str, demo: Loaded, say: Say) -> None:
    wanted = refs(image_rows(demo), name)
    res = c.runners[name].run(dk.image_ls(), timeout=60, read=True)
    have = parse_facts("@@images\n" + res.out + "\n@@end").images
    needed = [r for r in wanted if r not in have]
    if not needed:
        return
    got = transfer(c.connections[name], needed, say)
    if not got.ok:
        raise ApplyError(f"{name}: the demo's images: {got.message}")


def _up_project(runner: Runner, build: str, local_build: Path, host: str, svc: str) -> tuple[str, bool, str]:
    shape = compose_shape(yaml.safe_load((local_build / host / svc / "compose.yaml").read_text()))
    file = posixpath.join(build, host, svc, "compose.yaml")
    argvs = [dk.compose_up_wait(file, shape.waited, WAIT_TIMEOUT)] if shape.waited else []
    argvs += [dk.compose_run_job(file, job) for job in shape.jobs]
    for argv in argvs:
        res = runner.run(argv, timeout=WAIT_TIMEOUT + 120)
        if not res.ok:
            return svc, False, res.tail(800)
    return svc, True, ""


@dataclass
class _Made:
    """The demo rendered on this machine (a temp dir), before anything reaches the host."""

    staging: Path
    loaded: Loaded
    secrets: dict[str, Any]
    routes: str
    chosen: list[str]
    stack_services: list[str]


def _make(root: Path, c: Connected, name: str, client: str, services: Sequence[str] | None) -> _Made:
    host_loaded = c.loaded
    template = template_of(root)
    chosen = list(services) if services else default_services_of(root, host_loaded)
    stack_services = select_services(chosen, template["services"], host_loaded.catalog.services)
    env = env_name(client)
    demo_dir = posixpath.join(c.demos, client)
    staging = Path(tempfile.mkdtemp(prefix=f"zixly-demo-{client}."))
    try:
        env_doc = environment_doc(template, host_loaded.config.environment, client, stack_services, demo_dir)
        _write_root(staging / "root", root, env, env_doc,
                    remote_hosts_doc(name, host_loaded.config.hosts.hosts[name]))
        loaded = load(staging / "root", env)
        prepared = prepare_secrets(loaded, create=True)
        files = render(loaded, prepared.values)
        prepared.commit()
        network = f"{host_loaded.stack.prefix}-proxy"
        files = tuple(f.__class__(f.path, rewrite_compose(f.text, loaded.stack, network), f.mode, f.secret)
                      if f.path.endswith("/compose.yaml") else f for f in files)
        write_tree(files, staging / "build")
        routes = routes_text(loaded.stack, name, client, acme=loaded.config.environment.acme is not None)
    except ConfigError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DemoError(f"demo {client!r}: the demo environment does not render:\n{exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _Made(staging, loaded, dict(prepared.values), routes, chosen, stack_services)


def default_services_of(root: Path, host_loaded: Loaded) -> list[str]:
    """The template's default selection against *host_loaded*'s catalog."""
    return template_services(template_of(root)["services"], host_loaded.catalog.services)


def host_memory(loaded: Loaded, host: str) -> int:
    """Sum of the memory limits of the environment's long-running containers on *host* (the guard's ``main``)."""
    return sum(mem_bytes(ct.resources.memory) for p in loaded.stack.on_host(host)
               for ct in p.service.containers.values() if ct.role != "job")


def up(root: Path, host_env: str, client: str, ttl: timedelta, services: Sequence[str] | None,
       host: str | None = None, *, say: Say = lambda _: None, clock: Callable[[], datetime] = now_utc) -> UpResult:
    """Create, start, route and seed demo *client* on a remote host of *host_env* (module contract)."""
    started = time.monotonic()
    validate_client(client)
    with connect(root, host_env, host or _first_demo_host(root, host_env)) as c:
        name = next(iter(c.runners))
        runner = c.runners[name]
        edge = f"{c.loaded.stack.prefix}-traefik-traefik-1"
        if not _edge_running(runner, edge):
            raise DemoError(f"environment {host_env!r}: its edge ({edge}) is not running on {name}; deploy the "
                            f"environment first (`zixly deploy {host_env}`)")
        made = _make(root, c, name, client, services)
        try:
            return _up(c, name, client, ttl, made, host_env, say, clock, started)
        finally:
            shutil.rmtree(made.staging, ignore_errors=True)


def _first_demo_host(root: Path, host_env: str) -> str | None:
    hosts = demo_hosts(load(root, host_env).stack)
    return hosts[0] if hosts else None


def _up(c: Connected, name: str, client: str, ttl: timedelta, made: _Made, host_env: str, say: Say,
        clock: Callable[[], datetime], started: float) -> UpResult:
    runner = c.runners[name]
    loaded = made.loaded
    env = loaded.stack.env_name
    demo_dir = posixpath.join(c.demos, client)
    created = clock()
    stages = [[f"{loaded.stack.prefix}-{n}" for n in stage] for stage in _project_order(loaded)]
    settings = c.loaded.config.environment
    record = reg.DemoRecord(
        client=client, env=env, host_env=host_env, host=name, services=sorted(made.chosen), stack=made.stack_services,
        projects=[p for s in stages for p in s], stages=stages, created=fmt_time(created),
        expires=fmt_time(created + ttl), urls=app_urls(loaded.stack, https_port=settings.edge.https_port),
        memory=memory_of(loaded.stack))
    budget = str(mem_bytes(settings.memory_budget)) if settings.memory_budget else "0"
    answer(tool(runner, "reserve", c.demos, json.dumps(asdict(record)), "--budget", budget,
                "--main", str(host_memory(c.loaded, name)), timeout=120), f"{name}: demo up {client}")
    result = UpResult(record)
    try:
        _start(c, name, made, demo_dir, say)
        result.seconds["healthy"] = time.monotonic() - started
        edge = f"{c.loaded.stack.prefix}-traefik-traefik-1"
        out = answer(tool(runner, "publish", c.demos, client, edge, made.routes), f"{name}: demo routes {client}")
        record = record.with_(route_file=out["route_file"])
        result.hooks = _seed(c, name, made, say)
    except BaseException:
        tool(runner, "status", c.demos, client, "failed", timeout=60)
        raise
    ok = all(status in ("ok", "unchanged", "n/a") for _, status, _ in result.hooks)
    status = "ready" if ok else "degraded"
    answer(tool(runner, "status", c.demos, client, status, timeout=60), f"{name}: demo status {client}")
    result.record = record.with_(status=status)
    result.credentials = {k: v for k, v in sorted(made.secrets.items()) if k.endswith(CREDENTIAL_SUFFIXES)}
    result.seconds["seeded"] = time.monotonic() - started
    return result


def _start(c: Connected, name: str, made: _Made, demo_dir: str, say: Say) -> None:
    """Upload the tree and the demo's encrypted store, load missing images, start the projects by stage."""
    runner = c.runners[name]
    blob = _tar(made.staging, ["build", "root/inventories"])
    res = runner.run(hostfs.untar(demo_dir), stdin=blob, timeout=600)
    if not res.ok:
        raise ApplyError(f"{name}: could not upload the demo's files: {res.tail()}")
    _images(c, name, made.loaded, say)
    build = posixpath.join(demo_dir, "build")
    for stage in _project_order(made.loaded):
        if not stage:
            continue
        say(f"starting {', '.join(stage)} on {name}")
        outcomes = parallel(lambda s: _up_project(runner, build, made.staging / "build", name, s), stage)
        failed = [(s, msg) for s, ok, msg in outcomes if not ok]
        if failed:
            detail = "; ".join(f"{s}: {m}" for s, m in failed)
            raise ApplyError(f"demo {made.loaded.stack.env_name}: {detail}\nthe demo is left as it is for "
                             f"inspection; remove it with `zixly demo down {made.loaded.stack.env_name[5:]}`")


def _seed(c: Connected, name: str, made: _Made, say: Say) -> list[tuple[str, str, str]]:
    loaded = made.loaded
    run = pyinfra_runner(c.connections[name])
    state = RemoteStateFile(run, str(state_path(loaded.config.environment.base_dir, loaded.stack.env_name)))
    with pyinfra_forwarder(c.connections[name]) as forwarder:
        transport = SshDocker(run, prefix=loaded.stack.prefix, host=name, tunnel=forwarder.url)
        return seed(loaded, made.secrets, transport, state, say)
