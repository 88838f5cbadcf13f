"""The restore drill's second half: start the backed-up APPS against the restored data.

After :func:`zixly_stack.backup.drill.drill` has restored every database and volume into its
scratch project ``zixly-<env>-drill``, this module starts the apps of the backed-up services
in a second scratch project ``zixly-<env>-drill-apps``, attached only to the drill's
``internal`` network, and waits for each app container's own healthcheck (the one the
catalog renders); n8n is also asked for ``/healthz/readiness`` (database connected and
migrated) from inside its container.

The apps' Compose file is built by the PURE :func:`apps_compose` from the environment's
rendered release on this machine (``<base_dir>/<env>/current/<service>/compose.yaml`` with its
``env/`` and ``secrets/`` files): per long-running container (one-shot jobs with
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
their database user created with the password of the rendered secret file their compose
mounts (never printed).

Stand-in images are started the same way and say so in the result: they prove start-up
against restored data only as far as the stand-in's contract goes. The apps project is
torn down (containers, volumes) always, before the data project goes.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..catalog.stack import Stack
from ..render.context import db_identifier, secret_file_name
from ..render.tree import dump_yaml
from ..render.units import _own_units
from ..safepath import inside
from .drill import ItemResult
from .faults import BackupError, DrillError
from .local import Env
from .plan import Item, container_name
from .restore import docker, mountpoint
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


def create_pg_roles(container: str, roles: Sequence[str]) -> None:
    """Create each of *roles* (LOGIN, no password: the scratch server trusts) unless it exists."""
    for role in roles:
        quoted = '"' + role.replace('"', '""') + '"'
        res = docker("exec", container, "psql", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-Atc",
                     f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role.replace(chr(39), '')}') "
                     f"THEN CREATE ROLE {quoted} LOGIN; END IF; END$$")
        if res.returncode != 0:
            raise DrillError(f"creating role {role}: {res.stderr.strip()[-300:]}")


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


def _abs(path: str, base: Path) -> str:
    return path if os.path.isabs(path) else str((base / path).resolve())


def apps_compose(env: str, project: str, network: str, rendered: Mapping[str, tuple[Mapping[str, Any], Path]],
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
                    if os.path.isabs(str(m.get("source", ""))):
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


def release_dir(env: Env) -> Path:
    """``<base_dir>/<env>/current``: the release rendered and deployed on this machine."""
    return Path(env.stack.environment.base_dir) / env.name / "current"


def read_rendered(release: Path, services: Iterable[str]) -> dict[str, tuple[dict[str, Any], Path]]:
    """Each service's rendered compose document (services without one are left out)."""
    out = {}
    for name in services:
        path = release / name / "compose.yaml"
        if path.is_file():
            out[name] = (yaml.safe_load(path.read_text()) or {}, path.parent)
    return out


# -- running them ---------------------------------------------------------------------------
def relocate(volume_root: Path, source: str) -> None:
    """Move a restored tree (restic restores ``<root>/<source>``) to the volume's root, with its owner/mode."""
    nested = inside(volume_root, source.lstrip("/"))  # a snapshot's path cannot lead out of the volume
    if not nested.is_dir():
        return
    top = volume_root / Path(source.lstrip("/")).parts[0]
    moved = volume_root / ".zixly-drill-restored"
    os.rename(top, moved)
    tree = moved.joinpath(*Path(source.lstrip("/")).parts[1:])
    st = tree.stat()
    for entry in list(tree.iterdir()):
        os.rename(entry, volume_root / entry.name)
    shutil.rmtree(moved)
    os.chown(volume_root, st.st_uid, st.st_gid)
    os.chmod(volume_root, st.st_mode & 0o7777)


def _mariadb_users(env: Env, rendered: Mapping[str, tuple[Mapping[str, Any], Path]],
                   items: Sequence[Item]) -> list[tuple[str, str, Path]]:
    """(database, user, rendered password file) of each app whose MariaDB database was restored."""
    restored = {i.database for i in items if i.engine == "mariadb"}
    out = []
    for name, (doc, base) in rendered.items():
        svc = env.stack.services.get(name)
        for b in svc.stores if svc else ():
            if b.kind != "mariadb":
                continue
            db, user = b.database or db_identifier(name), b.user or db_identifier(name)
            secret = secret_file_name(f"{name}.mariadb_password")
            spec = (doc.get("secrets") or {}).get(secret) or {}
            if db in restored and "file" in spec:
                out.append((db, user, Path(_abs(str(spec["file"]), base))))
    return out


