"""Restore snapshots into an environment's running stack, on the hosts that hold its data.

Started from anywhere: restic runs ON each host against the repository (:class:`.site.Repo`:
the password in a 0600 file written from stdin), and dumps stream from restic into the
store containers there without leaving the host. Per host, all services together (see
:func:`restore_services`): stop the apps' containers (never the data-store servers), then
per service restore each database into the server that holds it -- PostgreSQL with the
archive replacing everything in the app's own database (emptied, then loaded: one transaction), MariaDB by
recreating only the app's own database (the dump staged in a 0700 dir on the host and
checked complete first, the old contents put back on failure), Redis by replacing the
server's data with the RDB as the base of a new AOF (see :func:`restore_redis`) -- restore
each volume (emptied first, then checked file by file against the checksum manifest saved
with the snapshot), start the containers again (always, also after a failure) and wait
until they are healthy. Progress: one line per item (``say``).

The source of the snapshots may be another environment's repository (the staging
rehearsal: ``zixly restore staging --from production``), read with ``--no-lock``; items are
matched by name (``n8n.db.n8n``) and preferably by host, targets come from the
*destination*'s plan.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..commands import db, hostfs
from ..commands import docker as dk
from ..commands import restic as rc
from ..progress import reporter
from ..render.backup.faults import BackupError, ContainerDownError
from ..render.backup.plan import Item, ServicePlan
from ..render.backup.repo import host_tag
from ..runner import LocalRunner, PipeResult
from ..runner import pipe as host_pipe
from ..safepath import posix_inside
from .local import Env
from .site import Repo, Site
from .snapshots import Snapshot, select

Say = Callable[[str], None]
DUMP_COMPLETED = db.DUMP_COMPLETED


@dataclass
class ServiceOutcome:
    """What a restore did for one service."""

    service: str
    items: list[str] = field(default_factory=list)
    files_checked: int = 0
    healthy: bool = False
    error: str = ""
    host: str = ""
    seconds: float = 0.0
    oldest: dt.datetime | None = None  # the time of the oldest snapshot restored (the RPO)


def app_containers(site: Site, sp: ServicePlan, keep: Sequence[str]) -> list[str]:
    """The long-running containers of the service's Compose project -- also those that are down (a
    restore after a failure must bring them back) but not one-shot jobs (``restart: no``, e.g. a
    migrator that exited) -- except the data-store servers in *keep*."""
    res = site.try_run(dk.project_containers(sp.project), timeout=120, read=True)
    names = sorted(n for n in res.out.split() if n not in keep)
    states = site.states(names)
    return [n for n in names if states.get(n, ("", "", ""))[2] != "no"]


def wait_healthy(site: Site, names: Sequence[str], timeout: float = 300) -> list[str]:
    """Wait until every container is running and (if it has a healthcheck) healthy; return the ones that are not."""
    if not site.runner.executes:
        return []
    deadline = time.monotonic() + timeout
    bad = list(names)
    while bad and time.monotonic() < deadline:
        states = site.states(bad)
        bad = [n for n in bad if states.get(n, ("missing", "", ""))[0] != "running"
               or states[n][1] not in ("", "healthy")]
        if bad:
            time.sleep(1)
    return bad


def restore_db(repo: Repo, site: Site, snap: Snapshot, item: Item) -> None:
    """Load a dump into *item*'s server: only the item's own database is touched."""
    state = site.state(item.container)
    if state != "running":
        raise ContainerDownError(f"{item.name}: database server {item.container} is {state} on {site.label}")
    path = snap.source or "/" + item.filename
    if item.engine == "postgres":  # one transaction: a failure leaves the database as it was
        repo.pipe(rc.dump(snap.id, path), dk.exec_in(item.container, db.pg_restore_clean(item.database), stdin=True),
                  what=f"{item.name}: restore into {item.container}")
    else:
        restore_mariadb(repo, site, snap, item, path)


def restore_mariadb(repo: Repo, site: Site, snap: Snapshot, item: Item, path: str) -> None:
    """MariaDB has no transactional DDL, so the restore is made safe around it: the snapshot's dump is
    staged on the host (0700 temp dir) and must end with mariadb-dump's completion line before
    anything is touched; the database's current contents are dumped first; if loading the snapshot
    fails, those contents are loaded back, and if even that fails the copy is kept and named."""
    tmp = site.temp_dir(prefix="zixly-restore-")
    keep = False
    try:
        staged, previous = posixpath.join(tmp, "snapshot.sql"), posixpath.join(tmp, "previous.sql")
        repo.pipe(rc.dump(snap.id, path), hostfs.write_private(staged), what=f"{item.name}: read the dump")
        end = site.run(hostfs.tail(staged, 256), what=f"{item.name}: reading the dump's end", read=True).stdout
        if site.runner.executes and DUMP_COMPLETED not in end:
            raise BackupError(f"{item.name}: the dump in snapshot {snap.short_id} is incomplete (no "
                              f"'-- Dump completed' line at its end); nothing was changed")
        cur = host_pipe(site.runner, dk.exec_in(item.container, db.mariadb_dump(item.database)),
                        hostfs.write_private(previous), read=True)
        err = cur.producer.err
        if not cur.ok and "Unknown database" not in err:
            raise BackupError(f"{item.name}: cannot save the current contents first: "
                              f"{site.redact((err or cur.consumer.err).strip())[-300:]}; nothing was changed")
        had_data = cur.ok
        res = _load_mariadb(site, item, staged)
        if res.ok:
            return
        why = site.redact((res.consumer.err or res.producer.err).strip())[-300:]
        if not had_data:
            raise BackupError(f"{item.name}: restore into {item.container} failed: {why}")
        back = _load_mariadb(site, item, previous)
        if back.ok:
            raise BackupError(f"{item.name}: restore into {item.container} failed: {why}; the database's previous "
                              "contents were put back")
        keep = True
        raise BackupError(f"{item.name}: restore into {item.container} failed: {why}; putting the previous contents "
                          f"back ALSO failed -- they are kept in {previous} on {site.label} (mode 0600)")
    finally:
        if not keep:
            site.remove(tmp)


def _load_mariadb(site: Site, item: Item, dump: str) -> PipeResult:
    return host_pipe(site.runner, hostfs.read(dump),
                     dk.exec_in(item.container, db.mariadb_recreate_load(item.database), stdin=True))


# Redis 7 multi-part AOF (appendonly yes, default appendfilename/appenddirname): with AOF on,
# Redis never reads dump.rdb and, finding no AOF, starts EMPTY (checked on the 7.0 image). So
# the RDB becomes the AOF's base file with an empty incremental file; Redis loads it and
# appends to it, and its next rewrite folds both into a new base.
AOF_DIR = "appendonlydir"
AOF_BASE = "appendonly.aof.1.base.rdb"
AOF_INCR = "appendonly.aof.1.incr.aof"
AOF_MANIFEST_FILE = "appendonly.aof.manifest"
AOF_MANIFEST = f"file {AOF_BASE} seq 1 type b\nfile {AOF_INCR} seq 1 type i\n"


def install_rdb_argv(rdb: str, target: str) -> list[str]:
    """Replace a stopped Redis server's data dir *target* with *rdb* as the AOF base (every entry of
    *target* removed: old AOF, dump.rdb; the new files get the owner of *target* itself)."""
    return hostfs.install_rdb(rdb, target, AOF_DIR, AOF_BASE, AOF_INCR, AOF_MANIFEST_FILE, AOF_MANIFEST)


def restore_redis(repo: Repo, site: Site, snap: Snapshot, item: Item) -> None:
    """Load *item*'s RDB into its Redis server: stop it, replace its data, start it, wait healthy.

    The snapshot is read (and checked to be an RDB) before the server is touched. Only this
    one server is restarted; other stores and the apps' containers are left alone (clients
    reconnect). The server is started again also when replacing the data failed.
    """
    path = snap.source or "/" + item.filename
    target = site.mountpoint(item.volume)
    tmp = site.temp_dir(posixpath.dirname(target), ".zixly-restore-")  # same file system: a rename
    try:
        rdb = posixpath.join(tmp, "dump.rdb")
        repo.pipe(rc.dump(snap.id, path), hostfs.write_private(rdb), what=f"{item.name}: restic dump")
        head = site.run(hostfs.head(rdb, 5), what=f"{item.name}: reading the RDB", read=True).stdout
        if site.runner.executes and head != b"REDIS":
            raise BackupError(f"{item.name}: snapshot {snap.short_id} is not a Redis RDB; nothing was changed")
        site.run(dk.stop([item.container]), what=f"{item.name}: stopping {item.container}", timeout=600)
        try:
            site.run(install_rdb_argv(rdb, target), what=f"{item.name}: installing the RDB")
        finally:
            site.try_run(dk.start(item.container), timeout=600)
    finally:
        site.remove(tmp)
    if wait_healthy(site, [item.container]):
        raise BackupError(f"{item.name}: {item.container} is not healthy after loading the RDB "
                          f"(docker logs {item.container} on {site.label})")


def read_manifest(repo: Repo, snap: Snapshot) -> dict[str, str]:
    """The checksum manifest saved with a volume snapshot: path (relative to the volume) -> sha256."""
    source, manifest = snap.source, snap.manifest
    if manifest is None:
        return {}
    text = repo.dump(snap, manifest, what=f"{snap.item}: manifest").decode()
    out = {}
    for line in text.splitlines():
        digest, _, path = line.partition("  ")
        out[posixpath.relpath(path, source)] = digest
    return out


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every regular file under *root* on this machine (relative paths)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if p.is_file() and not p.is_symlink():
                h = hashlib.sha256()
                with open(p, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                out[str(p.relative_to(root))] = h.hexdigest()
    return out


def compare(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Differences between two checksum maps, as readable lines (empty when equal)."""
    out = [f"missing {p}" for p in sorted(set(expected) - set(actual))]
    out += [f"unexpected {p}" for p in sorted(set(actual) - set(expected))]
    out += [f"changed {p}" for p in sorted(set(expected) & set(actual)) if expected[p] != actual[p]]
    return out


