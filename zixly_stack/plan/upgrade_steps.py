"""The checkpointed upgrade deploy as a PURE planned sequence: what ``zixly deploy`` carries out.

For one planned :class:`~zixly_stack.catalog.upgrades.Move` of a service, the steps an upgrade
deploy is to take (docs/upgrades.md "Not done yet"): a checkpoint of exactly that service's data
(restic snapshot tagged for the upgrade), checked readable; a free-space check; then each hop:
its images, the service stopped, a data-store major's dump/restore into a new volume, the new
images started with their migrations, the health gate. On any failure: the service's containers
stopped, its data restored from the checkpoint, the previous images started and awaited healthy,
exit 1 naming the hop and the checkpoint. At no step is the app removed while its restore is
unproven. ``zixly plan ENV --steps`` prints it, marked "executed by zixly deploy" for a move the
deploy carries out (:mod:`zixly_stack.upgrade`) and "planned, NOT executed" with the reason for one
it refuses (:func:`~.upgrade.blocker`: a data-store major it cannot move, a downgrade that needs
its data back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ..catalog.datastores import engine_of
from ..catalog.upgrades import Hop, Move
from ..models.service import Service
from .datamove import DataMove
from .upgrade import blocker, checkpoint_tag

StepKind = Literal["checkpoint", "verify", "free-space", "images", "stop", "data", "start", "migrate",
                   "health-gate", "restore", "exit", "count", "revert"]


@dataclass(frozen=True)
class UpgradeStep:
    """One planned step; ``hop`` is 0 before the hops, else the hop it belongs to."""

    kind: StepKind
    summary: str
    hop: int = 0


@dataclass(frozen=True)
class UpgradeSequence:
    """The planned steps of one move and the steps taken when any of them fails."""

    service: str
    checkpoint: str  # the restic tag of the checkpoint
    steps: tuple[UpgradeStep, ...]
    on_failure: tuple[UpgradeStep, ...]
    executed: bool = False  # zixly deploy carries it out (else it refuses the move: ``refused``)
    refused: str = ""




def _data(svc: Service) -> str:
    dbs = [f"{d.store}" + (f"/{d.database}" if d.database else "") for d in svc.backup.databases]
    parts = ([f"databases {', '.join(dbs)}"] if dbs else []) + (
        [f"volumes {', '.join(svc.backup.volumes)}"] if svc.backup.volumes else [])
    return "; ".join(parts) or "no declared data"


def _revert_steps(move: Move) -> list[UpgradeStep]:
    """A downgrade that reverts: the count before anything stops, the reverts once its containers stopped."""
    r = move.revert
    if r is None:
        return []
    return [
        UpgradeStep("count", f"the migrations the database ran, those {move.dst}'s and {move.src}'s images know "
                    f"(`{' '.join(r.known[:1])} ...` in each): the ones to revert; one {move.src} cannot undo "
                    f"(no down step) or more than {r.limit} refuses the downgrade, nothing stopped"),
    ]


def _hop_steps(i: int, hop: Hop, svc: Service, moved: DataMove | None = None,
               move: Move | None = None) -> list[UpgradeStep]:
    out = [
        UpgradeStep("images", f"provide the {hop.dst} images on the host before anything stops", i),
        UpgradeStep("stop", f"stop {svc.name}'s containers (its project only; volumes kept)", i),
    ]
    if move is not None and move.revert is not None:
        r = move.revert
        out.append(UpgradeStep("revert", f"`{' '.join(r.command)}` with {move.src}'s image in a one-off {r.container} "
                               f"container of the {move.src} release (the service's env, secrets, networks), once "
                               f"per migration, until the database's last migration is one {move.dst} knows; a "
                               f"run that fails or makes no progress stops it (at most {r.limit})", i))
    if hop.data_format:
        vols = f" ({moved.old_volume} -> {moved.new_volume})" if moved else ""
        what = {
            "mariadb": (f"dump every database with its users and grants, start the new major on a new volume named "
                        f"by the major{vols}, restore, ANALYZE, compare every table's rows, mariadb-upgrade"),
            "redis": (f"copy the data files onto a new volume named by the major{vols}, start the new major on "
                      "them, rewrite the AOF in its format, compare every database's keys"),
        }.get(moved.engine if moved else "", f"dump every database, start the new major on a new volume named by "
              f"the major{vols}, restore, ANALYZE and refresh collations, compare every table's rows")
        out.append(UpgradeStep("data", what + "; the old volume kept, unused, until `zixly upgrade ENV --prune`", i))
    jobs = [m for m in hop.migrations if m.run == "job"]
    out += [UpgradeStep("migrate", f"{m.name}: job {m.container} runs to completion", i) for m in jobs]
    out.append(UpgradeStep("start", f"start {hop.dst}" + "".join(
        f"; {m.name} runs on start of {m.container}" for m in hop.migrations if m.run == "on_start"), i))
    out.append(UpgradeStep("health-gate", f"every container of {svc.name} healthy within {svc.wait_timeout}", i))
    out += [UpgradeStep("migrate", f"{m.name}: " + (f"hook {m.hook}" if m.run == "hook" else
                                                    f"{' '.join(m.command)} in {m.container}"), i)
            for m in hop.migrations if m.run in ("hook", "command")]
    return out


def upgrade_sequence(move: Move, svc: Service, data_moves: Iterable[DataMove] = ()) -> UpgradeSequence:
    """The sequence of *move* for *svc* (module doc); *data_moves*: the host plan's data-store majors."""
    moves = tuple(data_moves)
    moved = next((d for d in moves if d.service == move.service), None)
    tag = checkpoint_tag(move)
    steps = [
        *_revert_steps(move),
        UpgradeStep("checkpoint", f"restic snapshot of {svc.name}'s data only ({_data(svc)}), tagged {tag}"),
        UpgradeStep("verify", "the checkpoint is readable: every dump listed, the manifest complete"),
        UpgradeStep("free-space", "free space on the host for the checkpoint's size again (new volumes, dumps)"),
    ]
    for i, hop in enumerate(move.hops, 1):
        steps += _hop_steps(i, hop, svc, moved, move)
    failure = (
        UpgradeStep("stop", f"stop {svc.name}'s containers"),
        UpgradeStep("restore", f"restore {svc.name}'s data from the checkpoint {tag}"),
        UpgradeStep("start", f"start the previous images ({move.src}) and wait until healthy"),
        UpgradeStep("exit", f"exit 1 naming the hop that failed and the checkpoint {tag}"),
    )
    engine = engine_of(svc)
    why = blocker(move, moves, engine.name if engine is not None else None)
    return UpgradeSequence(move.service, tag, tuple(steps), failure, executed=not why, refused=why)


def sequence_lines(seq: UpgradeSequence) -> list[str]:
    """The sequence as text, marked as executed by ``zixly deploy`` or planned and refused."""
    state = "executed by zixly deploy" if seq.executed else f"planned, NOT executed: {seq.refused}"
    lines = [f"upgrade {seq.service} ({state}):"]
    for n, step in enumerate(seq.steps, 1):
        where = f"hop {step.hop}" if step.hop else "before"
        lines.append(f"  {n:2}. [{where}] {step.kind}: {step.summary}")
    lines.append("  on any failure:")
    lines.extend(f"      {step.kind}: {step.summary}" for step in seq.on_failure)
    return lines


def upgrade_step_lines(moves: tuple[Move, ...], services: Mapping[str, Service],
                       data_moves: tuple[DataMove, ...] = ()) -> list[str]:
    """Every move's planned sequence (``zixly plan --steps``); a move without its service is skipped."""
    return [line for m in moves if m.service in services
            for line in sequence_lines(upgrade_sequence(m, services[m.service], data_moves))]
