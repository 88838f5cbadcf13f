"""Upgrade rules: parse a service's version, check the rules, plan a version move as hops.

Pure. :func:`check_service_rules` and :func:`check_upgrade_overrides` (registered rules) return located
:class:`Problem` lists like every other check; :func:`plan_move` turns a move from one
version to another into :class:`Hop` s (or raises :class:`MoveRefused` with the hops the rules
would allow). The rules are data (``upgrade:`` in ``services/<name>/service.yaml``,
:mod:`zixly_stack.models.upgrade`); docs/upgrades.md describes them per app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from ..config.loader import Catalog, EnvConfig
from ..config.problems import did_you_mean
from ..config.yamlsrc import dotted
from ..errors import Problem
from ..models.environment import ServiceOverride
from ..models.service import Service
from ..models.upgrade import Migration, UpgradeRules
from .datastores import engine_of
from .stack import Stack, primary_container

Rollback = Literal["image", "revert", "restore"]
PathT = tuple[str | int, ...]


@dataclass(frozen=True)
class Version:
    """A parsed version: ``major`` and ``minor`` as tuples of numbers (compared in that order)."""

    tag: str
    major: tuple[int, ...]
    minor: tuple[int, ...]

    @property
    def key(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Sort key: major first, then minor."""
        return (self.major, self.minor)

    @property
    def major_text(self) -> str:
        """``35`` or ``11.4``."""
        return ".".join(map(str, self.major))


def _numbers(text: str | None) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"[0-9]+", text or ""))


def compile_pattern(rules: UpgradeRules) -> re.Pattern[str] | None:
    """The rules' version pattern, or None when it does not compile or has no ``major`` group."""
    try:
        pattern = re.compile(rules.version)
    except re.error:
        return None
    return pattern if "major" in pattern.groupindex else None


def parse_version(rules: UpgradeRules, tag: str) -> Version | None:
    """*tag* parsed by the rules' pattern (the whole tag must match), or None."""
    pattern = compile_pattern(rules)
    m = pattern.fullmatch(tag) if pattern is not None else None
    if m is None or not _numbers(m.group("major")):
        return None
    minor = m.groupdict().get("minor")
    return Version(tag, _numbers(m.group("major")), _numbers(minor))


def service_version(svc: Service) -> str:
    """The version of a service: its primary container's image tag (what ``version:`` overrides)."""
    return svc.containers[primary_container(svc)].image.tag


def host_versions(stack: Stack, host: str) -> dict[str, str]:
    """Service -> version of every service placed on *host* (recorded in its manifest), sorted."""
    return {p.name: service_version(p.service) for p in sorted(stack.placements, key=lambda p: p.name)
            if p.host == host}


def stack_versions(stack: Stack) -> dict[str, str]:
    """Service -> version of every service of the stack (a swarm's manifest: one for the whole swarm), sorted."""
    return {p.name: service_version(p.service) for p in sorted(stack.placements, key=lambda p: p.name)}


@dataclass(frozen=True)
class Hop:
    """One step of a move: the migrations the new image brings and what undoes it.

    ``rollback``: ``image`` (starting the previous image again is enough), ``revert`` (run the
    downgrade command with the newer image first, else restore) or ``restore`` (the data must be
    restored from before the hop).
    """

    src: str
    dst: str
    migrations: tuple[Migration, ...]
    rollback: Rollback
    data_format: bool = False  # a data-store major: dump/restore into a new data directory


@dataclass(frozen=True)
class Revert:
    """How a downgrade reverts (``downgrade: {needs: revert, until: ...}``): ``command`` run with the
    newer image in ``container`` until the database's last migration (``applied``, SQL) is one the
    older image knows (``known``, an argv run in it), at most ``limit`` times."""

    container: str
    command: tuple[str, ...]
    known: tuple[str, ...]
    applied: str
    limit: int


