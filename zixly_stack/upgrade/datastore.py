"""The seam for a data-store major: the executor's one call for a hop whose data format changes.

A hop of a ``major_change: dump_restore`` service (PostgreSQL, the warehouse; ``Hop.data_format``)
cannot start the new major on the old data directory. The upgrade executor calls
:func:`major_refusal` before the checkpoint (a refused hop changes nothing) and :func:`move_major`
once the service's containers are stopped, ``current`` is the new release, and before the new major
starts. :func:`move_major` reads what to move from the host itself -- the new release's compose file
of the service (its new volume, named by the major: ``services.<name>.data_major``, and the new
image) and the volume the stopped container still mounts -- and carries the move out through the
host's runner (:mod:`zixly_stack.deploy.datamove`: dump, a new volume, restore, ANALYZE, collations,
every table's rows compared; the old volume kept until ``zixly upgrade ENV --prune``). A failure
removes the new volume and leaves the old one as it was; the executor then restores the checkpoint
and starts the previous images. docs/upgrades.md "Data-store majors".
"""

from __future__ import annotations

from ..catalog.datastores import engine_of
from ..catalog.upgrades import Hop, Move, parse_version
from ..commands import datastore as ds
from ..commands import hostfs
from ..deploy.datamove import DataMoveFailed, carry_out
from ..plan.datamove import DataMove, data_move, server_mount
from ..plan.release_files import load_compose
from ..render.backup.faults import BackupError
from ..render.backup.plan import container_name
from .work import HostWork, UpgradeFailed


def major_refusal(service: str, hop: Hop) -> str:
    """Why :func:`move_major` cannot carry out *hop* of *service* ("" when it can). Pure. A data-format
    hop is carried out; the plan has already refused one whose new volume is not recorded
    (:func:`zixly_stack.plan.datamove.move_blocker`), and :func:`move_major` checks it again on the host."""
    return ""


def planned_move(work: HostWork, service: str, project: str, hop: Hop) -> DataMove:
    """The move of *hop*, read from the host (module doc); :class:`UpgradeFailed` when it cannot be made."""
    svc = work.env.stack.services.get(service)
    engine = engine_of(svc) if svc is not None else None
    if svc is None or svc.upgrade is None or engine is None or engine.name not in ds.PROGRAMS:
        raise UpgradeFailed(f"{service}: {hop.src} -> {hop.dst}: no dump/restore program for this data store")
    path = work.paths.in_current(f"{service}/compose.yaml")
    try:
        compose = load_compose(work.site.run(hostfs.read(path), what=f"read {path}", read=True).out)
    except BackupError as exc:
        raise UpgradeFailed(str(exc)) from None
    found = server_mount(compose)
    if found is None:
        raise UpgradeFailed(f"{service}: {path} has no data store container with one volume")
    key, vkey, target = found
    container = container_name(project, key)
    seen = work.site.try_run(ds.inspect_server(container), read=True)
    mounts = {t: n for n, _, t in (x.rpartition(":") for x in seen.out.split()[2:]) if n}
    if not seen.ok or target not in mounts:
        raise UpgradeFailed(f"{service}: {container} (stopped, of the previous release) not found on {work.host}")
    version = parse_version(svc.upgrade, hop.dst)
    move = Move(service, hop.src, hop.dst, "upgrade", (hop,))
    current = {"volumes": {service: {vkey: mounts[target]}}}
    planned = data_move(work.env.name, move, engine.name, compose, current, version.major_text if version else "")
    if planned is None:
        raise UpgradeFailed(f"{service}: {hop.src} -> {hop.dst} needs a new volume named by the major and "
                            f"{container} already runs on {mounts[target]}: `zixly upgrade ENV {service} --to "
                            f"{hop.dst}` records it (services.{service}.data_major)")
    return planned


def move_major(work: HostWork, service: str, project: str, hop: Hop) -> None:
    """Move *service*'s data (Compose project *project*, its containers stopped) to *hop*'s new major
    on *work*'s host; raise :class:`UpgradeFailed` naming what failed (the executor then restores the
    checkpoint and starts the previous images)."""
    planned = planned_move(work, service, project, hop)
    try:
        done = carry_out(work.site.runner, planned, work.say, restart=False)
    except DataMoveFailed as exc:
        raise UpgradeFailed(f"{service}: {exc}") from None
    work.say(f"upgrade {service}: {done.tables} tables, {done.rows} rows moved from {hop.src} to {hop.dst} "
             f"({planned.old_volume} -> {planned.new_volume}) in {done.seconds:.0f}s; {planned.old_volume} kept "
             f"until `zixly upgrade {work.env.name} --prune`")
