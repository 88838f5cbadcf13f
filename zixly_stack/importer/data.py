"""n8n's data on either side: what a database holds (fingerprints) and moving it across (dump, files).

Contract
--------
* :class:`Fingerprint` says which n8n data a database holds: every workflow and credential by id and
  last update, and the executions (count, highest id). It is read the same way on the source and on
  the target (``psql`` in the server container as its superuser) and holds no secret.
* ``target.covers(source)`` is "this data was imported already": every workflow and credential of the
  source is in the target with the same last update, and the target has exactly the source's
  executions up to the source's highest id (later ones are the target's own).
* :func:`load_database` streams ``pg_dump -Fc`` from the source's server into a NEW database on the
  target's server (owned by the app's user), and only when that load succeeded swaps it in for the
  old one (renames, then drops the old one): a failed load leaves the target as it was.
* :func:`load_files` streams the source's data directory (``docker cp … -``, a tar) into a scratch
  directory next to the target volume, then replaces the volume's contents with it (owners kept).
* Both stream across hosts through this machine (:func:`zixly_stack.runner.relay`): nothing is kept
  here, the source only reads.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field

from ..commands import db, hostfs
from ..commands import docker as dk
from ..commands import importer as ic
from ..runner import Result, Runner, relay
from .source import ImportRefused

Say = Callable[[str], None]
_EXISTS = "SELECT to_regclass('public.workflow_entity') IS NOT NULL AND to_regclass('public.credentials_entity') " \
          "IS NOT NULL AND to_regclass('public.execution_entity') IS NOT NULL"
_ROWS = ("SELECT 'w', id::text, extract(epoch FROM \"updatedAt\")::text FROM workflow_entity UNION ALL "
         "SELECT 'c', id::text, extract(epoch FROM \"updatedAt\")::text FROM credentials_entity UNION ALL "
         "SELECT 'e', count(*)::text, coalesce(max(id), 0)::text FROM execution_entity")
_SIZE = "SELECT pg_database_size(current_database())"


@dataclass(frozen=True)
class Fingerprint:
    """The n8n data of one database (module contract)."""

    workflows: dict[str, str] = field(default_factory=dict)  # id -> updatedAt (epoch)
    credentials: dict[str, str] = field(default_factory=dict)
    executions: int = 0
    max_execution: int = 0
    exists: bool = True  # False: no database or no n8n tables in it

    @property
    def empty(self) -> bool:
        """No workflow, credential or execution."""
        return not (self.workflows or self.credentials or self.executions)

    def counts(self) -> dict[str, int]:
        """Rows per kind (what the verification compares)."""
        return {"workflows": len(self.workflows), "credentials": len(self.credentials), "executions": self.executions}

    def digest(self) -> str:
        """A stable digest of the ids, update times and execution counts (no secret in any of them)."""
        doc = [sorted(self.workflows.items()), sorted(self.credentials.items()), self.executions, self.max_execution]
        return hashlib.sha256(json.dumps(doc).encode()).hexdigest()

    def covers(self, source: Fingerprint, executions_upto: int) -> bool:
        """True when this (target) data already holds *source*'s (module contract); *executions_upto* is the
        target's count of executions with an id up to the source's highest."""
        return (all(self.workflows.get(k) == v for k, v in source.workflows.items())
                and all(self.credentials.get(k) == v for k, v in source.credentials.items())
                and executions_upto == source.executions)


def parse_rows(text: str) -> Fingerprint:
    """The output of the fingerprint query (``kind<TAB>a<TAB>b`` lines)."""
    workflows, credentials = {}, {}
    executions = highest = 0
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        a, _, b = rest.partition("\t")
        if kind == "w":
            workflows[a] = b
        elif kind == "c":
            credentials[a] = b
        elif kind == "e":
            executions, highest = int(a or 0), int(b or 0)
    return Fingerprint(workflows, credentials, executions, highest)


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server container on a host, reached as its superuser."""

    runner: Runner
    container: str
    superuser: str = db.PG_ADMIN

    def sql(self, database: str, query: str, *, read: bool = True, timeout: float = 300) -> Result:
        """*query* in *database* (no values spliced in but the caller's own integers and identifiers)."""
        return self.runner.run(dk.exec_in(self.container, ic.psql_as(self.superuser, database, query)),
                               read=read, timeout=timeout)

    def fingerprint(self, database: str) -> Fingerprint:
        """The n8n data in *database* (``exists=False`` when there is no such database or no n8n tables)."""
        res = self.sql(database, _EXISTS)
        if not res.ok:
            if "does not exist" in res.err:
                return Fingerprint(exists=False)
            raise ImportRefused(f"{self.runner.host}: reading {database} on {self.container}: {res.tail()}")
        if res.out.strip() != "t":
            return Fingerprint(exists=False)
        rows = self.sql(database, _ROWS)
        if not rows.ok:
            raise ImportRefused(f"{self.runner.host}: reading n8n's tables in {database}: {rows.tail()}")
        return parse_rows(rows.out)

    def executions_upto(self, database: str, highest: int) -> int:
        """How many executions have an id up to *highest*."""
        res = self.sql(database, f"SELECT count(*) FROM execution_entity WHERE id <= {int(highest)}")
        return int(res.out.strip() or 0) if res.ok else -1

    def size(self, database: str) -> int:
        """The database's size in bytes (0 when unknown)."""
        res = self.sql(database, _SIZE)
        return int(res.out.strip()) if res.ok and res.out.strip().isdigit() else 0


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_database(src: Server, src_db: str, dst: Server, dst_db: str, owner: str, say: Say,
                  progress: Callable[[bytes], object] | None = None) -> None:
    """Dump *src_db* and load it into *dst_db* owned by *owner* (module contract); raises on failure."""
    fresh, old = f"{dst_db}_zixly_import", f"{dst_db}_zixly_old"
    admin = "postgres"

    def must(res: Result, what: str) -> None:
        if not res.ok:
            raise ImportRefused(f"{dst.runner.host}: {what}: {res.tail()}")

    must(dst.sql(admin, f"DROP DATABASE IF EXISTS {_ident(fresh)} WITH (FORCE)", read=False), "scratch database")
    must(dst.runner.run(dk.exec_in(dst.container, db.createdb(fresh, owner)), timeout=120), f"creating {fresh}")
    made, loaded = relay(src.runner, dk.exec_in(src.container, ic.pg_dump(src.superuser, src_db)),
                         dst.runner, dk.exec_in(dst.container, ic.pg_restore_as(owner, fresh), stdin=True),
                         progress=progress)
    if not (made.ok and loaded.ok):
        dst.sql(admin, f"DROP DATABASE IF EXISTS {_ident(fresh)} WITH (FORCE)", read=False)
        side = f"pg_dump on {src.runner.host}: {made.tail()}" if not made.ok else \
            f"pg_restore on {dst.runner.host}: {loaded.tail()}"
        raise ImportRefused(f"loading the dump failed ({side}); {dst_db} on {dst.container} is unchanged")
    say(f"{dst.runner.host}: dump loaded into {fresh}; swapping it in for {dst_db}")
    exists = dst.sql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{dst_db}'").out.strip() == "1"
    if exists:
        must(dst.sql(admin, f"DROP DATABASE IF EXISTS {_ident(old)} WITH (FORCE)", read=False), "old copy")
        must(dst.sql(admin, f"ALTER DATABASE {_ident(dst_db)} RENAME TO {_ident(old)}", read=False),
             f"setting {dst_db} aside (is something still connected to it?)")
    must(dst.sql(admin, f"ALTER DATABASE {_ident(fresh)} RENAME TO {_ident(dst_db)}", read=False),
         f"renaming {fresh} to {dst_db}")
    if exists:
        must(dst.sql(admin, f"DROP DATABASE {_ident(old)} WITH (FORCE)", read=False), f"dropping the old {dst_db}")


