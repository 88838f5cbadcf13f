"""Wiring: a deploy's per-host upgrade executor, and ``zixly upgrade ENV --rollback SERVICE``.

* :func:`upgrader` gives the deploy (``ApplyContext.upgrader``) a :class:`~.guard.HostUpgrade`
  for each host whose plan upgrades a service, on the deploy's own connection to that host, with
  what a move of several hops needs (:func:`hop_tools`: each hop's pin rendered by the pipeline's
  pure render, its images provided like the release's, its project brought up by the converge).
* :func:`rollback_upgrade` returns a finished upgrade to its checkpoint: the host's release log
  names the service's last upgrade that went through, its checkpoint and the release it ran
  before (:mod:`.record`); ``zixly rollback`` machinery switches ``current`` back to that
  release under the deploy lock and, before the service's project is brought up from it, the
  service's containers are stopped and its data restored from the checkpoint
  (:class:`OnDemand`). Refused, with nothing changed, when no such upgrade is recorded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..backup.local import Env
from ..backup.site import Site
from ..commands import docker as dk
from ..deploy import images
from ..deploy.apply import HostRun
from ..deploy.converge import failure_text, up_from
from ..deploy.hostio import read_log
from ..deploy.manage import rollback_env
from ..deploy.runner import DeployReport, EnvTarget, open_env
from ..errors import PlanError
from ..plan.compute import host_files
from ..plan.model import ComposeShape, ImageAction, ImageChange, ProjectChange
from ..plan.paths import EnvPaths
from ..plan.steps import Converge
from ..plan.upgrade import checkpointed
from ..project import Loaded, render
from ..runner.connect import runner_for
from ..safepath import posix_inside
from ..secrets.value import Secret
from .guard import HostUpgrade
from .hops import Files, HopTools, hop_loaded
from .record import UpgradeRecord, last_upgrade
from .work import HostWork, UpgradeFailed

Say = Callable[[str, str], None]


def host_work(loaded: Loaded, secrets: Mapping[str, Secret], r: HostRun, redact: Callable[[str], str],
              say: Say) -> HostWork:
    """The upgrade view of deployed host *r* (its connection, the environment's backup plan)."""
    site = Site(r.name, runner_for(r.host, r.name), redact)
    paths = EnvPaths(loaded.stack.environment.base_dir, loaded.config.name)
    return HostWork(Env(loaded, secrets, r.name), site, paths, lambda text: say(r.name, text))


def projects_on(loaded: Loaded, host: str) -> dict[str, str]:
    """Service -> its Compose project on *host*."""
    return {p.name: p.project for p in loaded.stack.placements if p.host == host}


def release_files(r: HostRun) -> dict[str, tuple[str, str]]:
    """Project -> its compose file in the release being deployed and in the release running now (a
    revert-style downgrade runs the older version's and the newer version's images from them)."""
    conv = next((s for s in (r.steps.steps if r.steps is not None else ()) if isinstance(s, Converge)), None)
    if conv is None or conv.new_release is None or conv.previous_release is None:
        return {}
    new, old = conv.paths.release(conv.new_release), conv.paths.release(conv.previous_release)
    return {p.project: (posix_inside(new, p.compose_file), posix_inside(old, p.compose_file))
            for p in conv.projects if p.action == "up"}


def hop_tools(loaded: Loaded, secrets: Mapping[str, Secret], r: HostRun, redact: Callable[[str], str],
              say: Say) -> HopTools:
    """What the executor of *r* needs for a move of several hops (:class:`~.hops.HopTools`)."""
    paths = EnvPaths(loaded.stack.environment.base_dir, loaded.config.name)

    def rendered(service: str, version: str) -> Files:
        return host_files(render(hop_loaded(loaded, service, version), secrets), r.name)

    @functools.cache
    def release() -> Files:
        return host_files(render(loaded, secrets), r.name)

    def provide(refs: Sequence[str]) -> None:
        runner = runner_for(r.host)
        missing = [ref for ref in refs if not runner.run(dk.image_ids([ref]), timeout=60, read=True).ok]
        if not missing:
            return
        remote: ImageAction = "load" if loaded.config.environment.images.source == "offline" else "pull"
        wanted = [ImageChange(ref, "build" if r.local else remote, "an intermediate hop's image") for ref in missing]
        ok, message = images.provide(r.host, wanted, local=r.local, say=lambda text: say(r.name, text))
        if not ok:
            raise UpgradeFailed(f"the images of an intermediate hop: {redact(message)}; nothing was stopped")

    def up(p: ProjectChange, file: str, shape: ComposeShape) -> tuple[bool, str]:
        done = up_from(r.host, paths, p, file, shape, redact, lambda text: say(r.name, text))
        return done.ok, "" if done.ok else failure_text(done)

    return HopTools(rendered, release, provide, up)


def upgrader(loaded: Loaded, secrets: Mapping[str, Secret], redact: Callable[[str], str],
             say: Say) -> Callable[[HostRun], HostUpgrade | None]:
    """The deploy's factory of per-host upgrade executors (None for a host without upgrades)."""

    def make(r: HostRun) -> HostUpgrade | None:
        moves = r.plan.upgrades if r.plan is not None else ()
        if not any(checkpointed(m) for m in moves):
            return None
        return HostUpgrade(host_work(loaded, secrets, r, redact, say), moves, projects_on(loaded, r.name),
                           files=release_files(r), hops=hop_tools(loaded, secrets, r, redact, say))

    return make


class OnDemand(HostUpgrade):
    """``--rollback``: the project of the recorded upgrade is brought up from the release it ran before,
    its data restored from the checkpoint first (the undo path of a failed upgrade, run forward)."""

    def __init__(self, work: HostWork, record: UpgradeRecord, move: Any) -> None:
        super().__init__(work, (move,), {record.service: record.project})
        self.record = record

    def before_up(self, p: ProjectChange) -> str:
        return self.before_undo(p, f"rollback on demand to checkpoint {self.record.tag}")

    def after_up(self, p: ProjectChange) -> str:
        return ""

    def after_undo(self, p: ProjectChange, ok: bool) -> str:
        return super().after_undo(p, ok)

    def records(self) -> list[dict[str, Any]]:
        return [{"service": r.move.service, "rollback_to": r.move.src, "from": r.move.dst, "checkpoint": {"tag": r.tag},
                 "restored": r.restored, "result": "ok" if r.back else "failed"} for r in self.runs.values()]

    def summary(self) -> str:
        r = next(iter(self.runs.values()))
        return "" if r.back else (f"rollback of {r.move.service} to checkpoint {r.tag} failed: "
                                  f"{r.restored or 'the previous images did not become healthy'}")


def find_record(et: EnvTarget, loaded: Loaded, service: str) -> tuple[str, UpgradeRecord]:
    """The host of *service* and its last recorded upgrade; PlanError naming what is missing."""
    hosts = sorted({p.host for p in loaded.stack.placements if p.name == service})
    if not hosts:
        raise PlanError(f"{service!r} is not enabled in {et.env}")
    session = open_env(et, hosts)
    try:
        if session.errors:
            raise PlanError("cannot reach " + "; ".join(f"{n}: {e}" for n, e in session.errors.items()))
        for name in hosts:
            found = last_upgrade(read_log(session.hosts[name], et.targets[name].paths, 200), service)
            if found is not None:
                return name, found
    finally:
        session.close()
    raise PlanError(f"no upgrade checkpoint of {service} to return to in {et.env} (the release log of "
                    f"{', '.join(hosts)} records no upgrade of it since its last release): nothing was changed")


def rollback_upgrade(et: EnvTarget, loaded: Loaded, secrets: Mapping[str, Secret], service: str, *,
                     break_lock: bool, redact: Callable[[str], str], say: Say) -> tuple[UpgradeRecord, DeployReport]:
    """Return *service* to the checkpoint of its last upgrade (module doc)."""
    # lazy: the catalog's rules plan the move back for the record (only this command needs them)
    from ..catalog.upgrades import Hop, Move

    host, rec = find_record(et, loaded, service)
    if not rec.tag:
        raise PlanError(f"the upgrade of {service} to {rec.dst} recorded no checkpoint: nothing was changed")
    move = Move(service, rec.src, rec.dst, "upgrade", (Hop(rec.src, rec.dst, (), "restore"),))

    def make(r: HostRun) -> HostUpgrade | None:
        return OnDemand(host_work(loaded, secrets, r, redact, say), rec, move) if r.name == host else None

    say(host, f"rollback of {service}: {rec.dst} -> {rec.src}, data from checkpoint {rec.tag}, "
              f"release {rec.release} -> {rec.previous}")
    report = rollback_env(et, only=[host], to=rec.previous, break_lock=break_lock, redact=redact, say=say,
                          upgrader=make)
    return rec, report
