"""Carry out a data-store major move on one host, through its runner (``@local`` or SSH).

Contract (docs/upgrades.md "Data-store majors")
-----------------------------------------------
* Before anything stops: the server's container must run on the old volume; a new volume left by
  an earlier, failed attempt (labelled by zixly as taking over that same old volume) is removed,
  any other volume of that name refused; the old volume's size and the free space beside it are
  read and the move refused with the figures when the copy would not fit
  (:func:`~zixly_stack.plan.datamove.space_refusal`).
* Then: the server's container is stopped (no client writes after the dump); a scratch server of
  the OLD image runs on the old volume, a scratch server of the NEW image initialises the new
  volume (labelled: the environment, the service, the major and the volume it takes over), both
  without a network. The old major's dump streams into the new major on the host (the bytes never
  leave it); then the engine's post-restore steps (PostgreSQL: ``vacuumdb --analyze-in-stages``,
  ``ALTER DATABASE ... REFRESH COLLATION VERSION``); then every table's row count of every database
  is compared between the two. Both scratch servers are stopped cleanly and removed.
* Any failure before that comparison succeeded puts everything back: the scratch servers and the
  new volume removed, the server's container started again on the old volume
  (:class:`DataMoveFailed` says what failed and that the old major runs again). Success leaves the
  container stopped: the deploy's converge starts the new major on the new volume right after.
* The old volume is never mounted again by zixly; ``zixly upgrade ENV --prune`` removes it.
"""

from __future__ import annotations

import json
import posixpath
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..catalog.datastores import ENGINES
from ..commands import datastore as ds
from ..commands import docker as dk
from ..commands import hostfs
from ..plan.datamove import DataMove, du_bytes, space_refusal
from ..runner.base import Result, Runner, pipe

Say = Callable[[str], None]
READY_TIMEOUT = 300.0


class DataMoveFailed(Exception):
    """The move failed; the message says which step and what runs now."""


@dataclass
class MoveOutcome:
    """What a completed move measured."""

    service: str
    bytes: int = 0
    tables: int = 0
    rows: int = 0
    seconds: float = 0.0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # database -> table -> rows


def scratch_names(move: DataMove) -> tuple[str, str]:
    """The scratch servers of a move: the old major on the old volume, the new one on the new volume."""
    return f"{move.project}-datamove-old", f"{move.project}-datamove-new"


def socket_volume(move: DataMove) -> str:
    """The scratch volume that carries the old server's socket to the new server's container."""
    return f"{move.project}-datamove-socket"


def new_volume_labels(move: DataMove) -> dict[str, str]:
    """The new volume's labels: zixly's (what it took over, for ``--prune``) and Compose's own, so the
    new release's ``compose up`` takes it as the project's volume."""
    return {ds.LABEL_MOVE: move.env, ds.LABEL_RETIRES: move.old_volume, ds.LABEL_SERVICE: move.service,
            ds.LABEL_MAJOR: move.major, "com.docker.compose.project": move.project,
            "com.docker.compose.volume": move.volume_key}


