"""Restore snapshots into an environment's running stack on this machine.

All services together (see :func:`restore_services`): stop the apps' containers (never the
data-store servers), then per service restore
each database into the server that holds it -- PostgreSQL with ``pg_restore --clean
--if-exists`` into the app's own database (one transaction), MariaDB by recreating only the
app's own database (the dump checked complete first, the old contents put back on failure),
Redis by replacing the server's data with the RDB (see :func:`restore_redis`) -- restore each
volume (emptied first, then checked file by file against the checksum manifest saved with the
snapshot), start the containers again (always, also after
a failure) and wait until they are healthy.

The source of the snapshots may be another environment's repository (the staging
rehearsal: ``zixly restore staging --from production``); items are matched by name
(``n8n.db.n8n``), targets come from the *destination*'s plan.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..progress import reporter, watching
from ..safepath import inside
from .faults import BackupError, ContainerDownError, raise_for
from .local import Env
from .plan import Item, ServicePlan
from .snapshots import Snapshot, parse, select

Say = Callable[[str], None]

_MARIADB_RECREATE = (
    'MYSQL_PWD=$(cat "$MARIADB_ROOT_PASSWORD_FILE"); export MYSQL_PWD; '
    'mariadb -uroot -e "DROP DATABASE IF EXISTS \\`$1\\`; '
    'CREATE DATABASE \\`$1\\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" && exec mariadb -uroot "$1"'
)


@dataclass
class ServiceOutcome:
    """What a restore did for one service."""

    service: str
    items: list[str] = field(default_factory=list)
    files_checked: int = 0
    healthy: bool = False
    error: str = ""


def snapshots(env: Env) -> list[Snapshot]:
    """Every snapshot of *env*'s environment in its repository, oldest first."""
    res = env.restic(["snapshots", "--json", "--tag", f"env:{env.name}"], what="restic snapshots")
    return parse(res.stdout.decode())


