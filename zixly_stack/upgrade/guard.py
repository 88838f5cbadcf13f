"""A host's upgrade executor: the hooks the health-gated converge calls around an upgraded service.

The deploy's own steps do the rest (the new release's images provided before anything stops,
``current`` switched, the converge with its health gate and catalog timeout, the rollback to
the previous release on failure); :class:`HostUpgrade` adds, per upgraded service:

* :meth:`~HostUpgrade.checkpoint` (the ``CheckpointData`` step, before ``current`` is switched and
  anything stops): a data-store major it cannot carry out is refused, a downgrade that reverts
  counts what it reverts and refuses what cannot be reverted (:mod:`.downgrade`), then the
  checkpoint of the service's data is taken and proven readable (:mod:`.checkpoint`) and the
  host's free space checked against the checkpoints' size. Any failure stops the deploy with
  nothing stopped.
* :meth:`~HostUpgrade.before_up`: a move of several hops first brings up each intermediate hop's
  pin in turn (:mod:`.hops`: rendered and its images provided at the checkpoint step, before
  anything stops), health-gated like any project, each with its ``command`` migrations; for a
  data-store major, its containers stopped and the data moved to the new major (:mod:`.datastore`);
  for a downgrade that reverts, its containers stopped and the newer image's revert run until the
  older version knows the database (:mod:`.downgrade`); on-start migrations then run as the new
  images start and the gate waits (``compose up --wait``, one-shot ``job`` migrations first through
  their ``depends_on``).
* :meth:`~HostUpgrade.after_up`: ``command`` migrations in their container once healthy (``hook``
  migrations are the deploy's hooks).
* :meth:`~HostUpgrade.before_undo`: when anything failed, before the previous release's images
  start: the service's containers stopped and its data restored from the checkpoint; a restore
  that fails leaves the service stopped (never started on data the previous version may not read).
  Databases the service's own servers hold are restored once those servers are up again
  (:meth:`~HostUpgrade.after_undo`).
* :meth:`~HostUpgrade.summary`: the line the deploy fails with: the hop, the checkpoint, what was
  put back; :meth:`~HostUpgrade.records`: what the release log keeps (``zixly upgrade --rollback``).

Only the upgraded service's project is touched; the rest of the stack is left running.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..backup.restore import restore_data
from ..backup.site import Repo
from ..catalog.upgrades import Hop, Move
from ..commands import docker as dk
from ..commands import hostfs
from ..plan.model import ProjectChange
from ..plan.upgrade import checkpoint_tag, checkpointed
from ..render.backup.faults import BackupError
from ..render.backup.plan import ServicePlan, container_name
from . import datastore, downgrade
from .checkpoint import Checkpoint, check_free_space, checkpoint_plan, find, inside, take
from .hops import HopTools, Interim, hop_file, hop_label, interims
from .work import HostWork, UpgradeFailed


@dataclass
class MoveRun:
    """One upgrade on the host and what became of it."""

    move: Move
    project: str
    data: ServicePlan  # what its checkpoint holds
    checkpoint: Checkpoint | None = None
    hop: int = 0  # the hop in progress (1-based)
    error: str = ""
    restored: str = ""
    back: bool | None = None  # the previous images healthy again (None: not rolled back)
    result: str = "planned"  # planned | ok | failed
    revert: downgrade.RevertRun | None = None  # a downgrade that reverts (None: an upgrade)
    interim: tuple[Interim, ...] = ()  # the hops before the last, rendered (several hops)
    healthy: int = 0  # how many hops came up healthy, their migrations done

    @property
    def tag(self) -> str:
        """The checkpoint's restic tag."""
        return checkpoint_tag(self.move)

    @property
    def current_hop(self) -> Hop:
        """The hop in progress (the first before any started)."""
        return self.move.hops[max(self.hop, 1) - 1]