def move_commands(move: DataMove, databases: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The commands of a move in the order they run, for *databases* (read from the old major when it
    runs). Pure: what the unit tests and ``--steps`` show; :func:`carry_out` runs the same argv."""
    prog = ds.PROGRAMS[move.engine]
    old, new = scratch_names(move)
    sock = socket_volume(move)
    labels = {ds.LABEL_MOVE: move.env, ds.LABEL_SERVICE: move.service}
    common = ds.Hardening(cap_add=move.cap_add, labels=labels, user=move.user)
    if prog.copy:
        carry: list[tuple[str, list[str]]] = [
            ("copy the old volume's files", ds.copy_run(f"{new}-copy", move.new_image, move.old_volume,
                                                        move.new_volume, move.target, prog.copy, **common)),
            ("new major on the new volume", ds.scratch_run(new, move.new_image, move.new_volume, move.target,
                                                           env_stdin=True, command=prog.command, **common)),
            ("new major ready", ds.in_container(new, prog.ready)),
            *((f"in the new format: {c[0]}", ds.in_container(new, c)) for c in prog.convert),
        ]
    else:
        carry = [
            ("new major on the new volume", ds.scratch_run(new, move.new_image, move.new_volume, move.target,
                                                           env_stdin=True, socket=(sock, ds.OLD_SOCKET),
                                                           command=prog.command, **common)),
            ("new major ready", ds.in_container(new, prog.ready)),
            ("dump (the new major's client)", ds.in_container(new, prog.dump)),
            ("restore", ds.in_container(new, prog.restore, stdin=True)),
        ]
    out: list[tuple[str, list[str]]] = [
        ("read the server", ds.inspect_server(move.container)),
        ("read the new volume", ds.volume_labels(move.new_volume)),
        ("old volume's directory", dk.volume_mountpoint(move.old_volume)),
        ("old volume's size", ds.volume_size("<mountpoint>")),
        ("free space", hostfs.free_kib("<mountpoint>")),
        ("stop the server", ds.stop(move.container)),
        ("old major on the old volume", ds.scratch_run(old, "<old image>", move.old_volume, move.target,
                                                       env_stdin=False, socket=None if prog.copy else
                                                       (sock, prog.socket), command=prog.old_command
                                                       or prog.command, **common)),
        ("old major ready", ds.in_container(old, prog.ready)),
        ("databases", ds.in_container(old, prog.databases)),
        *((f"rows of {d} (old)", ds.in_container(old, prog.counts(d))) for d in databases),
        ("new volume", ds.volume_create(move.new_volume, new_volume_labels(move))),
        *carry,
        *((f"after the restore: {a[0]}", ds.in_container(new, a)) for a in prog.after_restore(databases)),
        *((f"rows of {d} (new)", ds.in_container(new, prog.counts(d))) for d in databases),
        *((f"once the rows agree: {f[0]}", ds.in_container(new, f)) for f in prog.finish),
        ("stop the new major", ds.stop(new)),
        ("remove it", ds.remove(new)),
        ("stop the old major", ds.stop(old)),
        ("remove it", ds.remove(old)),
    ]
    if not prog.copy:
        out.append(("remove the socket's volume", dk.volume_remove(sock)))
    return out


def _errors(res: Result) -> str:
    """The error lines of a dump or restore, without the statement text psql quotes after them (``LINE 1:
    ...``: a statement of the dump may hold a role's password verifier or table data) and with the
    values MariaDB quotes in its messages (``Duplicate entry '...'``) masked."""
    lines = [re.sub(r"'[^']*'", "'…'", ln.strip()) for ln in (res.err or res.out).splitlines()
             if "ERROR:" in ln or "FATAL:" in ln or "error:" in ln or ln.startswith("ERROR ")]
    return " ".join(lines[-3:])[-400:] or "no message"


def _counts(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        table, _, rows = line.partition("\t")
        if table:
            out[table] = int(rows or 0)
    return out


class _Mover:
    """One move on one host (module contract); :meth:`run` is the whole of it."""

    def __init__(self, runner: Runner, move: DataMove, say: Say, restart: bool) -> None:
        self.r, self.m, self.say, self.restart = runner, move, say, restart
        self.prog = ds.PROGRAMS[move.engine]
        self.old, self.new = scratch_names(move)
        self.sock = socket_volume(move)
        self.labels = {ds.LABEL_MOVE: move.env, ds.LABEL_SERVICE: move.service}

    def must(self, argv: Sequence[str], what: str, *, stdin: bytes | None = None, timeout: float = 600.0,
             read: bool = False) -> Result:
        res = self.r.run(argv, stdin=stdin, timeout=timeout, read=read)
        if not res.ok:
            raise DataMoveFailed(f"{what}: {res.tail()}")
        return res

    def preflight(self) -> tuple[str, int]:
        """Checks before anything stops; returns the old image and the old volume's size."""
        m = self.m
        seen = self.must(ds.inspect_server(m.container), f"read {m.container}", read=True).out.split()
        mounts = {target: name for name, _, target in (x.rpartition(":") for x in seen[2:]) if name}
        if mounts.get(m.target) != m.old_volume:
            raise DataMoveFailed(f"{m.container} does not run on {m.old_volume} (its {m.target}: "
                                 f"{mounts.get(m.target, 'no volume')}); nothing was changed")
        found = self.r.run(ds.volume_labels(m.new_volume), read=True)
        if found.ok:
            labels = json.loads(found.out or "null") or {}
            if labels.get(ds.LABEL_RETIRES) != m.old_volume or labels.get(ds.LABEL_MOVE) != m.env:
                raise DataMoveFailed(f"a volume {m.new_volume} exists and zixly did not make it for this move: "
                                     "remove or rename it; nothing was changed")
            self.say(f"{m.new_volume}: left by an earlier attempt that did not finish: removed")
            self.must(dk.volume_remove(m.new_volume), f"remove {m.new_volume}")
        where = self.must(dk.volume_mountpoint(m.old_volume), f"locate {m.old_volume}", read=True).out.strip()
        size = du_bytes(self.must(ds.volume_size(where), f"size of {m.old_volume}", read=True).out)
        parent = posixpath.dirname(where.rstrip("/")) or "/"
        kib = hostfs.available_kib(self.must(hostfs.free_kib(parent), f"free space on {parent}", read=True).out)
        if kib is None:
            raise DataMoveFailed(f"cannot read the free space of {parent}; nothing was changed")
        free = kib * 1024
        why = space_refusal(m.old_volume, size, free, parent)
        if why:
            raise DataMoveFailed(why.replace("ENV", m.env) + "; nothing was changed")
        return seen[1], size

    def ready(self, name: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.r.run(ds.in_container(name, self.prog.ready), read=True).ok:
            state = self.r.run(dk.inspect_format("{{.State.Running}}", name), read=True)
            if state.out.strip() != "true" or time.monotonic() > deadline:
                logs = self.r.run(dk.logs_tail(name, 20), read=True)
                raise DataMoveFailed(f"{name} did not become ready: {(logs.err or logs.out).strip()[-600:]}")
            time.sleep(1)

    def counts(self, name: str, databases: Sequence[str]) -> dict[str, dict[str, int]]:
        return {d: _counts(self.must(ds.in_container(name, self.prog.counts(d)), f"count rows of {d} in {name}",
                                     read=True).out) for d in databases}

    def transfer(self, old_image: str) -> dict[str, dict[str, int]]:
        m, prog = self.m, self.prog
        common = ds.Hardening(cap_add=m.cap_add, labels=self.labels, user=m.user)
        if not prog.copy:
            self.r.run(dk.volume_remove(self.sock))  # a stale socket directory of a killed attempt
        self.must(ds.scratch_run(self.old, old_image, m.old_volume, m.target, env_stdin=False,
                                 socket=None if prog.copy else (self.sock, prog.socket),
                                 command=prog.old_command or prog.command, **common),
                  f"start {m.src} on {m.old_volume}")
        self.ready(self.old)
        databases = self.must(ds.in_container(self.old, prog.databases), "list the databases",
                              read=True).out.split()
        before = self.counts(self.old, databases)
        self.say(f"{m.service}: {sum(len(t) for t in before.values())} tables in {len(databases)} databases "
                 f"read from {m.src}")
        self.must(ds.volume_create(m.new_volume, new_volume_labels(m)), f"create {m.new_volume}")
        env = [*m.init_env, (ENGINES[m.engine].init_password, secrets.token_hex(24))]
        lines = "".join(f"{k}={v}\n" for k, v in env if k)
        if prog.copy:
            self.must(ds.copy_run(f"{self.new}-copy", m.new_image, m.old_volume, m.new_volume, m.target, prog.copy,
                                  **common), f"copy {m.old_volume}'s files into {m.new_volume}")
        self.must(ds.scratch_run(self.new, m.new_image, m.new_volume, m.target, env_stdin=True,
                                 socket=None if prog.copy else (self.sock, ds.OLD_SOCKET), command=prog.command,
                                 **common), f"start {m.dst} on {m.new_volume}", stdin=lines.encode())
        self.ready(self.new)
        if not prog.copy:
            res = pipe(self.r, ds.in_container(self.new, prog.dump), ds.in_container(self.new, prog.restore,
                                                                                      stdin=True))
            if not res.ok:
                raise DataMoveFailed(f"dump {m.src} into {m.dst}: the dump exited {res.producer.code} "
                                     f"({_errors(res.producer)}), the restore {res.consumer.code} "
                                     f"({_errors(res.consumer)})")
        for argv in [*prog.convert, *prog.after_restore(databases)]:
            self.must(ds.in_container(self.new, argv), f"{argv[0]} on {m.dst}", timeout=3600)
        after = self.counts(self.new, databases)
        if after != before:
            diff = sorted(f"{d}.{t}: {before.get(d, {}).get(t)} -> {after.get(d, {}).get(t)}"
                          for d in set(before) | set(after)
                          for t in set(before.get(d, {})) | set(after.get(d, {}))
                          if before.get(d, {}).get(t) != after.get(d, {}).get(t))
            raise DataMoveFailed(f"the restored rows differ from {m.src}'s: {', '.join(diff[:8])}")
        for argv in prog.finish:
            self.must(ds.in_container(self.new, argv), f"{argv[0]} on {m.dst}", timeout=3600)
        self.must(ds.stop(self.new), f"stop {m.dst} on {m.new_volume}")
        self.must(ds.stop(self.old), f"stop {m.src} on {m.old_volume}")
        return before

    def undo(self) -> None:
        """Back to the old major on the old volume (best effort; every step tried)."""
        for name in (self.new, f"{self.new}-copy", self.old):
            self.r.run(ds.remove(name))
        self.r.run(dk.volume_remove(self.m.new_volume))
        if self.restart:
            self.r.run(dk.start(self.m.container))

    def run(self) -> MoveOutcome:
        started = time.monotonic()
        old_image, size = self.preflight()
        self.say(f"{self.m.service}: stopping {self.m.container} to move its data ({size >> 20} MiB)")
        self.must(ds.stop(self.m.container), f"stop {self.m.container}")
        try:
            counts = self.transfer(old_image)
        except BaseException as exc:
            self.undo()
            if isinstance(exc, DataMoveFailed):
                back = f"{self.m.src} runs again on" if self.restart else f"{self.m.src}'s data is untouched on"
                raise DataMoveFailed(f"{exc}; the new volume was removed and {back} {self.m.old_volume}") from None
            raise
        finally:
            for name in (self.new, self.old):
                self.r.run(ds.remove(name))
            self.r.run(dk.volume_remove(self.sock))
        rows = sum(sum(t.values()) for t in counts.values())
        tables = sum(len(t) for t in counts.values())
        return MoveOutcome(self.m.service, size, tables, rows, time.monotonic() - started, counts)


def carry_out(runner: Runner, move: DataMove, say: Say = lambda text: None, *, restart: bool = True) -> MoveOutcome:
    """Carry out *move* on *runner*'s host (module contract); raises :class:`DataMoveFailed`. *restart*:
    a failure starts the server's container again (False: the caller brings the previous release
    back itself, as the upgrade executor does)."""
    return _Mover(runner, move, say, restart).run()
