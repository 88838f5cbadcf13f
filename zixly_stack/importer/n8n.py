"""``zixly import n8n``: bring an n8n + PostgreSQL Compose install under an environment's management.

Contract
--------
1. Read (only) the source over SSH: its Compose project, ``docker inspect`` of its containers, its
   compose file, the encryption key (environment, ``_FILE`` or ``/home/node/.n8n/config``), the n8n data
   its database holds, and the sizes. Map its settings onto the catalog's n8n (:mod:`.mapping`).
2. Read the target: the environment's PostgreSQL store on the host n8n is placed on must run
   (``zixly deploy ENV`` first), and what n8n data its database holds.
3. Decide, before anything changes:
   * the key: the store holds none -> stored; the same -> unchanged; another one -> refused unless
     ``--replace``, except when the target's n8n holds no data at all (no workflow, credential or
     execution: the key the environment generated at its first deploy encrypts nothing yet);
   * the data: the target holds none -> loaded; it holds the source's already (``covers``) ->
     unchanged; other data -> refused unless ``--replace``.
   Every refusal is reported at once (:class:`~.source.ImportRefused`, exit 4); nothing changed.
4. ``dry_run`` stops here and reports the plan. Otherwise: the target's n8n containers are stopped,
   the database and the data directory streamed across (:mod:`.data`), the result verified
   (workflows, credentials and executions counted equal), and only then the key saved in the store
   as a never-rotate value. When the key changed, n8n stays stopped until ``zixly deploy ENV``
   renders it; otherwise -- and after any failure, when its old data and key still match -- the
   stopped containers are started again.
A second run over the same data changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ..commands import docker as dk
from ..commands import hostfs
from ..commands import importer as ic
from ..errors import SecretsError
from ..project import Loaded, load, render, throwaway_secrets
from ..render.backup.plan import ServicePlan, plan_backup
from ..render.context import required_secrets
from ..runner.connect import open_session, runner_for
from ..secrets.store import SecretStore
from ..secrets.value import Secret, redact
from .data import Fingerprint, Server, load_database, load_files
from .mapping import Row, Target, map_n8n, pick, refusals
from .source import N8N_DATA, ImportRefused, SourceInstall, discover, encryption_key, parse_from

Say = Callable[[str], None]
KEY = "n8n.encryption_key"


@dataclass
class Options:
    """What the command line asked for."""

    root: Path
    env: str
    source: str  # ssh://user@host[:port]
    project: str | None = None
    compose: str | None = None
    ssh_key: str | None = None
    dry_run: bool = False
    replace: bool = False


@dataclass
class Report:
    """What an import found and did (``--json`` prints :meth:`to_json`)."""

    source: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    key: str = ""  # stored | unchanged | replaced | refused
    data: str = ""  # loaded | unchanged | replaced | refused
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def refused(self) -> bool:
        """True when the import is (or, in a dry run, would be) refused."""
        return "refused" in (self.key, self.data)

    @property
    def changed(self) -> bool:
        """True when the run changed something (never in a dry run)."""
        return not self.dry_run and (self.key in ("stored", "replaced") or self.data in ("loaded", "replaced"))

    def to_json(self) -> dict[str, Any]:
        """The report as plain data (no secret in it)."""
        return {"source": self.source, "target": self.target, "mapping": [r.to_json() for r in self.rows],
                "sizes": self.sizes, "key": self.key, "data": self.data, "counts": self.counts,
                "notes": self.notes, "dry_run": self.dry_run, "changed": self.changed, "refused": self.refused}


def catalog_env(loaded: Loaded, host: str) -> dict[str, str]:
    """Our n8n container's environment as the environment renders it (secret values are throwaway ones)."""
    files = {f.path: f for f in render(loaded, throwaway_secrets(loaded))}
    doc = YAML(typ="safe").load(files[f"{host}/n8n/compose.yaml"].text)
    env = doc["services"]["n8n"].get("environment") or {}
    return {str(k): str(v) for k, v in env.items()}