class HostUpgrade:
    """The upgrades of one host's deploy (module doc)."""

    def __init__(self, work: HostWork, moves: Sequence[Move], projects: Mapping[str, str],
                 *, files: Mapping[str, tuple[str, str]] | None = None, hops: HopTools | None = None) -> None:
        """*files*: per project, the compose files of the older and the newer version (a revert runs them);
        *hops*: how intermediate hops are rendered and brought up (several hops)."""
        self.work = work
        self.hops = hops
        plan = work.env.plan(work.host)
        self.runs: dict[str, MoveRun] = {}
        for m in moves:
            project = projects.get(m.service)
            if checkpointed(m) and project is not None:
                r = MoveRun(m, project, checkpoint_plan(plan, m.service, project))
                r.revert = downgrade.revert_run(m, r.data, (files or {}).get(project))
                self.runs[project] = r

    def checkpoint(self) -> None:
        """Refuse what cannot be carried out, take every checkpoint, check the free space (nothing stopped)."""
        for r in self.runs.values():
            why = "; ".join(w for w in (datastore.major_refusal(r.move.service, h) for h in r.move.hops) if w)
            if why:
                raise UpgradeFailed(why + "; nothing was stopped")
            if len(r.move.hops) > 1 and (self.hops is None or any(h.data_format for h in r.move.hops)):
                raise UpgradeFailed(f"{r.move.service}: {len(r.move.hops)} hops" + (
                    " with a data-store major among them" if self.hops is not None else "") +
                    f": deploy them one at a time (`zixly upgrade ENV {r.move.service} --to "
                    f"{r.move.hops[0].dst}`); nothing was stopped")
            if r.move.direction == "downgrade":
                if r.revert is None:
                    raise UpgradeFailed(f"{r.move.service}: the downgrade {r.move.src} -> {r.move.dst} needs a revert, "
                                        "and its database or release files were not found; nothing was stopped")
                downgrade.count(self.work, r.move, r.revert)
        for r in self.runs.values():
            if len(r.move.hops) > 1 and self.hops is not None:
                r.interim = interims(r.move, r.move.service, self.hops)
                self.hops.provide(sorted({ref for i in r.interim for ref in i.images}))
        for r in self.runs.values():
            r.checkpoint = take(self.work, r.data, r.tag)
        if self.runs:
            check_free_space(self.work, sum(r.checkpoint.size for r in self.runs.values() if r.checkpoint))

    def before_up(self, p: ProjectChange) -> str:
        r = self.runs.get(p.project)
        if r is None:
            return ""
        for step in r.interim:
            why = self._interim(r, p, step)
            if why:
                r.error = why
                return why
        r.hop = len(r.move.hops)
        hop = r.current_hop
        self._say_hop(r)
        if hop.data_format:
            self._stop(r)
            try:
                datastore.move_major(self.work, r.move.service, r.project, hop)
            except UpgradeFailed as exc:
                r.error = str(exc)
                return r.error
        if r.revert is not None and r.revert.todo:
            self._stop(r, keep=r.revert.server)  # a dedicated PostgreSQL in the project keeps serving the revert
            r.error = downgrade.carry_out(self.work, r.move, r.revert)
            return r.error
        return ""

    def after_up(self, p: ProjectChange) -> str:
        r = self.runs.get(p.project)
        if r is None:
            return ""
        failed = self._commands(r, r.current_hop)
        if failed:
            return failed
        r.healthy = len(r.move.hops)
        r.result = "ok"
        self.work.say(f"{r.move.direction} {r.move.service}: {r.move.src} -> {r.move.dst} healthy")
        return ""

    def _say_hop(self, r: MoveRun) -> None:
        hop = r.current_hop
        migs = ", ".join(m.name for m in hop.migrations) or "none"
        self.work.say(f"{r.move.direction} {hop_label(r.move, r.hop)} (migrations: {migs}; checkpoint {r.tag})")

    def _interim(self, r: MoveRun, p: ProjectChange, step: Interim) -> str:
        """Bring *step*'s pin up from its own compose file, health-gated, then its command migrations;
        "" or why it failed. The file is removed again whatever happened."""
        assert self.hops is not None
        r.hop = step.index
        self._say_hop(r)
        site = self.work.site
        path = self.work.paths.in_current(hop_file(p.directory, step.index))
        wrote = site.try_run(hostfs.write_file(path, "0600"), stdin=step.compose.encode(), timeout=60)
        if not wrote.ok:
            return f"cannot write {path}: {site.redact(wrote.tail())}"
        try:
            ok, why = self.hops.up(p, path, step.shape)
        finally:
            site.try_run(hostfs.remove_tree(path), timeout=60)
        if not ok:
            return why or "the hop did not become healthy"
        failed = self._commands(r, step.hop)
        if failed:
            return failed
        r.healthy = step.index
        self.work.say(f"upgrade {hop_label(r.move, step.index)}: healthy")
        return ""

    def _commands(self, r: MoveRun, hop: Hop) -> str:
        """*hop*'s ``command`` migrations in their (healthy) containers; "" or why one failed."""
        for m in hop.migrations:
            if m.run != "command" or not m.container:
                continue
            self.work.say(f"upgrade {r.move.service}: migration {m.name} in {m.container}")
            res = self.work.site.try_run(dk.exec_in(container_name(r.project, m.container), m.command), timeout=3600)
            if not res.ok:
                r.error = f"migration {m.name} failed: {self.work.site.redact(res.tail())}"
                return r.error
        return ""

    def before_undo(self, p: ProjectChange, why: str) -> str:
        r = self.runs.get(p.project)
        if r is None:
            return ""
        r.result = "failed"
        r.error = r.error or why
        self._stop(r)
        outside = ServicePlan(r.data.service, r.project, tuple(i for i in r.data.items if not inside(i, r.project)))
        failed = self._restore(r, outside)
        if failed:
            r.restored = f"restore FAILED: {failed}"
            return (f"{r.move.service}: its data could not be restored from checkpoint {r.tag} ({failed}); "
                    f"{r.project} is left stopped, not started on data the previous version may not read")
        return ""

    def after_undo(self, p: ProjectChange, ok: bool) -> str:
        r = self.runs.get(p.project)
        if r is None:
            return ""
        held = ServicePlan(r.data.service, r.project, tuple(i for i in r.data.items if inside(i, r.project)))
        failed = self._restore(r, held) if held.items and ok else ""
        if held.items and not ok:
            failed = f"the databases {r.project} holds were not restored: its servers did not start"
        r.back = ok and not failed
        if failed:
            r.restored = f"restore FAILED: {failed}"
            return failed
        return ""

    def _stop(self, r: MoveRun, keep: str = "") -> None:
        site = self.work.site
        names = [n for n in site.try_run(dk.project_containers(r.project), timeout=120, read=True).out.split()
                 if n != keep]
        if names:
            site.try_run(dk.stop(names), timeout=900)
        self.work.say(f"upgrade {r.move.service}: stopped {len(names)} container(s) of {r.project}")

    def _restore(self, r: MoveRun, sp: ServicePlan) -> str:
        """Restore *sp*'s items from the checkpoint; "" or why it failed."""
        if not sp.items:
            return ""
        work = self.work
        try:
            with Repo(work.site, work.env) as repo:
                chosen = find(repo, work, r.tag)
                missing = [i.name for i in sp.items if i.name not in chosen]
                if missing:
                    return f"checkpoint {r.tag} has no snapshot of {', '.join(missing)}"
                work.say(f"upgrade {r.move.service}: restoring {', '.join(i.name for i in sp.items)} "
                         f"from checkpoint {r.tag}")
                outcome = restore_data(repo, work.site, sp, chosen, work.say)
        except BackupError as exc:
            return str(exc)
        if outcome.error:
            return outcome.error
        done = ", ".join(outcome.items)
        r.restored = f"{r.restored}, {done}" if r.restored else done
        return ""

    def summary(self) -> str:
        """What failed: the hop, the checkpoint, what was put back ("" when every upgrade went through)."""
        out = []
        for r in self.runs.values():
            if r.result != "failed":
                continue
            hop = r.current_hop
            back = ("healthy again" if r.back else "NOT healthy (see the rollback above)") if r.back is not None \
                else "not started"
            before = f" (hop{'s 1-' if r.healthy > 1 else ' '}{r.healthy} had come up healthy)" if r.healthy else ""
            out.append(f"{r.move.direction} {r.move.service} {r.move.src} -> {r.move.dst} FAILED at hop "
                       f"{max(r.hop, 1)}/{len(r.move.hops)} ({hop.src} -> {hop.dst}){before}: {r.error}; data "
                       f"restored from checkpoint {r.tag}: {r.restored or 'nothing to restore'}; "
                       f"previous images ({r.move.src}) {back}")
        return "\n".join(out)

    def records(self) -> list[dict[str, Any]]:
        """What the host's release log keeps of each upgrade."""
        return [{"service": r.move.service, "from": r.move.src, "to": r.move.dst, "project": r.project,
                 "hops": [[h.src, h.dst] for h in r.move.hops], "hops_healthy": r.healthy,
                 "checkpoint": r.checkpoint.to_json()
                 if r.checkpoint else {"tag": r.tag}, "result": r.result,
                 **({"reverted": list(r.revert.reverted)} if r.revert is not None else {}),
                 **({"failed_hop": max(r.hop, 1), "error": r.error} if r.result == "failed" else {})}
                for r in self.runs.values()]