def restore_tree(repo: Repo, site: Site, snap: Snapshot, target: str) -> int:
    """Replace *target*'s contents on the host with the snapshot's directory; check every file; return the count."""
    source = snap.source
    scratch = site.temp_dir(posixpath.dirname(target), ".zixly-restore-")  # same file system: renames
    try:
        restored = posix_inside(scratch, source.lstrip("/"))  # a snapshot's path cannot lead out of the scratch dir
        repo.run(rc.restore(snap.id, scratch, source), what=f"{snap.item}: restore", read=False)
        site.run(hostfs.mkdirs(restored, "0755"), what=f"{snap.item}: restored tree", read=True)
        site.run(hostfs.empty_dir(target), what=f"{snap.item}: emptying {target}")
        site.run(hostfs.move_contents(restored, target), what=f"{snap.item}: moving the restored files")
    finally:
        site.remove(scratch)
    expected = read_manifest(repo, snap)
    if not site.runner.executes:
        return len(expected)
    diff = compare(expected, site.checksums(target))
    if diff:
        raise BackupError(f"{snap.item}: restored files differ from the backup: {'; '.join(diff[:8])}")
    return len(expected)


def _restore_items(repo: Repo, site: Site, sp: ServicePlan, chosen: Mapping[str, Snapshot], say: Say,
                   counter: list[int]) -> ServiceOutcome:
    """Restore the data of one service whose app containers are already stopped."""
    outcome = ServiceOutcome(sp.service, host=site.host)
    started = time.monotonic()
    try:
        for item in (i for i in sp.items if i.name in chosen):
            snap = chosen[item.name]
            counter[0] += 1
            begun = time.monotonic()
            say(f"{site.label}: [{counter[0]}/{counter[1]}] {item.name} from snapshot {snap.short_id} "
                f"({snap.time:%Y-%m-%d %H:%M:%S} UTC) ...")
            with reporter().task(f"restore {sp.service}: {item.name} on {site.label}", stage=item.engine or "files"):
                if item.engine in ("postgres", "mariadb"):
                    restore_db(repo, site, snap, item)
                    what = "loaded"
                elif item.engine == "redis":
                    restore_redis(repo, site, snap, item)
                    what = "RDB installed as the AOF base, server healthy"
                else:
                    files = restore_tree(repo, site, snap, site.mountpoint(item.volume))
                    outcome.files_checked += files
                    what = f"{files} file(s) checked against the manifest"
            outcome.items.append(f"{item.name}@{snap.short_id}")
            outcome.oldest = min(outcome.oldest or snap.time, snap.time)
            say(f"{site.label}: [{counter[0]}/{counter[1]}] {item.name}: {what} in {time.monotonic() - begun:.1f}s")
    except BackupError as exc:
        outcome.error = str(exc)
        say(f"{site.label}: {sp.service}: FAILED: {exc}")
    outcome.seconds = time.monotonic() - started
    return outcome


