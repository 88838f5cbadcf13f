"""Version moves in a plan: what the host's current release runs against what this one would.

PURE. Each host's ``manifest.json`` records the version of every service on it
(``versions``: service -> the catalog tag of its primary container, after environment
overrides). :func:`host_upgrades` compares the host's current manifest with the rendered one
and plans each changed version with the catalog's rules (:func:`~zixly_stack.catalog.upgrades.plan_move`):
from -> to, the hops, the migrations, and per hop whether image rollback alone is safe.

A move the rules forbid is a located :class:`Problem` (at the pin that asked for it: the
environment's ``services.<name>.version`` or the catalog's image tag) naming the hops that
would be allowed; ``zixly plan`` and ``zixly deploy`` refuse it. A move the rules allow but
that a deploy cannot carry out yet (a data-store major whose new volume is not recorded or that
comes with other hops, a downgrade that needs its data back: ``zixly upgrade ENV --rollback
SERVICE``) is shown with :func:`blocker` and refused by ``zixly deploy`` (docs/upgrades.md); any
other upgrade -- one hop or several, each hop's pin deployed in turn -- and a downgrade whose rules
say how to revert (``downgrade.until``) is deployed behind one checkpoint of the service's data
(:func:`checkpointed`, :func:`checkpoint_tag`, :mod:`zixly_stack.upgrade`).
A release rendered before versions were recorded has none: nothing is compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..catalog.datastores import ENGINES, engine_of
from ..catalog.stack import primary_container
from ..catalog.upgrades import Hop, Move, MoveRefused, parse_version, plan_move
from ..config.loader import Catalog, EnvConfig
from ..config.yamlsrc import dotted
from ..errors import ConfigError, Location, Problem
from ..models.upgrade import UpgradeRules
from .datamove import DataMove, move_blocker


class Planned(Protocol):
    """What :func:`refuse_moves` reads of a host's plan (:class:`~zixly_stack.plan.model.HostPlan`)."""

    @property
    def upgrades(self) -> tuple[Move, ...]: ...

    @property
    def refused(self) -> tuple[Problem, ...]: ...

    @property
    def data_moves(self) -> tuple[DataMove, ...]: ...


@dataclass(frozen=True)
class UpgradeInputs:
    """The catalog's upgrade rules and, per service, where its version is pinned."""

    rules: Mapping[str, UpgradeRules] = field(default_factory=dict)
    pins: Mapping[str, tuple[Location, str]] = field(default_factory=dict)  # service -> (location, key path)
    engines: Mapping[str, str] = field(default_factory=dict)  # data stores: service -> engine (catalog.datastores)

    def major(self, service: str, tag: str) -> str:
        """The major of *tag* under *service*'s rules ("" when it does not parse)."""
        rules = self.rules.get(service)
        v = parse_version(rules, tag) if rules is not None else None
        return v.major_text if v is not None else ""


def upgrade_inputs(catalog: Catalog, cfg: EnvConfig) -> UpgradeInputs:
    """The rules of every catalog service that has some, and where each service's version is pinned:
    the environment's ``services.<name>.version`` when it overrides, else the catalog's image tag."""
    rules: dict[str, UpgradeRules] = {}
    pins: dict[str, tuple[Location, str]] = {}
    engines: dict[str, str] = {}
    for name, svc in catalog.services.items():
        if svc.upgrade is None:
            continue
        rules[name] = svc.upgrade
        engine = engine_of(svc)
        if engine is not None:
            engines[name] = engine.name
        override = cfg.environment.services.get(name)
        if override is not None and override.version:
            path: tuple[str | int, ...] = ("services", name, "version")
            pins[name] = (cfg.env_source.positions.loc(path), dotted(path))
        else:
            path = ("containers", primary_container(svc), "image", "tag")
            pins[name] = (catalog.sources[name].positions.loc(path), dotted(path))
    return UpgradeInputs(rules, pins, engines)


def refuse_moves(plans: Iterable[Planned], inputs: UpgradeInputs, *, deploying: bool) -> None:
    """Raise :class:`ConfigError` for every move the rules forbid and, when *deploying*, every move
    a deploy cannot carry out yet, located at the pin that asked for it. Nothing has changed yet."""
    problems: dict[str, Problem] = {}
    for plan in plans:
        for p in plan.refused:
            problems.setdefault(str(p), p)
        for move in plan.upgrades if deploying else ():
            why = blocker(move, plan.data_moves, inputs.engines.get(move.service))
            if why:
                loc, path = inputs.pins.get(move.service, (Location("(catalog)"), ""))
                p = Problem(loc, path, f"the host runs {move.src}: {move.direction} to {move.dst}: {why}",
                            "`zixly plan` shows the hops; docs/upgrades.md")
                problems.setdefault(str(p), p)
    if problems:
        raise ConfigError(list(problems.values()))


