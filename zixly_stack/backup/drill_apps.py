"""The restore drill's second half: start the backed-up APPS against the restored data.

After :func:`zixly_stack.backup.drill.drill` has restored every database and volume into its
scratch project ``zixly-<env>-drill``, this module starts the apps of the backed-up services
in a second scratch project ``zixly-<env>-drill-apps``, attached only to the drill's
``internal`` network, and waits for each app container's own healthcheck (the one the
catalog renders); n8n is also asked for ``/healthz/readiness`` (database connected and
migrated) from inside its container.

The apps' Compose file is built by the PURE :func:`apps_compose` from the environment's
rendered release ON THE DRILL HOST (:class:`AppsRelease`: the deployed
``<base_dir>/<env>/current/<service>/compose.yaml`` with its ``env/`` and ``secrets/`` files
when the drill runs on the backed-up host; on another host (``--on``) a fresh render of those
services uploaded into the drill's 0700 scratch dir and removed with it): per long-running container (one-shot jobs with
``restart: "no"`` and the data-store servers themselves are skipped) ports, Traefik/zixly
labels, ``container_name`` and ``depends_on`` on skipped containers go; networks become the
drill network only (the container's own aliases kept); named volumes become the restored
scratch volume when the volume was backed up, else a fresh scratch volume; relative
``secrets``/``env_file``/bind paths become absolute; host paths bound by absolute path (the
Docker socket) are not given to drill containers. Image, environment, secrets, healthcheck,
user, command and resource limits stay as rendered.

The drill's data servers answer under the host names the apps use (:func:`store_aliases`:
the store kind, e.g. ``postgres``, plus the aliases of the container that holds each
database, e.g. ``warehouse-db``). PostgreSQL databases are restored under their own names
with their owners (roles created from the dump's ``OWNER TO``/``GRANT``, see :func:`pg_roles`;
the scratch server trusts every connection, so app passwords are accepted); MariaDB apps get
their database user created with their password from the secrets store, sent on stdin
(never printed, never in an argv).

Stand-in images are started the same way and say so in the result: they prove start-up
against restored data only as far as the stand-in's contract goes. The apps project is
torn down (containers, volumes) always, before the data project goes.
"""

from __future__ import annotations

import copy
import io
import posixpath
import re
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..catalog.stack import Stack
from ..commands import db, hostfs, shell
from ..commands import docker as dk
from ..project import render
from ..render.backup.faults import BackupError, DrillError
from ..render.backup.plan import Item, container_name
from ..render.budget import size_bytes
from ..render.context import db_identifier
from ..render.tree import dump_yaml
from ..render.units import _own_units
from ..safepath import posix_inside
from .local import Env
from .site import Site
from .snapshots import Snapshot

Say = Callable[[str], None]
LABEL = "org.zixly.drill"
STANDIN_LABEL = "org.zixly.standin"
STANDIN_NOTE = "stand-in image: proves start-up against restored data only as far as the stand-in's contract goes"
# Extra probes run inside an app container after its healthcheck passed: (service, container) -> URL.
READINESS: dict[tuple[str, str], str] = {("n8n", "n8n"): "http://127.0.0.1:5678/healthz/readiness"}
_NODE_PROBE = ("const u=process.argv[1];require('http').get(u,r=>{console.log(r.statusCode);"
               "process.exit(r.statusCode===200?0:1)}).on('error',e=>{console.log(e.code||e.message);process.exit(1)})")
_DROP = ("ports", "labels", "container_name", "depends_on", "networks", "volumes", "secrets", "env_file",
         "restart", "links", "external_links")
_SERVERS = {"postgres": "pg", "mariadb": "mariadb", "redis": "redis"}  # engine -> drill scratch service
_BUILTIN_ROLES = {"postgres", "public"}


@dataclass
class ItemResult:
    """One item of the drill."""

    item: str
    service: str
    status: str  # "ok" | "FAILED"
    detail: str = ""
    error: str = ""  # error class name when failed