def restore_data(repo: Repo, site: Site, sp: ServicePlan, chosen: Mapping[str, Snapshot],
                 say: Say) -> ServiceOutcome:
    """Restore the items of *sp* found in *chosen* -- nothing stopped or started here: the caller has
    stopped what must not see the data change (an upgrade's rollback, :mod:`zixly_stack.upgrade.guard`)."""
    return _restore_items(repo, site, sp, chosen, say, [0, sum(1 for i in sp.items if i.name in chosen)])


def restore_services(repo: Repo, site: Site, plans: Sequence[ServicePlan], chosen: Mapping[str, Snapshot],
                     say: Say) -> list[ServiceOutcome]:
    """Restore *plans* together on *site*: every data-store server they need must run (else nothing is
    changed); all their app containers are stopped at once -- no app sees another service's data
    half-restored, and the stop grace periods run concurrently -- the data restored service by
    service, then every container started again (always, also after a failure) and awaited."""
    servers = sorted({i.container for sp in plans for i in sp.items if i.name in chosen and i.container})
    states = site.states(servers)
    down = [c for c in servers if states.get(c, ("missing",))[0] != "running"]
    if down:
        raise ContainerDownError(f"database server {', '.join(down)} is not running on {site.label}; "
                                 "nothing was changed")
    apps = {sp.service: app_containers(site, sp, servers) for sp in plans}
    everything = sorted({c for names in apps.values() for c in names})
    if everything:  # one call: the engine stops them concurrently
        site.try_run(dk.stop(everything), timeout=900)
    say(f"{site.label}: stopped {len(everything)} app container(s) of {', '.join(sp.service for sp in plans)}")
    outcomes: list[ServiceOutcome] = []
    counter = [0, sum(1 for sp in plans for i in sp.items if i.name in chosen)]
    try:
        for sp in plans:
            outcomes.append(_restore_items(repo, site, sp, chosen, say, counter))
    finally:
        for name in everything:  # one by one: a container that cannot start must not keep the others down
            site.try_run(dk.start(name), timeout=600)
    if everything:
        say(f"{site.label}: started {len(everything)} app container(s); waiting until they are healthy")
    bad = set(wait_healthy(site, everything))
    for o in outcomes:
        sick = sorted(set(apps[o.service]) & bad)
        o.healthy = not sick
        if sick and not o.error:
            o.error = f"not healthy after the restore: {', '.join(sick)}"
    return outcomes