def pipe(env: Env, restic_args: Sequence[str], consumer: Sequence[str], what: str, timeout: float = 3600) -> str:
    """``restic ARGS | CONSUMER``; raises the classified error of whichever side failed."""
    with env.restic_env() as renv:
        producer = subprocess.Popen(["restic", *restic_args], env=renv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert producer.stdout is not None
        try:
            with watching(producer.pid, f"restic {restic_args[0]} | {Path(consumer[0]).name}"):
                cons = subprocess.run(list(consumer), stdin=producer.stdout, capture_output=True, timeout=timeout)
        finally:
            producer.stdout.close()
            perr = producer.stderr.read().decode(errors="replace") if producer.stderr else ""
            producer.wait(timeout=60)
    if producer.returncode != 0:
        raise_for(what, env.redact(perr))
    if cons.returncode != 0:
        out = env.redact((cons.stderr + cons.stdout).decode(errors="replace"))
        raise BackupError(f"{what}: {' '.join(out.strip().splitlines()[-4:])[-600:]}")
    return cons.stdout.decode(errors="replace")


def docker(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``docker ARGS`` (argv, never a shell)."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def state(container: str) -> str:
    """A container's status (``running``, ``exited``...), ``missing`` when there is none."""
    res = docker("inspect", "--format", "{{.State.Status}}", container)
    return res.stdout.strip() if res.returncode == 0 else "missing"


def app_containers(sp: ServicePlan, keep: Sequence[str]) -> list[str]:
    """The long-running containers of the service's Compose project -- also those that are down (a
    restore after a failure must bring them back) but not one-shot jobs (``restart: no``, e.g. a
    migrator that exited) -- except the data-store servers in *keep*."""
    res = docker("ps", "-a", "--format", "{{.Names}}", "--filter", f"label=com.docker.compose.project={sp.project}")
    names = sorted(n for n in res.stdout.split() if n not in keep)
    if not names:
        return []
    policies = docker("inspect", "--format", "{{.Name}} {{.HostConfig.RestartPolicy.Name}}", *names)
    jobs = {line.split()[0].lstrip("/") for line in policies.stdout.splitlines() if line.split()[1:] == ["no"]}
    return [n for n in names if n not in jobs]


def wait_healthy(names: Sequence[str], timeout: float = 300) -> list[str]:
    """Wait until every container is running and (if it has a healthcheck) healthy; return the ones that are not."""
    deadline = time.monotonic() + timeout
    bad = list(names)
    while bad and time.monotonic() < deadline:
        still = []
        for n in bad:
            fmt = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
            res = docker("inspect", "--format", fmt, n)
            parts = res.stdout.split()
            if not parts or parts[0] != "running" or (len(parts) > 1 and parts[1] != "healthy"):
                still.append(n)
        bad = still
        if bad:
            time.sleep(1)
    return bad


def restore_db(src: Env, snap: Snapshot, item: Item) -> None:
    """Load a dump into *item*'s server: only the item's own database is touched."""
    if state(item.container) != "running":
        raise ContainerDownError(f"{item.name}: database server {item.container} is {state(item.container)}")
    path = snap.source or "/" + item.filename
    if item.engine == "postgres":  # one transaction: a failure leaves the database as it was
        consumer = ["docker", "exec", "-i", item.container, "pg_restore", "-U", "postgres", "--clean", "--if-exists",
                    "--exit-on-error", "--single-transaction", "-d", item.database]
        pipe(src, ["dump", snap.id, path], consumer, f"{item.name}: restore into {item.container}")
    else:
        restore_mariadb(src, snap, item, path)


_MARIADB_DUMP_CURRENT = (
    'MYSQL_PWD=$(cat "$MARIADB_ROOT_PASSWORD_FILE") exec mariadb-dump -uroot --single-transaction --quick '
    '--skip-extended-insert --routines --triggers --hex-blob "$1"'
)
DUMP_COMPLETED = b"-- Dump completed"  # mariadb-dump's last line, with or without the date


def _load_mariadb(item: Item, dump: Path) -> subprocess.CompletedProcess[bytes]:
    with open(dump, "rb") as fh:
        return subprocess.run(["docker", "exec", "-i", item.container, "sh", "-c", _MARIADB_RECREATE, "sh",
                               item.database], stdin=fh, capture_output=True, timeout=3600)


def restore_mariadb(src: Env, snap: Snapshot, item: Item, path: str) -> None:
    """MariaDB has no transactional DDL, so the restore is made safe around it: the snapshot's dump is
    staged on this machine (0700 temp dir) and must end with mariadb-dump's completion line before
    anything is touched; the database's current contents are dumped first; if loading the snapshot
    fails, those contents are loaded back, and if even that fails the copy is kept and named."""
    tmp = Path(tempfile.mkdtemp(prefix="zixly-restore-"))
    os.chmod(tmp, 0o700)
    keep = False
    try:
        staged, previous = tmp / "snapshot.sql", tmp / "previous.sql"
        pipe(src, ["dump", snap.id, path], ["dd", f"of={staged}", "bs=1M", "status=none"],
             f"{item.name}: read the dump")
        with open(staged, "rb") as fh:
            fh.seek(max(0, staged.stat().st_size - 256))
            if DUMP_COMPLETED not in fh.read():
                raise BackupError(f"{item.name}: the dump in snapshot {snap.short_id} is incomplete (no "
                                  f"'-- Dump completed' line at its end); nothing was changed")
        with open(previous, "wb") as fh:
            cur = subprocess.run(["docker", "exec", item.container, "sh", "-c", _MARIADB_DUMP_CURRENT, "sh",
                                  item.database], stdout=fh, stderr=subprocess.PIPE, timeout=3600)
        err = cur.stderr.decode(errors="replace")
        if cur.returncode != 0 and "Unknown database" not in err:
            raise BackupError(f"{item.name}: cannot save the current contents first: {src.redact(err.strip())[-300:]}"
                              "; nothing was changed")
        had_data = cur.returncode == 0
        res = _load_mariadb(item, staged)
        if res.returncode == 0:
            return
        why = src.redact(res.stderr.decode(errors="replace").strip())[-300:]
        if not had_data:
            raise BackupError(f"{item.name}: restore into {item.container} failed: {why}")
        back = _load_mariadb(item, previous)
        if back.returncode == 0:
            raise BackupError(f"{item.name}: restore into {item.container} failed: {why}; the database's previous "
                              "contents were put back")
        keep = True
        raise BackupError(f"{item.name}: restore into {item.container} failed: {why}; putting the previous contents "
                          f"back ALSO failed -- they are kept in {previous} (mode 0600)")
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


# Redis 7 multi-part AOF (appendonly yes, default appendfilename/appenddirname): with AOF on,
# Redis never reads dump.rdb and, finding no AOF, starts EMPTY (checked on the 7.0 image). So
# the RDB becomes the AOF's base file with an empty incremental file; Redis loads it and
# appends to it, and its next rewrite folds both into a new base.
AOF_DIR = "appendonlydir"
AOF_BASE = "appendonly.aof.1.base.rdb"
AOF_INCR = "appendonly.aof.1.incr.aof"
AOF_MANIFEST_FILE = "appendonly.aof.manifest"
AOF_MANIFEST = f"file {AOF_BASE} seq 1 type b\nfile {AOF_INCR} seq 1 type i\n"


def install_rdb(rdb: Path, target: Path) -> None:
    """Replace a stopped Redis server's data dir *target* with *rdb* as the AOF base.

    Every entry of *target* is removed (old AOF, dump.rdb); the new files get the owner of
    *target* itself (the image's ``redis`` user, whatever its uid).
    """
    st = target.stat()
    for entry in list(target.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    aof = target / AOF_DIR
    aof.mkdir(mode=0o755)
    os.rename(rdb, aof / AOF_BASE)
    (aof / AOF_INCR).write_bytes(b"")
    (aof / AOF_MANIFEST_FILE).write_text(AOF_MANIFEST)
    for p in (aof, *aof.iterdir()):
        os.chown(p, st.st_uid, st.st_gid)
        p.chmod(0o755 if p.is_dir() else 0o644)


def restore_redis(src: Env, snap: Snapshot, item: Item) -> None:
    """Load *item*'s RDB into its Redis server: stop it, replace its data, start it, wait healthy.

    The snapshot is read (and checked to be an RDB) before the server is touched. Only this
    one server is restarted; other stores and the apps' containers are left alone (clients
    reconnect). The server is started again also when replacing the data failed.
    """
    path = snap.source or "/" + item.filename
    target = mountpoint(item.volume)
    rdb = target.parent / f".zixly-restore-{os.getpid()}.rdb"
    try:
        with open(rdb, "wb") as fh, src.restic_env() as renv:
            res = subprocess.run(["restic", "dump", snap.id, path], env=renv, stdout=fh, stderr=subprocess.PIPE,
                                 timeout=3600)
        if res.returncode != 0:
            raise_for(f"{item.name}: restic dump", src.redact(res.stderr.decode(errors="replace")))
        with open(rdb, "rb") as fh:
            if fh.read(5) != b"REDIS":
                raise BackupError(f"{item.name}: snapshot {snap.short_id} is not a Redis RDB; nothing was changed")
        stop = docker("stop", item.container, timeout=600)
        if stop.returncode != 0:
            raise BackupError(f"{item.name}: cannot stop {item.container}: {stop.stderr.strip()}")
        try:
            install_rdb(rdb, target)
        finally:
            docker("start", item.container, timeout=600)
    finally:
        rdb.unlink(missing_ok=True)
    if wait_healthy([item.container]):
        raise BackupError(f"{item.name}: {item.container} is not healthy after loading the RDB "
                          f"(docker logs {item.container})")


def mountpoint(volume: str) -> Path:
    """The host directory of a Docker volume."""
    res = docker("volume", "inspect", "--format", "{{.Mountpoint}}", volume)
    if res.returncode != 0:
        raise BackupError(f"volume {volume} does not exist: {res.stderr.strip()}")
    return Path(res.stdout.strip())


def read_manifest(src: Env, snap: Snapshot) -> dict[str, str]:
    """The checksum manifest saved with a volume snapshot: path (relative to the volume) -> sha256."""
    source, manifest = snap.source, snap.manifest
    if manifest is None:
        return {}
    text = src.restic(["dump", snap.id, manifest], what=f"{snap.item}: manifest").stdout.decode()
    out = {}
    for line in text.splitlines():
        digest, _, path = line.partition("  ")
        out[os.path.relpath(path, source)] = digest
    return out


def checksums(root: Path) -> dict[str, str]:
    """sha256 of every regular file under *root* (relative paths)."""
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


def restore_tree(src: Env, snap: Snapshot, target: Path) -> int:
    """Replace *target*'s contents with the snapshot's directory; check every file; return the file count."""
    source = snap.source
    scratch = target.parent / f".zixly-restore-{os.getpid()}"
    inside(scratch, source.lstrip("/"))  # a snapshot's path cannot lead out of the scratch dir
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        src.restic(["restore", snap.id, "--target", str(scratch), "--include", source], what=f"{snap.item}: restore")
        restored = inside(scratch, source.lstrip("/"))
        restored.mkdir(parents=True, exist_ok=True)
        for entry in list(target.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        for entry in list(restored.iterdir()):
            os.rename(entry, target / entry.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    expected = read_manifest(src, snap)
    diff = compare(expected, checksums(target))
    if diff:
        raise BackupError(f"{snap.item}: restored files differ from the backup: {'; '.join(diff[:8])}")
    return len(expected)


def _restore_items(src: Env, sp: ServicePlan, chosen: dict[str, Snapshot], say: Say) -> ServiceOutcome:
    """Restore the data of one service whose app containers are already stopped."""
    outcome = ServiceOutcome(sp.service)
    try:
        for item in (i for i in sp.items if i.name in chosen):
            snap = chosen[item.name]
            with reporter().task(f"restore {sp.service}: {item.name}", stage=item.engine or "files"):
                if item.engine in ("postgres", "mariadb"):
                    restore_db(src, snap, item)
                elif item.engine == "redis":
                    restore_redis(src, snap, item)
                else:
                    outcome.files_checked += restore_tree(src, snap, mountpoint(item.volume))
            outcome.items.append(f"{item.name}@{snap.short_id}")
            say(f"{sp.service}: restored {item.name} from snapshot {snap.short_id} ({snap.time:%Y-%m-%d %H:%M:%S} UTC)")
    except BackupError as exc:
        outcome.error = str(exc)
    return outcome


def restore_services(src: Env, plans: Sequence[ServicePlan], chosen: dict[str, Snapshot],
                     say: Say) -> list[ServiceOutcome]:
    """Restore *plans* together: every data-store server they need must run (else nothing is
    changed); all their app containers are stopped at once -- no app sees another service's data
    half-restored, and the stop grace periods run concurrently -- the data restored service by
    service, then every container started again (always, also after a failure) and awaited."""
    servers = sorted({i.container for sp in plans for i in sp.items if i.name in chosen and i.container})
    down = [c for c in servers if state(c) != "running"]
    if down:
        raise ContainerDownError(f"database server {', '.join(down)} is not running; nothing was changed")
    apps = {sp.service: app_containers(sp, servers) for sp in plans}
    everything = sorted({c for names in apps.values() for c in names})
    if everything:  # one call: the engine stops them concurrently
        docker("stop", *everything, timeout=900)
    say(f"stopped {len(everything)} app container(s) of {', '.join(sp.service for sp in plans)}")
    outcomes: list[ServiceOutcome] = []
    try:
        for sp in plans:
            outcomes.append(_restore_items(src, sp, chosen, say))
    finally:
        for name in everything:  # one by one: a container that cannot start must not keep the others down
            docker("start", name, timeout=600)
    bad = set(wait_healthy(everything))
    for o in outcomes:
        sick = sorted(set(apps[o.service]) & bad)
        o.healthy = not sick
        if sick and not o.error:
            o.error = f"not healthy after the restore: {', '.join(sick)}"
    return outcomes


def restore(src: Env, dst: Env, ref: str, services: Sequence[str], say: Say) -> list[ServiceOutcome]:
    """Restore *services* (default: every service with a snapshot) of *dst* from *src*'s snapshot *ref*."""
    snaps = snapshots(src)
    chosen = select(snaps, ref)
    if not chosen:
        raise BackupError(f"no snapshot {ref!r} of {src.name} in {src.repository}" if snaps else
                          f"no snapshots of {src.name} in {src.repository} yet (run `zixly backup {src.name}`)")
    plan = dst.plan()
    known = {sp.service for sp in plan.services}
    unknown = [s for s in services if s not in known]
    if unknown:
        raise BackupError(f"nothing to restore for {', '.join(unknown)} (services with a backup spec: "
                          f"{', '.join(sorted(known))})")
    todo = [sp for sp in plan.services if (not services or sp.service in services)
            and any(i.name in chosen for i in sp.items)]
    return restore_services(src, todo, chosen, say)


def outcome_json(outcomes: Sequence[ServiceOutcome]) -> str:
    """The restore report as JSON."""
    return json.dumps([o.__dict__ for o in outcomes], indent=2)