# -- data servers under the apps' host names ------------------------------------------------
def store_aliases(stack: Stack, items: Iterable[Item]) -> dict[str, list[str]]:
    """Engine -> host names its drill server must answer to (PURE).

    Every app reaches a bound store as the store kind (``postgres``, ``mariadb``, ``redis``:
    render/context.py ``endpoint``), and a database held by another container (the warehouse)
    under that container's aliases (render/units.py: ``warehouse-db``, ``warehouse``).
    """
    holders = {container_name(p.project, u.key): u.aliases for p in stack.placements for u in _own_units(p.service)}
    out: dict[str, list[str]] = {}
    for item in items:
        if item.engine not in _SERVERS:
            continue
        names = out.setdefault(item.engine, [item.engine])
        for alias in holders.get(item.container, ()):
            if alias not in names:
                names.append(alias)
    return out


def add_store_aliases(services: dict[str, object], aliases: Mapping[str, Sequence[str]]) -> None:
    """Give the drill's scratch servers in *services* (a Compose ``services:`` map) *aliases* (PURE edit)."""
    for engine, key in _SERVERS.items():
        svc = services.get(key)
        if isinstance(svc, dict) and aliases.get(engine):
            svc["networks"] = {"drill": {"aliases": list(aliases[engine])}}


def pg_roles(sql: str) -> tuple[list[str], str]:
    """Roles a plain-SQL dump (``pg_restore -f -``) needs, and the database's owner (PURE).

    Roles: every ``OWNER TO``, ``GRANT ... TO``, ``REVOKE ... FROM`` and ``FOR ROLE`` target,
    except ``postgres``, ``PUBLIC`` and the built-in ``pg_*`` roles. The owner is the role that
    owns most objects (``postgres`` when there is none).
    """
    counts: dict[str, int] = {}
    owners: dict[str, int] = {}

    def add(names: str, owner: bool = False) -> None:
        for raw in names.split(","):
            name = raw.strip().strip('"')
            if not name or name.lower() in _BUILTIN_ROLES or name.startswith("pg_"):
                continue
            counts[name] = counts.get(name, 0) + 1
            if owner:
                owners[name] = owners.get(name, 0) + 1

    for line in sql.splitlines():
        if line.startswith(("ALTER ", "GRANT ", "REVOKE ")) or " OWNER TO " in line:
            m = re.search(r" OWNER TO (\"[^\"]+\"|\S+?);", line)
            if m:
                add(m.group(1), owner=True)
            m = re.search(r"^(?:ALTER DEFAULT PRIVILEGES .*?)?GRANT .* TO (.+?)( WITH GRANT OPTION)?;$", line)
            if m:
                add(m.group(1))
            m = re.search(r"^(?:ALTER DEFAULT PRIVILEGES .*?)?REVOKE .* FROM (.+?);$", line)
            if m:
                add(m.group(1))
            m = re.search(r"^ALTER DEFAULT PRIVILEGES FOR ROLE (\"[^\"]+\"|\S+)", line)
            if m:
                add(m.group(1))
    owner = max(sorted(owners), key=lambda r: owners[r]) if owners else "postgres"
    return sorted(counts), owner


def create_pg_roles(site: Site, container: str, roles: Sequence[str]) -> None:
    """Create each of *roles* (LOGIN, no password: the scratch server trusts) unless it exists."""
    for role in roles:
        quoted = '"' + role.replace('"', '""') + '"'
        sql = (f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role.replace(chr(39), '')}') "
               f"THEN CREATE ROLE {quoted} LOGIN; END IF; END$$")
        res = site.try_run(dk.exec_in(container, db.psql("postgres", sql)), read=True)
        if not res.ok:
            raise DrillError(f"creating role {role}: {res.tail(300)}")


# -- the apps' Compose file -----------------------------------------------------------------
@dataclass(frozen=True)
class AppContainer:
    """One app container of the drill's apps project."""

    service: str  # the backed-up service (n8n)
    container: str  # its container key in the rendered compose (n8n, runner)
    key: str  # the Compose service key in the apps project (n8n-runner)
    standin: bool
    healthcheck: bool