def manifest_versions(doc: Mapping[str, Any] | None) -> dict[str, str]:
    """``versions`` of a manifest (empty for a release rendered before they were recorded)."""
    found = (doc or {}).get("versions")
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}


def host_upgrades(
    inputs: UpgradeInputs, old: Mapping[str, str], new: Mapping[str, str]
) -> tuple[tuple[Move, ...], tuple[Problem, ...]]:
    """Moves of services present in both releases whose version changed, and refused moves.

    Services without rules are not planned (their version change is a plain image change).
    """
    moves: list[Move] = []
    refused: list[Problem] = []
    for name in sorted(set(old) & set(new)):
        rules = inputs.rules.get(name)
        if rules is None or old[name] == new[name]:
            continue
        try:
            move = plan_move(name, rules, old[name], new[name])
        except MoveRefused as exc:
            loc, path = inputs.pins.get(name, (Location("(catalog)"), ""))
            refused.append(Problem(loc, path, f"the host runs {old[name]}: {exc.message}", exc.hint))
            continue
        if move is not None:
            moves.append(move)
    return tuple(moves), tuple(refused)


def checkpointed(move: Move) -> bool:
    """The deploy carries *move* out behind a checkpoint: an upgrade, or a downgrade that reverts."""
    return move.direction == "upgrade" or move.revert is not None


def revert_text(move: Move) -> str:
    """What a downgrade that reverts runs, in words ("" for any other move)."""
    if move.revert is None:
        return ""
    return (f"reverts the migrations {move.dst} does not know with {move.src}'s `{' '.join(move.revert.command)}`, "
            f"one a run (counted on the host before anything stops, at most {move.revert.limit}; an "
            f"irreversible one refuses the downgrade)")


def checkpoint_tag(move: Move) -> str:
    """``upgrade:<service>:<from>-><to>``: the restic tag of the move's checkpoint."""
    return f"upgrade:{move.service}:{move.src}->{move.dst}"


def blocker(move: Move, data_moves: Iterable[DataMove] = (), engine: str | None = None) -> str:
    """Why ``zixly deploy`` cannot carry out *move* yet ("" when it can: an upgrade of one hop or several,
    a downgrade with no data to restore, or a data-store major of one hop whose move to a new volume is
    planned: *data_moves*)."""
    if move.direction == "downgrade":
        if move.downgrade_needs == "none" or move.revert is not None:
            return ""
        how = ("`" + " ".join(move.downgrade_command) + "` with the newer version first, or the data restored"
               if move.downgrade_needs == "revert" else "the data from before the upgrade restored")
        return (f"a downgrade needs {how}: `zixly upgrade ENV --rollback {move.service}` returns its last upgrade "
                "to the checkpoint it took")
    if len(move.hops) == 1 and move.hops[0].data_format:
        return move_blocker(move, next((d for d in data_moves if d.service == move.service), None), engine)
    if len(move.hops) > 1 and any(h.data_format for h in move.hops):
        nxt = move.hops[0].dst
        return (f"{len(move.hops)} hops with a data-store major among them: deploy them one at a time "
                f"(`zixly upgrade ENV {move.service} --to {nxt}`)")
    return ""


def hop_rollback(rollback: str) -> str:
    """What undoes a hop, in words."""
    if rollback == "image":
        return "image rollback alone is safe"
    if rollback == "revert":
        return "image rollback is NOT safe alone: revert with the newer image first, or restore the data"
    return "image rollback is NOT safe: the data from before this hop must be restored"


_RUN = {"on_start": "on start of {c}", "job": "job {c}", "hook": "hook {h}", "command": "in {c}"}


def _hop_lines(i: int, h: Hop, moved: DataMove | None = None) -> list[str]:
    out = [f"      hop {i}: {h.src} -> {h.dst}: {hop_rollback(h.rollback)}"]
    if h.data_format:
        out.append("        data: dump and restore into a new data directory (new major)" + (
            f": {moved.old_volume} -> {moved.new_volume} (the old one kept until --prune)" if moved else ""))
    for mig in h.migrations:
        how = _RUN[mig.run].format(c=mig.container, h=mig.hook)
        out.append(f"        migration: {mig.name} [{how}; {'reversible' if mig.reversible else 'irreversible'}]")
    return out