def load_files(src: Runner, container: str, path: str, dst: Runner, volume: str, say: Say,
               progress: Callable[[bytes], object] | None = None) -> None:
    """Replace the contents of *volume* on *dst* with *path* of the source *container* (module contract)."""
    res = dst.run(dk.volume_mountpoint(volume), read=True, timeout=60)
    target = res.out.strip()
    if not res.ok or not target.startswith("/"):
        raise ImportRefused(f"{dst.host}: volume {volume} does not exist: deploy the environment first")
    made = dst.run(hostfs.temp_dir(posixpath.dirname(target), ".zixly-import-"), timeout=60)
    scratch = made.out.strip()
    if not made.ok or not scratch.startswith("/"):
        raise ImportRefused(f"{dst.host}: cannot make a scratch directory next to {target}: {made.tail()}")
    try:
        copied, unpacked = relay(src, ic.copy_out(container, path), dst, ic.untar_keep_owner(scratch),
                                 progress=progress)
        if not (copied.ok and unpacked.ok):
            why = copied.tail() if not copied.ok else unpacked.tail()
            raise ImportRefused(f"copying {path} of {container} failed: {why}; volume {volume} is unchanged")
        tree = posixpath.join(scratch, posixpath.basename(path.rstrip("/")))
        for argv, what in ((hostfs.empty_dir(target), f"emptying {volume}"),
                           (hostfs.move_contents(tree, target), f"moving the files into {volume}")):
            step = dst.run(argv, timeout=600)
            if not step.ok:
                raise ImportRefused(f"{dst.host}: {what}: {step.tail()}")
        say(f"{dst.host}: {path} of {container} copied into volume {volume}")
    finally:
        dst.run(hostfs.remove_tree(scratch), timeout=600)