@dataclass(frozen=True)
class Move:
    """A planned version move of one service (``revert``: a downgrade ``zixly deploy`` reverts)."""

    service: str
    src: str
    dst: str
    direction: Literal["upgrade", "downgrade"]
    hops: tuple[Hop, ...]
    downgrade_needs: str = ""  # for a downgrade: what the rules say it needs
    downgrade_command: tuple[str, ...] = ()
    revert: Revert | None = None


class MoveRefused(Exception):
    """The rules forbid the move; ``allowed`` is the sequence of versions that would be allowed."""

    def __init__(self, message: str, allowed: tuple[str, ...], hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.allowed = allowed
        self.hint = hint


def _hop(rules: UpgradeRules, a: Version, b: Version) -> Hop:
    major = a.major != b.major
    migs = tuple(m for m in rules.migrations if m.when == "always" or major)
    data_format = major and rules.major_change == "dump_restore"
    rollback: Rollback
    if not migs and not data_format:
        rollback = "image"
    elif not data_format and all(m.reversible for m in migs) and rules.downgrade.needs == "revert":
        rollback = "revert"
    else:
        rollback = "restore"
    return Hop(a.tag, b.tag, migs, rollback, data_format)


def _step(a: Version, b: Version) -> int | None:
    """How many majors a hop crosses (None: majors are dotted, no step can be counted)."""
    if len(a.major) != 1 or len(b.major) != 1:
        return None
    return abs(b.major[0] - a.major[0])


def plan_move(service: str, rules: UpgradeRules, src: str, dst: str) -> Move | None:
    """The move from *src* to *dst* as hops (None: the same version).

    An upgrade stops at every ``path`` version strictly between the two; each hop may cross at
    most ``max_major_step`` majors. A downgrade is one hop whose rollback is what the rules'
    ``downgrade`` needs. Raises :class:`MoveRefused` (with the allowed sequence) when a tag does
    not parse or a hop would cross too many majors.
    """
    a, b = parse_version(rules, src), parse_version(rules, dst)
    for tag, v in ((src, a), (dst, b)):
        if v is None:
            raise MoveRefused(f"{service}: version {tag!r} does not match upgrade.version {rules.version}", (),
                              "use a tag of the form the catalog pins")
    assert a is not None and b is not None
    if a.key == b.key:
        return None
    if b.key < a.key:
        down = rules.downgrade
        needs = down.within_major if down.within_major is not None and a.major == b.major else down.needs
        hop = Hop(a.tag, b.tag, (), "image" if needs == "none" else needs)
        revert = None
        if needs == "revert" and down.until is not None and down.container and down.command:
            revert = Revert(down.container, tuple(down.command), tuple(down.until.known), down.until.applied,
                            down.until.max)
        return Move(service, src, dst, "downgrade", (hop,), needs, tuple(down.command) if needs == "revert" else (),
                    revert)
    stops = [a]
    for tag in rules.path:
        v = parse_version(rules, tag)
        if v is not None and a.key < v.key < b.key:
            stops.append(v)
    stops.append(b)
    _refuse_long_hops(service, rules, stops)
    hops = tuple(_hop(rules, x, y) for x, y in pairwise(stops))
    return Move(service, src, dst, "upgrade", hops)


def _refuse_long_hops(service: str, rules: UpgradeRules, stops: list[Version]) -> None:
    limit = rules.max_major_step
    if limit is None:
        return
    allowed: list[str] = [stops[0].tag]
    bad: list[str] = []
    for x, y in pairwise(stops):
        step = _step(x, y)
        if step is not None and step > limit:
            bad.append(f"{x.tag} -> {y.tag} crosses {step} majors")
            allowed += [f"{m}.x" for m in range(x.major[0] + limit, y.major[0], limit)]
        allowed.append(y.tag)
    if bad:
        missing = [s for s in allowed if s.endswith(".x")]
        raise MoveRefused(
            f"{service}: {'; '.join(bad)}; upgrade.max_major_step is {limit} (the vendor refuses to skip a major)",
            tuple(allowed),
            f"allowed: {' -> '.join(allowed)}: add a {', '.join(missing)} version to upgrade.path "
            "(or move one major at a time)",
        )


# --- checks ----------------------------------------------------------------------------------


def _problem(cat: Catalog, svc: str, path: PathT, message: str, hint: str = "") -> Problem:
    return Problem(cat.sources[svc].positions.loc(path), dotted(path), message, hint)


def _check_pattern(cat: Catalog, svc: Service, rules: UpgradeRules) -> list[Problem]:
    try:
        pattern = re.compile(rules.version)
    except re.error as exc:
        return [_problem(cat, svc.name, ("upgrade", "version"), f"not a regular expression: {exc}",
                         "e.g. '^(?P<major>[0-9]+)\\.(?P<minor>[0-9]+\\.[0-9]+)$'")]
    if "major" not in pattern.groupindex:
        return [_problem(cat, svc.name, ("upgrade", "version"), "the pattern has no named group 'major'",
                         "name the vendor's major version: (?P<major>[0-9]+)")]
    return []


def _check_versions(cat: Catalog, svc: Service, rules: UpgradeRules) -> list[Problem]:
    out: list[Problem] = []
    primary = primary_container(svc)
    current = parse_version(rules, service_version(svc))
    if current is None:
        out.append(_problem(cat, svc.name, ("containers", primary, "image", "tag"),
                            f"tag {service_version(svc)!r} does not match upgrade.version {rules.version}",
                            "change the pattern or the tag so the version can be compared"))
    elif rules.max_major_step is not None and len(current.major) != 1:
        out.append(_problem(cat, svc.name, ("upgrade", "max_major_step"),
                            f"the major {current.major_text!r} is not one number: no step can be counted",
                            "capture a single number as 'major', or drop max_major_step"))
    previous: tuple[str, Version] | None = None
    for i, tag in enumerate(rules.path):
        v = parse_version(rules, tag)
        if v is None:
            out.append(_problem(cat, svc.name, ("upgrade", "path", i),
                                f"{tag!r} does not match upgrade.version {rules.version}",
                                "list tags of the form the catalog pins"))
            continue
        if previous is not None and v.key <= previous[1].key:
            out.append(_problem(cat, svc.name, ("upgrade", "path", i),
                                f"{tag!r} is not newer than {previous[0]!r}", "list the path oldest first"))
        previous = (tag, v)
    return out


def _check_container(cat: Catalog, svc: Service, path: PathT, name: str | None, role: str | None) -> list[Problem]:
    if name is None:
        return [_problem(cat, svc.name, path, "names no container", "add container: <one of this service's>")]
    found = svc.containers.get(name)
    if found is None:
        return [_problem(cat, svc.name, (*path, "container"), f"no container named {name!r}",
                         did_you_mean(name, svc.containers) or f"containers: {', '.join(svc.containers)}")]
    if role is not None and found.role != role:
        return [_problem(cat, svc.name, (*path, "container"), f"container {name!r} is not a one-shot job",
                         "a 'job' migration runs in a container with role: job")]
    return []


def _check_migrations(cat: Catalog, svc: Service, rules: UpgradeRules) -> list[Problem]:
    out: list[Problem] = []
    hooks = [h.name for h in svc.hooks]
    for i, m in enumerate(rules.migrations):
        path: PathT = ("upgrade", "migrations", i)
        if m.run == "hook":
            if m.hook not in hooks:
                out.append(_problem(cat, svc.name, (*path, "hook"), f"no hook named {m.hook!r} in this service",
                                    did_you_mean(m.hook or "", hooks) or "name one of this service's hooks"))
            continue
        out.extend(_check_container(cat, svc, path, m.container, "job" if m.run == "job" else None))
        if m.run == "command" and not m.command:
            out.append(_problem(cat, svc.name, path, "a 'command' migration needs its command",
                                "command: [argv, ...]"))
    down = rules.downgrade
    if down.needs == "revert":
        out.extend(_check_container(cat, svc, ("upgrade", "downgrade"), down.container, None))
        if not down.command:
            out.append(_problem(cat, svc.name, ("upgrade", "downgrade"), "'revert' needs the command that reverts",
                                "command: [argv, ...] run with the newer image"))
    return out + _check_until(cat, svc, rules)


_SELECT = re.compile(r"(?is)\s*SELECT\s[^;]*;?\s*")


def _check_until(cat: Catalog, svc: Service, rules: UpgradeRules) -> list[Problem]:
    """``downgrade.until``: only for a revert, one SELECT, and a PostgreSQL database to run it in."""
    down = rules.downgrade
    if down.until is None:
        return []
    path: PathT = ("upgrade", "downgrade", "until")
    if down.needs != "revert":
        return [_problem(cat, svc.name, path, f"'until' says when a revert stops, and needs is {down.needs!r}",
                         "remove until, or needs: revert")]
    if not _SELECT.fullmatch(down.until.applied):
        return [_problem(cat, svc.name, (*path, "applied"), "not one SELECT statement",
                         "e.g. SELECT name FROM migrations ORDER BY id")]
    if not any(d.store == "postgres" for d in svc.backup.databases):
        return [_problem(cat, svc.name, (*path, "applied"), "the service has no PostgreSQL database to read it in",
                         "backup.databases: [{store: postgres}] names the database the revert reads")]
    return []


def check_service_rules(cat: Catalog, svc: Service) -> list[Problem]:
    """One service's ``upgrade:`` rules: pattern, pinned tag, path, migrations, downgrade."""
    rules = svc.upgrade
    if rules is None:
        return []
    out = _check_pattern(cat, svc, rules)
    if out:
        return out
    return _check_versions(cat, svc, rules) + _check_migrations(cat, svc, rules)


def _check_data_major(cat: Catalog, cfg: EnvConfig, name: str, o: ServiceOverride) -> list[Problem]:
    """``services.<name>.data_major`` names the major of the version the environment pins, of a data
    store whose new major moves its data (written by ``zixly upgrade``; docs/upgrades.md)."""
    svc = cat.services.get(name)
    if not o.data_major or svc is None:
        return []
    path: PathT = ("services", name, "data_major")
    loc = cfg.env_source.positions.loc(path)
    if svc.upgrade is None or svc.upgrade.major_change != "dump_restore" or engine_of(svc) is None:
        return [Problem(loc, dotted(path), f"{name} is not a data store whose major moves to a new volume",
                        "remove data_major: only data stores whose rules say upgrade.major_change: dump_restore "
                        "(PostgreSQL, MariaDB, Redis) have it")]
    if svc.kind == "store" and cfg.environment.stores == "dedicated":
        return [Problem(loc, dotted(path), f"{name} runs inside each app's project (stores: dedicated): its "
                        "major move is not automated",
                        "move the data by hand (docs/upgrades.md), or use shared stores")]
    tag = o.version or service_version(svc)
    v = parse_version(svc.upgrade, tag)
    if v is not None and v.major_text != o.data_major:
        return [Problem(loc, dotted(path), f"data_major {o.data_major} is not the major of the pinned version {tag}",
                        f"`zixly upgrade ENV {name} --to VERSION` writes both; or set data_major: {v.major_text!r}")]
    return []


def check_upgrade_overrides(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """An environment's ``services.<name>.version`` must parse under the service's rules; its
    ``data_major`` must be that version's major."""
    out: list[Problem] = []
    for name, o in cfg.environment.services.items():
        if o is not None:
            out.extend(_check_data_major(cat, cfg, name, o))
        svc = cat.services.get(name)
        if o is None or not o.version or svc is None or svc.upgrade is None or compile_pattern(svc.upgrade) is None:
            continue
        if parse_version(svc.upgrade, o.version) is None:
            path: PathT = ("services", name, "version")
            out.append(Problem(cfg.env_source.positions.loc(path), dotted(path),
                               f"{o.version!r} does not match {name}'s upgrade.version {svc.upgrade.version}",
                               f"a version like {service_version(svc)!r} (services/{name}/service.yaml)"))
    return out