def swarm_blocker(m: Move) -> tuple[str, str]:
    """Why swarm mode cannot carry out *m* (its rolling update has no checkpoint, data move, revert nor
    hops in turn), and the hint; ``("", "")`` when it can. PURE."""
    if any(h.data_format for h in m.hops):
        return ("a data-store major needs its data moved to a new volume, which swarm mode does not do yet",
                "keep the major in swarm mode; docs/upgrades.md")
    if m.revert is not None:
        return (f"it needs `{' '.join(m.revert.command)}` with {m.src} first, which swarm mode does not run",
                "keep the version in swarm mode; docs/upgrades.md")
    if len(m.hops) > 1:
        return (f"{len(m.hops)} hops, which swarm mode does not deploy in turn (a rolling update would skip the "
                "versions between)",
                f"deploy them one at a time in swarm mode (`zixly upgrade ENV {m.service} --to {m.hops[0].dst}`)")
    return ("", "")


def upgrade_lines(moves: tuple[Move, ...], data_moves: tuple[DataMove, ...] = (),
                  engines: Mapping[str, str] | None = None, *, swarm: bool = False) -> list[str]:
    """The plan's upgrade section (indented for a host block); never holds a secret (versions only).
    *swarm*: what swarm mode refuses besides the rules (:func:`swarm_blocker`) is shown as refused."""
    if not moves:
        return []
    lines = [f"  upgrades ({len(moves)}):"]
    for m in moves:
        n = len(m.hops)
        lines.append(f"    {m.direction} {m.service}: {m.src} -> {m.dst} ({n} hop{'s' if n != 1 else ''})")
        moved = next((d for d in data_moves if d.service == m.service), None)
        for i, h in enumerate(m.hops, 1):
            lines.extend(_hop_lines(i, h, moved))
        why = blocker(m, data_moves, (engines or {}).get(m.service, _engine_guess(m, data_moves)))
        if swarm and not why:
            why = swarm_blocker(m)[0]
        if why:
            lines.append(f"      ! zixly deploy refuses this move: {why}")
        elif checkpointed(m):
            if m.revert is not None:
                lines.append(f"      revert: {revert_text(m)}")
            lines.append(f"      checkpoint: {checkpoint_tag(m)} (restic, before anything stops; "
                         f"`zixly upgrade ENV --rollback {m.service}` returns to it)")
    return lines


def _engine_guess(m: Move, data_moves: tuple[DataMove, ...]) -> str | None:
    """The engine of *m*'s service when a data move names it, else the service's own name when it is a
    known engine (``mariadb``, ``redis``), else postgres for a data-format move (the ``warehouse``); used
    where the catalog's engines are not at hand."""
    found = next((d.engine for d in data_moves if d.service == m.service), None)
    if found or not any(h.data_format for h in m.hops):
        return found
    return m.service if m.service in ENGINES else "postgres"


def upgrade_json(moves: tuple[Move, ...], data_moves: tuple[DataMove, ...] = ()) -> list[dict[str, Any]]:
    """JSON view of the moves."""
    return [
        {
            "service": m.service,
            "direction": m.direction,
            "from": m.src,
            "to": m.dst,
            "hops": [
                {
                    "from": h.src,
                    "to": h.dst,
                    "rollback": h.rollback,
                    "image_rollback_safe": h.rollback == "image",
                    "data_format": h.data_format,
                    "migrations": [{"name": g.name, "run": g.run, "reversible": g.reversible} for g in h.migrations],
                }
                for h in m.hops
            ],
            "data_move": next(({"from_volume": d.old_volume, "to_volume": d.new_volume}
                               for d in data_moves if d.service == m.service), None),
            "deploy_refuses": blocker(m, data_moves, _engine_guess(m, data_moves)) or None,
            "checkpoint": checkpoint_tag(m) if checkpointed(m) and not blocker(
                m, data_moves, _engine_guess(m, data_moves)) else None,
            "revert": {"command": list(m.revert.command), "container": m.revert.container,
                       "max": m.revert.limit} if m.revert is not None else None,
        }
        for m in moves
    ]