def for_host(snaps: Sequence[Snapshot], tag: str) -> list[Snapshot]:
    """The snapshots a host restores: of each item, those its own host tag wrote when there are
    any (an environment whose hosts both run the edge has two ``traefik.files.acme``), else all."""
    mine = {s.item for s in snaps if s.host == tag}
    return [s for s in snaps if s.item not in mine or s.host == tag]


def snapshots(env: Env, site: Site | None = None) -> list[Snapshot]:
    """Every snapshot of *env* in its repository, read on *site* (default: this machine), oldest first."""
    with Repo(site or Site("this machine", LocalRunner(), env.redact), env) as repo:
        return repo.snapshots()


def restore(src: Env, dst: Env, ref: str, services: Sequence[str], say: Say,
            sites: Mapping[str, Site]) -> list[ServiceOutcome]:
    """Restore *services* (default: every service with a snapshot) of *dst* from *src*'s snapshot *ref*,
    host by host on *sites* (each host restores the items of its own plan)."""
    plans = {h: dst.plan(h) for h in sites}
    known = {sp.service for p in plans.values() for sp in p.services}
    unknown = [s for s in services if s not in known]
    if unknown:
        raise BackupError(f"nothing to restore for {', '.join(unknown)} (services with a backup spec: "
                          f"{', '.join(sorted(known))})")
    outcomes: list[ServiceOutcome] = []
    for host, site in sites.items():
        wanted = [sp for sp in plans[host].services if not services or sp.service in services]
        if not wanted:
            continue
        with Repo(site, src, read_only=src.name != dst.name) as repo:
            snaps = repo.snapshots()
            chosen = select(for_host(snaps, host_tag(src.name, host)), ref)
            if not chosen:
                raise BackupError(f"no snapshot {ref!r} of {src.name} in {src.repository}" if snaps else
                                  f"no snapshots of {src.name} in {src.repository} yet (run `zixly backup {src.name}`)")
            todo = [sp for sp in wanted if any(i.name in chosen for i in sp.items)]
            if todo:
                say(f"{host}: restoring {', '.join(sp.service for sp in todo)} of {dst.name} from {src.name}'s "
                    f"snapshot {ref}")
                outcomes += restore_services(repo, site, todo, chosen, say)
    return outcomes


def outcome_json(outcomes: Sequence[ServiceOutcome]) -> str:
    """The restore report as JSON."""
    return json.dumps([{**o.__dict__, "oldest": o.oldest.isoformat() if o.oldest else None} for o in outcomes],
                      indent=2)