def _n8n_plan(loaded: Loaded) -> tuple[str, ServicePlan, str, str]:
    hosts = loaded.stack.hosts_of("n8n")
    if not hosts:
        raise ImportRefused(f"{loaded.config.name}: n8n is not a service of this environment (add `n8n:` under "
                            "services: in its environment.yaml)")
    host = hosts[0]
    plan = next((sp for sp in plan_backup(loaded.stack, host).services if sp.service == "n8n"), None)
    if plan is None or not any(i.engine == "postgres" for i in plan.items):
        raise ImportRefused(f"{loaded.config.name}: n8n has no PostgreSQL store on {host}")
    svc = next(p.service for p in loaded.stack.placements if p.name == "n8n")
    owner = next((s.user for s in svc.stores if s.kind == "postgres" and s.user), "n8n")
    return host, plan, owner, svc.containers["n8n"].image.tag


def _key_decision(stored: Secret | None, key: Secret, target_empty: bool, replace: bool) -> tuple[str, str]:
    if stored is None:
        return "stored", ""
    if stored == key:
        return "unchanged", ""
    if replace:
        return "replaced", f"{KEY}: the store's value (fingerprint {stored.fingerprint()}) is replaced (--replace)"
    if target_empty:
        return "replaced", (f"{KEY}: the store's value (fingerprint {stored.fingerprint()}) encrypted nothing yet "
                            "(the target's n8n holds no workflow, credential or execution): replaced by the source's")
    return "refused", (f"{KEY}: the store already holds another key (fingerprint {stored.fingerprint()}; the "
                       f"source's is {key.fingerprint()}) and the target's n8n holds data encrypted with it; "
                       "--replace replaces both the key and that data")


def _data_decision(dst: Fingerprint, covered: bool, replace: bool, partial: bool = False) -> tuple[str, str]:
    if dst.empty:
        return "loaded", ""
    if covered:
        return "unchanged", ""
    if partial:
        return "loaded", "the target holds the source's data from an import that did not complete: imported again"
    if replace:
        return "replaced", "the target's n8n data is replaced by the source's (--replace)"
    counts = ", ".join(f"{v} {k}" for k, v in dst.counts().items())
    return "refused", (f"the target's n8n database already holds other n8n data ({counts}); --replace "
                       "replaces it with the source's")


def run_import(opts: Options, say: Say) -> Report:
    """The import (module contract)."""
    loaded = load(opts.root, opts.env)
    host, plan, owner, tag = _n8n_plan(loaded)
    db_item = next(i for i in plan.items if i.engine == "postgres")
    vol_item = next((i for i in plan.items if i.engine == "volume"), None)
    store = SecretStore.open(loaded.config.directory)
    if not store.exists:
        raise SecretsError(f"{opts.env}: no secrets store; run `zixly secrets init {opts.env}` first. Nothing was "
                           "changed")
    spec = required_secrets(loaded.stack)[KEY]
    env = catalog_env(loaded, host)
    src_host = parse_from(opts.source, opts.ssh_key)
    where = f"{src_host.user}@{src_host.address}"
    session = open_session({"source": src_host, host: loaded.config.hosts.hosts[host]})
    try:
        if session.errors:
            raise ImportRefused("cannot reach " + "; ".join(f"{n}: {e}" for n, e in session.errors.items()))
        src = runner_for(session.hosts["source"], where)
        dst = runner_for(session.hosts[host], host)
        marker = posixpath.join(loaded.stack.environment.base_dir, opts.env, "state", "import-n8n.json")
        return _run(opts, say, src, dst, store, spec, env, host, plan, owner, tag, db_item, vol_item, where, marker)
    finally:
        session.close()