def _aliases(svc: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    nets = svc.get("networks") or {}
    for net in nets.values() if isinstance(nets, dict) else ():
        for alias in (net or {}).get("aliases", []) if isinstance(net, dict) else ():
            if alias not in out:
                out.append(alias)
    return out


def _abs(path: str, base: str | Path) -> str:
    """A path of the rendered compose file made absolute against its directory ON THE HOST."""
    return path if posixpath.isabs(path) else posixpath.normpath(posixpath.join(str(base), path))


def apps_compose(env: str, project: str, network: str,
                 rendered: Mapping[str, tuple[Mapping[str, Any], str | Path]],
                 restored: Mapping[str, str], store_hosts: Iterable[str]) -> tuple[dict[str, Any], list[AppContainer]]:
    """The apps project's Compose document and its containers (PURE).

    *rendered*: service -> (its rendered compose document, the directory it was read from);
    *restored*: real volume name (``zixly-prod-n8n_data``) -> the drill's restored scratch volume;
    *store_hosts*: host names the drill's data servers answer to (containers answering to one
    of them are data stores and are not started).
    """
    hosts = set(store_hosts)
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    out: list[AppContainer] = []
    for name in sorted(rendered):
        doc, base = rendered[name]
        top_vols = doc.get("volumes") or {}
        top_secrets = doc.get("secrets") or {}
        keep = {k for k, s in (doc.get("services") or {}).items()
                if str(s.get("restart", "")) != "no" and not hosts & set(_aliases(s))}
        for key in sorted(keep):
            src = doc["services"][key]
            svc = {k: copy.deepcopy(v) for k, v in src.items() if k not in _DROP}
            new = f"{name}-{key}"
            svc["labels"] = {LABEL: env, "org.zixly.drill.service": name, "org.zixly.drill.container": key}
            svc["restart"] = "no"
            aliases = _aliases(src)
            svc["networks"] = {"drill": {"aliases": aliases} if aliases else {}}
            deps = src.get("depends_on") or {}
            deps = {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
            kept = {f"{name}-{d}": copy.deepcopy(c) for d, c in deps.items() if d in keep}
            if kept:
                svc["depends_on"] = kept
            mounts = []
            for m in src.get("volumes") or []:
                m = {"type": "volume", "source": m.split(":")[0], "target": m.split(":")[1]} if isinstance(m, str) \
                    else dict(m)
                if m.get("type") == "volume" and m.get("source"):
                    real = (top_vols.get(m["source"]) or {}).get("name") or f"{doc.get('name', name)}_{m['source']}"
                    if real in restored:
                        vol = f"restored-{restored[real]}"
                        volumes[vol] = {"name": restored[real], "external": True}
                    else:
                        vol = f"{name}-{m['source']}"
                        volumes[vol] = {"labels": {LABEL: env}}
                    m["source"] = vol
                elif m.get("type") == "bind":
                    if posixpath.isabs(str(m.get("source", ""))):
                        continue  # host paths (the Docker socket): not for drill containers
                    m["source"] = _abs(str(m["source"]), base)
                mounts.append(m)
            if mounts:
                svc["volumes"] = mounts
            refs = []
            for s in src.get("secrets") or []:
                s = {"source": s} if isinstance(s, str) else dict(s)
                spec = top_secrets.get(s["source"]) or {}
                unique = f"{name}__{s['source']}"
                if "file" in spec:
                    secrets[unique] = {"file": _abs(str(spec["file"]), base)}
                else:
                    secrets[unique] = copy.deepcopy(spec)
                s.setdefault("target", s["source"])
                s["source"] = unique
                refs.append(s)
            if refs:
                svc["secrets"] = refs
            files = src.get("env_file")
            if files:
                files = [files] if isinstance(files, str) else files
                svc["env_file"] = [{**f, "path": _abs(str(f["path"]), base)} if isinstance(f, dict)
                                   else _abs(str(f), base) for f in files]
            services[new] = svc
            labels = src.get("labels") or {}
            standin = isinstance(labels, dict) and STANDIN_LABEL in labels
            out.append(AppContainer(name, key, new, standin, bool(src.get("healthcheck"))
                                    and not (src["healthcheck"] or {}).get("disable")))
    doc_out: dict[str, Any] = {"name": project, "services": services,
                               "networks": {"drill": {"name": network, "external": True}}}
    if volumes:
        doc_out["volumes"] = volumes
    if secrets:
        doc_out["secrets"] = secrets
    return doc_out, out


class AppsRelease:
    """The rendered compose files the drill's apps start from, on the drill host (module doc)."""

    def __init__(self, env: Env, site: Site, home: str, own: bool, scratch: str) -> None:
        self.env, self.site, self.home, self.own = env, site, home, own
        base = env.stack.environment.base_dir
        self.dir = posixpath.join(base, env.name, "current") if own else posixpath.join(scratch, "release")
        self._uploaded = False
        self._docs: dict[str, tuple[dict[str, Any], str]] = {}

    def _upload(self, services: Sequence[str]) -> None:
        """A fresh render of *services* (their directories of the home host's tree) into :attr:`dir`."""
        prefix = f"{self.home}/"
        wanted = tuple(f"{prefix}{s}/" for s in services)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for f in render(self.env.loaded, self.env.secrets):
                if f.path.startswith(wanted):
                    data = f.text.encode()
                    info = tarfile.TarInfo(f.path[len(prefix):])
                    info.size, info.mode = len(data), f.mode
                    tar.addfile(info, io.BytesIO(data))
        self.site.run(hostfs.mkdirs(self.dir), what="creating the drill's release dir", read=True)
        self.site.run(hostfs.untar(self.dir), what="uploading the rendered release", stdin=buf.getvalue(), read=True)
        self._uploaded = True

    def read(self, services: Sequence[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """Each service's rendered compose document and its directory on the host (absent ones left out)."""
        todo = [s for s in services if s not in self._docs]
        if todo and not self.own and not self._uploaded:
            self._upload(todo)
        for name in todo:
            path = posixpath.join(self.dir, name, "compose.yaml")
            res = self.site.try_run(hostfs.read(path), read=True)
            if res.ok:
                self._docs[name] = (yaml.safe_load(res.out) or {}, posixpath.dirname(path))
        return {s: self._docs[s] for s in services if s in self._docs}

    def apps(self, items: Sequence[Item]) -> list[str]:
        """The app/infra services of *items*, in order."""
        return [s for s in dict.fromkeys(i.service for i in items)
                if (svc := self.env.stack.services.get(s)) is not None and svc.kind in ("app", "infra")]

    def memory(self, items: Sequence[Item]) -> dict[str, int]:
        """``service.container -> memory limit`` of the app containers the drill would start (the memory guard);
        an app without a rendered compose file counts nothing (it is reported as failed)."""
        hosts = [h for names in store_aliases(self.env.stack, items).values() for h in names]
        doc, containers = apps_compose(self.env.name, "probe", "probe", self.read(self.apps(items)), {}, hosts)
        return {f"{c.service}.{c.container}": size_bytes(doc["services"][c.key].get("mem_limit")) or 0
                for c in containers}


# -- running them ---------------------------------------------------------------------------
def relocate_argv(volume_root: str, source: str) -> list[str]:
    """Move a restored tree (restic restores ``<root>/<source>``) to the volume's root, with its owner/mode."""
    posix_inside(volume_root, source.lstrip("/"))  # a snapshot's path cannot lead out of the volume
    return hostfs.relocate(volume_root, source)


def _mariadb_users(env: Env, rendered: Mapping[str, Any], items: Sequence[Item]) -> list[tuple[str, str, str]]:
    """(database, user, secret name) of each app whose MariaDB database was restored."""
    restored = {i.database for i in items if i.engine == "mariadb"}
    out = []
    for name in rendered:
        svc = env.stack.services.get(name)
        for b in svc.stores if svc else ():
            if b.kind != "mariadb":
                continue
            dbname, user = b.database or db_identifier(name), b.user or db_identifier(name)
            if dbname in restored:
                out.append((dbname, user, f"{name}.mariadb_password"))
    return out


def _create_mariadb_users(site: Site, container: str, users: Sequence[tuple[str, str, str]], env: Env) -> None:
    for dbname, user, secret in users:
        value = env.secrets.get(secret)
        if value is None:
            raise DrillError(f"creating MariaDB user {user}: no {secret} in the secrets store")
        pw = value.reveal().replace("\\", "\\\\").replace("'", "\\'")
        sql = (f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{pw}';\n"
               f"ALTER USER '{user}'@'%' IDENTIFIED BY '{pw}';\nGRANT ALL ON `{dbname}`.* TO '{user}'@'%';\n")
        res = site.try_run(dk.exec_in(container, db.mariadb_root(), stdin=True), stdin=sql.encode(), timeout=120,
                           read=True)
        if not res.ok:
            raise DrillError(f"creating MariaDB user {user}: {env.redact(res.err.strip())[-300:]}")


def _state(site: Site, container: str) -> tuple[str, str]:
    status, health, _ = site.states([container]).get(container, ("missing", "", ""))
    return status, health


def _logs(site: Site, container: str, n: int = 12) -> str:
    res = site.try_run([*dk.logs_tail(container, n)], read=True)
    text = site.redact((res.out + res.err).strip())
    return " | ".join(line.strip() for line in text.splitlines()[-n:])[-1500:]


def _probe(site: Site, container: str, url: str, patience: float = 60.0) -> tuple[bool, str]:
    """Ask *url* inside *container* until it answers 200 or *patience* seconds pass: on a
    loaded host n8n's readiness can read 503 for a moment (its database ping timed out)."""
    deadline = time.monotonic() + patience
    while True:
        res = site.try_run(dk.exec_in(container, ["node", "-e", _NODE_PROBE, url]), timeout=60, read=True)
        if res.ok or time.monotonic() >= deadline:
            return res.ok, site.redact((res.out + res.err).strip())[-200:]
        time.sleep(3)


class _Background:
    """A command running in a thread (``compose up`` while its containers are watched)."""

    def __init__(self, site: Site, argv: Sequence[str], stdin: bytes, timeout: float) -> None:
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, args=(site, argv, stdin, timeout), daemon=True)
        self.thread.start()

    def _run(self, site: Site, argv: Sequence[str], stdin: bytes, timeout: float) -> None:
        self.result = site.try_run(argv, stdin=stdin, timeout=timeout, read=True)

    def done(self) -> bool:
        return not self.thread.is_alive()

    def failed(self) -> bool:
        return self.done() and self.result is not None and not self.result.ok


def _watch(site: Site, project: str, containers: Sequence[AppContainer], up: _Background, started: float,
           timeout: float) -> tuple[dict[str, tuple[bool, str]], dict[str, float]]:
    """Each container's (ok, what) and each app's seconds until decided: one container failed, or all healthy."""
    outcome: dict[str, tuple[bool, str]] = {}
    decided: dict[str, float] = {}
    apps = {c.service for c in containers}
    while True:
        up_done, up_failed = up.done(), up.failed()
        states = site.states([container_name(project, c.key) for c in containers])
        for c in containers:
            if c.key in outcome or c.service in decided:
                continue
            status, health, _ = states.get(container_name(project, c.key), ("missing", "", ""))
            if status in ("exited", "dead") or health == "unhealthy" or (
                    status in ("missing", "created") and up_done and up_failed):
                outcome[c.key] = (False, f"{c.container}: {status}{'/' + health if health else ''}")
            elif health == "healthy" or (status == "running" and not c.healthcheck):
                outcome[c.key] = (True, f"{c.container} {'healthy' if c.healthcheck else 'running (no healthcheck)'}")
        for app in apps - set(decided):
            mine = [c for c in containers if c.service == app]
            if any(not outcome[c.key][0] for c in mine if c.key in outcome) or all(c.key in outcome for c in mine):
                decided[app] = time.monotonic() - started
        if len(decided) == len(apps) or time.monotonic() - started > timeout:
            break
        time.sleep(2)
    for c in containers:
        if c.key not in outcome:
            status, health = _state(site, container_name(project, c.key))
            why = "not started: a sibling failed" if c.service in decided else f"not healthy after {timeout:.0f}s"
            outcome[c.key] = (False, f"{c.container}: {why} ({status}/{health or '-'})")
    return outcome, decided


def start_apps(env: Env, site: Site, release: AppsRelease, data_project: str, items: Sequence[tuple[Item, Snapshot]],
               restored_vols: Mapping[str, str], say: Say = lambda s: None, timeout: float = 420) -> list[ItemResult]:
    """Start the apps of *items*' services against the restored data; one result per service.

    *restored_vols*: item name -> the drill project's scratch volume key (``v0``). The apps
    project is always torn down before returning.
    """
    try:
        return _start_apps(env, site, release, data_project, items, restored_vols, say, timeout)
    except (DrillError, BackupError, OSError) as exc:
        return [ItemResult("drill.apps", ", ".join(sorted({i.service for i, _ in items})), "FAILED",
                           f"the apps were not started: {env.redact(str(exc))}", DrillError.__name__)]


def _start_apps(env: Env, site: Site, release: AppsRelease, data_project: str,
                items: Sequence[tuple[Item, Snapshot]], restored_vols: Mapping[str, str], say: Say,
                timeout: float) -> list[ItemResult]:
    project = f"{data_project}-apps"
    apps = release.apps([i for i, _ in items])
    rendered = release.read(apps)
    missing = [s for s in apps if s not in rendered]
    results = [ItemResult(f"{s}.app", s, "FAILED", f"no rendered compose file under {release.dir}/{s} on "
                          f"{site.label}", DrillError.__name__) for s in missing]
    restored: dict[str, str] = {}
    for item, snap in items:
        if item.engine == "volume" and item.name in restored_vols:
            scratch = f"{data_project}_{restored_vols[item.name]}"
            site.run(relocate_argv(site.mountpoint(scratch), snap.source), what=f"{item.name}: relocating", read=True)
            restored[item.volume] = scratch
    hosts = [h for names in store_aliases(env.stack, [i for i, _ in items]).values() for h in names]
    doc, containers = apps_compose(env.name, project, f"{data_project}_drill", rendered, restored, hosts)
    if not containers:
        return results
    users = _mariadb_users(env, rendered, [i for i, _ in items])
    if users:
        _create_mariadb_users(site, f"{data_project}-mariadb-1", users, env)
    text = dump_yaml(doc, "# zixly restore drill: the apps against the restored data; torn down after\n").encode()
    compose = dk.compose_stdin(project)
    started = time.monotonic()
    try:
        say(f"drill: starting {len(containers)} app container(s) of "
            f"{', '.join(sorted({c.service for c in containers}))} in {project} on {site.label}")
        # `up` waits for depends_on conditions (n8n healthy before its runner): it runs in the
        # background (bounded by `timeout` on the host) while each container is watched.
        up = _Background(site, shell.with_timeout(int(timeout) + 60, [*compose, "up", "-d", "--no-build", "--pull",
                                                                        "never"]), text, timeout + 120)
        outcome, decided = _watch(site, project, containers, up, started, timeout)
        up_err = env.redact(up.result.tail(400)) if up.failed() else ""
        results += _judge(site, project, containers, outcome, decided, started, up_err)
        for r in results:
            say(f"drill: {r.item}: {r.status}")
    finally:
        down = site.try_run([*compose, "down", "-v", "--remove-orphans", "-t", "5"], stdin=text, timeout=600,
                            read=True)
        if not down.ok:
            results.append(ItemResult("drill.apps", "drill", "FAILED",
                                      f"tearing down {project}: {env.redact(down.tail(300))}", DrillError.__name__))
        say(f"drill: apps project {project} torn down ({time.monotonic() - started:.0f}s after start)")
    return results


def _judge(site: Site, project: str, containers: Sequence[AppContainer], outcome: Mapping[str, tuple[bool, str]],
           decided: Mapping[str, float], started: float, up_err: str) -> list[ItemResult]:
    results = []
    for service in sorted({c.service for c in containers}):
        mine = [c for c in containers if c.service == service]
        elapsed = decided.get(service, time.monotonic() - started)
        bad = [c for c in mine if not outcome[c.key][0]]
        notes = []
        if not bad:
            for c in mine:
                url = READINESS.get((c.service, c.container))
                if url:
                    ok, said = _probe(site, container_name(project, c.key), url)
                    notes.append(f"readiness {'ok' if ok else 'FAILED: ' + said}")
                    if not ok:
                        bad.append(c)
        if bad:
            c = bad[0]
            why = outcome[c.key][1] if not outcome[c.key][0] else f"{c.container}: {notes[-1]}"
            detail = f"{service} did not start against the restored data: {why}"
            if up_err:
                detail += f"; compose: {up_err}"
            detail += f"; last log lines: {_logs(site, container_name(project, c.key))}"
            results.append(ItemResult(f"{service}.app", service, "FAILED", detail, DrillError.__name__))
        else:
            states = ", ".join(outcome[c.key][1] for c in mine)
            detail = f"{service} started: {states}{'; ' + '; '.join(notes) if notes else ''} in {elapsed:.0f}s"
            if any(c.standin for c in mine):
                detail += f" ({STANDIN_NOTE})"
            results.append(ItemResult(f"{service}.app", service, "ok", detail))
    return results