def _create_mariadb_users(container: str, users: Sequence[tuple[str, str, Path]], env: Env) -> None:
    for db, user, path in users:
        pw = path.read_text().strip().replace("\\", "\\\\").replace("'", "\\'")
        sql = (f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{pw}';\n"
               f"ALTER USER '{user}'@'%' IDENTIFIED BY '{pw}';\nGRANT ALL ON `{db}`.* TO '{user}'@'%';\n")
        res = subprocess.run(["docker", "exec", "-i", container, "mariadb", "-uroot"], input=sql,
                             capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise DrillError(f"creating MariaDB user {user}: {env.redact(res.stderr.strip())[-300:]}")


def _state(container: str) -> tuple[str, str]:
    res = docker("inspect", "--format", "{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}",
                 container)
    if res.returncode != 0:
        return "missing", ""
    status, _, health = res.stdout.strip().partition("|")
    return status, health


def _logs(env: Env, container: str, n: int = 12) -> str:
    res = docker("logs", "--tail", str(n), container)
    text = env.redact((res.stdout + res.stderr).strip())
    return " | ".join(line.strip() for line in text.splitlines()[-n:])[-1500:]


def _probe(env: Env, container: str, url: str, patience: float = 60.0) -> tuple[bool, str]:
    """Ask *url* inside *container* until it answers 200 or *patience* seconds pass: on a
    loaded host n8n's readiness can read 503 for a moment (its database ping timed out)."""
    deadline = time.monotonic() + patience
    while True:
        res = docker("exec", container, "node", "-e", _NODE_PROBE, url, timeout=60)
        if res.returncode == 0 or time.monotonic() >= deadline:
            return res.returncode == 0, env.redact((res.stdout + res.stderr).strip())[-200:]
        time.sleep(3)


def _watch(project: str, containers: Sequence[AppContainer], up: subprocess.Popen[str], started: float,
           timeout: float) -> tuple[dict[str, tuple[bool, str]], dict[str, float]]:
    """Each container's (ok, what) and each app's seconds until decided: one container failed, or all healthy."""
    outcome: dict[str, tuple[bool, str]] = {}
    decided: dict[str, float] = {}
    apps = {c.service for c in containers}
    while True:
        up_done = up.poll() is not None
        for c in containers:
            if c.key in outcome or c.service in decided:
                continue
            status, health = _state(container_name(project, c.key))
            if status in ("exited", "dead") or health == "unhealthy" or (
                    status in ("missing", "created") and up_done and up.returncode != 0):
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
            status, health = _state(container_name(project, c.key))
            why = "not started: a sibling failed" if c.service in decided else f"not healthy after {timeout:.0f}s"
            outcome[c.key] = (False, f"{c.container}: {why} ({status}/{health or '-'})")
    return outcome, decided


def start_apps(env: Env, data_project: str, items: Sequence[tuple[Item, Snapshot]], restored_vols: Mapping[str, str],
               say: Say = lambda s: None, timeout: float = 420) -> list[ItemResult]:
    """Start the apps of *items*' services against the restored data; one result per service.

    *restored_vols*: item name -> the drill project's scratch volume key (``v0``). The apps
    project is always torn down before returning.
    """
    try:
        return _start_apps(env, data_project, items, restored_vols, say, timeout)
    except (DrillError, BackupError, OSError, subprocess.SubprocessError) as exc:
        return [ItemResult("drill.apps", ", ".join(sorted({i.service for i, _ in items})), "FAILED",
                           f"the apps were not started: {env.redact(str(exc))}", DrillError.__name__)]


def _start_apps(env: Env, data_project: str, items: Sequence[tuple[Item, Snapshot]],
                restored_vols: Mapping[str, str], say: Say, timeout: float) -> list[ItemResult]:
    project = f"{data_project}-apps"
    apps = [s for s in dict.fromkeys(i.service for i, _ in items)
            if (svc := env.stack.services.get(s)) is not None and svc.kind in ("app", "infra")]
    rendered = read_rendered(release_dir(env), apps)
    missing = [s for s in apps if s not in rendered]
    results = [ItemResult(f"{s}.app", s, "FAILED", f"no rendered compose file under {release_dir(env)}/{s}",
                          DrillError.__name__) for s in missing]
    restored: dict[str, str] = {}
    for item, snap in items:
        if item.engine == "volume" and item.name in restored_vols:
            scratch = f"{data_project}_{restored_vols[item.name]}"
            relocate(mountpoint(scratch), snap.source)
            restored[item.volume] = scratch
    hosts = [h for names in store_aliases(env.stack, [i for i, _ in items]).values() for h in names]
    doc, containers = apps_compose(env.name, project, f"{data_project}_drill", rendered, restored, hosts)
    if not containers:
        return results
    users = _mariadb_users(env, rendered, [i for i, _ in items])
    if users:
        _create_mariadb_users(f"{data_project}-mariadb-1", users, env)
    text = dump_yaml(doc, "# zixly restore drill: the apps against the restored data; torn down after\n")
    compose = ["docker", "compose", "-p", project, "-f", "-"]
    started = time.monotonic()
    try:
        say(f"drill: starting {len(containers)} app container(s) of "
            f"{', '.join(sorted({c.service for c in containers}))} in {project}")
        # `up` waits for depends_on conditions (n8n healthy before its runner): it runs in the
        # background while each container is watched, and is stopped once every app is decided.
        with tempfile.TemporaryFile("w+") as errf:
            up = subprocess.Popen([*compose, "up", "-d", "--no-build", "--pull", "never"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=errf, text=True, start_new_session=True)
            assert up.stdin is not None
            up.stdin.write(text)
            up.stdin.close()
            outcome, decided = _watch(project, containers, up, started, timeout)
            if up.poll() is None:  # its own process group: docker and the compose plugin it runs
                os.killpg(up.pid, signal.SIGTERM)
            up.wait(timeout=60)
            errf.seek(0)
            up_err = "" if up.returncode == 0 else env.redact(errf.read().strip())[-400:]
        for service in sorted({c.service for c in containers}):
            mine = [c for c in containers if c.service == service]
            elapsed = decided.get(service, time.monotonic() - started)
            bad = [c for c in mine if not outcome[c.key][0]]
            notes = []
            if not bad:
                for c in mine:
                    url = READINESS.get((c.service, c.container))
                    if url:
                        ok, said = _probe(env, container_name(project, c.key), url)
                        notes.append(f"readiness {'ok' if ok else 'FAILED: ' + said}")
                        if not ok:
                            bad.append(c)
            if bad:
                c = bad[0]
                why = outcome[c.key][1] if not outcome[c.key][0] else f"{c.container}: {notes[-1]}"
                detail = f"{service} did not start against the restored data: {why}"
                if up_err:
                    detail += f"; compose: {up_err}"
                detail += f"; last log lines: {_logs(env, container_name(project, c.key))}"
                results.append(ItemResult(f"{service}.app", service, "FAILED", detail, DrillError.__name__))
            else:
                states = ", ".join(outcome[c.key][1] for c in mine)
                detail = f"{service} started: {states}{'; ' + '; '.join(notes) if notes else ''} in {elapsed:.0f}s"
                if any(c.standin for c in mine):
                    detail += f" ({STANDIN_NOTE})"
                results.append(ItemResult(f"{service}.app", service, "ok", detail))
            say(f"drill: {service}.app: {results[-1].status}")
    finally:
        down = subprocess.run([*compose, "down", "-v", "--remove-orphans", "-t", "5"], input=text,
                              capture_output=True, text=True, timeout=600)
        if down.returncode != 0:
            results.append(ItemResult("drill.apps", "drill", "FAILED",
                                      f"tearing down {project}: {env.redact(down.stderr.strip())[-300:]}",
                                      DrillError.__name__))
        say(f"drill: apps project {project} torn down ({time.monotonic() - started:.0f}s after start)")
    return results