@dataclass(frozen=True)
class Move:
    """Both ends of one import: the servers, databases, the n8n container and the target volume."""

    src: Server
    dst: Server
    container: str  # the source's n8n
    src_db: str
    dst_db: str
    owner: str  # the target database's owner (the app's user)
    volume: str
    project: str  # the target's n8n Compose project
    marker: str  # <base_dir>/<env>/state/import-n8n.json on the target: written once an import completed

    def completed(self, theirs: Fingerprint) -> bool:
        """True when the target's marker says an import of exactly this data completed there."""
        res = self.dst.runner.run(hostfs.read(self.marker), read=True, timeout=60)
        try:
            return res.ok and json.loads(res.out).get("digest") == theirs.digest()
        except (json.JSONDecodeError, AttributeError):
            return False

    def mark(self, theirs: Fingerprint, where: str, project: str) -> None:
        """Record on the target that the import of *theirs* completed (0600, no secret in it)."""
        doc = {"source": where, "project": project, "digest": theirs.digest(), "counts": theirs.counts(),
               "imported": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        for argv, stdin in ((hostfs.mkdirs(posixpath.dirname(self.marker)), None),
                            (hostfs.write_private(self.marker), json.dumps(doc, indent=2).encode())):
            res = self.dst.runner.run(argv, stdin=stdin, timeout=60)
            if not res.ok:
                raise ImportRefused(f"{self.dst.runner.host}: writing {self.marker}: {res.tail()}")

    def verified(self, theirs: Fingerprint) -> Fingerprint | None:
        """The target's data when it equals *theirs* (counts and every row), else None."""
        got = self.dst.fingerprint(self.dst_db)
        same = got.counts() == theirs.counts() and got.covers(theirs, self.dst.executions_upto(
            self.dst_db, theirs.max_execution))
        return got if same else None


def _run(opts: Options, say: Say, src: Any, dst: Any, store: SecretStore, spec: Any, env: dict[str, str],
         host: str, plan: ServicePlan, owner: str, tag: str, db_item: Any, vol_item: Any, where: str,
         marker: str) -> Report:
    install = discover(src, where, opts.project, opts.compose)
    n8n, pg = pick(install.containers)
    target = Target(opts.env, host, db_item.container, db_item.database, vol_item.volume if vol_item else "",
                    env.get("WEBHOOK_URL", ""), tag)
    report = Report(dry_run=opts.dry_run)
    report.rows = map_n8n(n8n, install.image_env.get(n8n.image, {}), env, target)
    problems = refusals(n8n, report.rows)
    if not pg.running:
        problems.append(f"{pg.name} is not running on {where}: pg_dump needs it (the import only reads it)")
    if problems:
        raise ImportRefused("cannot import:\n  - " + "\n  - ".join(problems) + "\nNothing was changed.")
    key = encryption_key(src, n8n)
    install.secrets.append(key.value)
    show = _redactor(install, store)
    move = Move(Server(src, pg.name, pg.plain("POSTGRES_USER", "postgres")), Server(dst, db_item.container), n8n.name,
                n8n.plain("DB_POSTGRESDB_DATABASE", "n8n"), db_item.database, owner, target.volume, plan.project,
                marker)
    report.source = {"host": where, "project": install.project, "compose_files": list(install.files),
                     "compose_services": install.compose_services(),
                     "n8n": n8n.name, "image": n8n.image, "database": f"{move.src_db} on {pg.name} ({pg.image})",
                     "key_from": key.origin}
    report.target = {"env": opts.env, "host": host, "database": f"{move.dst_db} on {move.dst.container}",
                     "volume": target.volume, "url": target.url}
    if key.warning:
        report.notes.append(key.warning)
    theirs = _decide(opts, report, store, key.value, move, show)
    if opts.dry_run:
        report.sizes["files"] = _files_size(src, n8n.name)
        return report
    try:
        if report.data == "unchanged":
            say(f"{dst.host}: the n8n data of {where} is there already; nothing to copy")
            report.counts["target"] = report.counts["target_before"]
        else:
            _move(opts, say, report, move, theirs)
            move.mark(theirs, where, install.project)
        _save_key(opts, say, report, store, spec, key.value)  # last: a failed move leaves the store as it was
    except ImportRefused as exc:  # what the hosts said passes the redactor (the source's passwords, the key)
        raise ImportRefused(show(str(exc))) from None
    return report


def _decide(opts: Options, report: Report, store: SecretStore, key: Secret, move: Move,
            show: Callable[[str], str]) -> Fingerprint:
    """Read both databases and decide what happens to the key and the data (module contract, 3)."""
    state = move.dst.runner.run(dk.container_states([move.dst.container]), read=True, timeout=60).out
    if "|running|" not in state:
        raise ImportRefused(f"{move.dst.runner.host}: {move.dst.container} (the environment's PostgreSQL) is not "
                            f"running: deploy {opts.env} first (`zixly deploy {opts.env}`), then import. Nothing was "
                            "changed.")
    theirs = move.src.fingerprint(move.src_db)
    if not theirs.exists:
        raise ImportRefused(f"{move.src.runner.host}: database {move.src_db} on {move.src.container} holds no n8n "
                            "tables. Nothing was changed.")
    ours = move.dst.fingerprint(move.dst_db)
    same = ours.exists and ours.covers(theirs, move.dst.executions_upto(move.dst_db, theirs.max_execution))
    done = same and move.completed(theirs)  # the same rows but no marker: an import that stopped half-way
    report.counts = {"source": theirs.counts(), "target_before": ours.counts()}
    report.sizes = {"database": move.src.size(move.src_db)}
    report.key, why_key = _key_decision(store.get(KEY), key, ours.empty, opts.replace)
    report.data, why_data = _data_decision(ours, done, opts.replace, partial=same and not done)
    refused = [w for w, d in ((why_key, report.key), (why_data, report.data)) if d == "refused"]
    if opts.dry_run:  # the mapping and sizes are shown also when the import would be refused
        report.notes += [show(w) for w in (why_key, why_data) if w]
    elif refused:
        raise ImportRefused(show("refused:\n  - " + "\n  - ".join(refused) + "\nNothing was changed."))
    else:
        report.notes += [w for w in (why_key, why_data) if w]
    return theirs


def _redactor(install: SourceInstall, store: SecretStore) -> Callable[[str], str]:
    values = [*install.secrets, *(s for n in store.names() if (s := store.get(n)) is not None)]
    return lambda text: redact(text, values)


def _files_size(src: Any, container: str) -> int:
    total = [0]
    src.stream(ic.copy_out(container, N8N_DATA), sink=lambda b: total.__setitem__(0, total[0] + len(b)), read=True,
               timeout=3600)
    return total[0]


def _save_key(opts: Options, say: Say, report: Report, store: SecretStore, spec: Any, key: Secret) -> None:
    if report.key in ("stored", "replaced"):
        store.set(KEY, key, spec, force=True)
        store.save()
        say(f"{KEY}: {report.key} in {opts.env}'s secrets store (never rotated; fingerprint {key.fingerprint()})")
    else:
        say(f"{KEY}: already in {opts.env}'s secrets store")


def _move(opts: Options, say: Say, report: Report, move: Move, theirs: Fingerprint) -> None:
    """Stop the target's n8n, load the dump and the files, verify; start n8n again unless the key changed
    (then ``zixly deploy`` has to render it) -- and always after a failure (its old data and key still match)."""
    dst = move.dst.runner
    apps = _running_apps(dst, move.project, move.dst.container)
    if apps:
        dst.run(dk.stop(apps), timeout=900)
        say(f"{dst.host}: stopped {', '.join(apps)}")
    moved = [0]

    def count(chunk: bytes) -> None:
        moved[0] += len(chunk)

    started, restart = time.monotonic(), True
    try:
        load_database(move.src, move.src_db, move.dst, move.dst_db, move.owner, say, progress=count)
        report.sizes["dump"], moved[0] = moved[0], 0
        load_files(move.src.runner, move.container, N8N_DATA, dst, move.volume, say, progress=count)
        report.sizes["files"] = moved[0]
        got = move.verified(theirs)
        report.counts["target"] = (got or move.dst.fingerprint(move.dst_db)).counts()
        if got is None:
            raise ImportRefused(f"verification failed: source {theirs.counts()}, target {report.counts['target']}")
        say(f"{dst.host}: verified: {', '.join(f'{v} {k}' for k, v in got.counts().items())} on both sides "
            f"({time.monotonic() - started:.1f}s)")
        restart = report.key == "unchanged"
        if not restart:
            report.notes.append(f"n8n stays stopped until `zixly deploy {opts.env}` renders the imported key")
    finally:
        if restart and apps:
            for name in apps:
                dst.run(dk.start(name), timeout=600)
            say(f"{dst.host}: started {', '.join(apps)} again")


def _running_apps(dst: Any, project: str, store_container: str) -> list[str]:
    names = [n for n in dst.run(dk.project_containers(project), read=True, timeout=120).out.split()
             if n != store_container]
    if not names:
        return []
    states = dst.run(dk.container_states(names), read=True, timeout=120).out
    return sorted(line.split("|")[0].lstrip("/") for line in states.splitlines() if "|running|" in line)
