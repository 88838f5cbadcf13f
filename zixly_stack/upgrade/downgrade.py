"""A revert-style downgrade on a host: the upgrade executor's two calls for it (:mod:`.revert` decides).

* :func:`count` (the checkpoint step, nothing stopped yet, after the checkpoint is taken): the
  migrations the database ran (``applied`` by psql in the service's PostgreSQL server), the ones
  the older image knows and the newer image's (``known`` in a one-off container of each release's
  compose file: the older image is on the host, provided before anything stops); what cannot be
  reverted is refused here, with nothing stopped.
* :func:`carry_out` (the service's containers stopped, before the older images start): the newer
  image's revert command in a one-off container of the release that runs it (the service's env,
  secrets and networks, like a job migration), until the database's last migration is one the
  older version knows; what failed is returned, and the executor restores the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.upgrades import Move, Revert
from ..render.backup.plan import ServicePlan
from .revert import (
    Known,
    RevertRefused,
    applied_argv,
    applied_names,
    check_pending,
    compose_one_off,
    one_off,
    parse_known,
    revert_until_known,
)
from .work import HostWork, UpgradeFailed

TIMEOUT = 900  # one run of the revert command (a migration's down step on a large table)


@dataclass
class RevertRun:
    """One downgrade's revert: where it runs and what it found to revert."""

    rule: Revert
    older_file: str  # the compose file that runs the older version (the release being deployed)
    newer_file: str  # the compose file that runs the newer one (the release running now)
    server: str  # the PostgreSQL server container holding the service's database
    database: str
    todo: tuple[str, ...] = ()  # to revert, newest first (:func:`count`)
    known: tuple[str, ...] = ()  # the migrations the older version knows
    reverted: tuple[str, ...] = ()


def revert_run(move: Move, data: ServicePlan, files: tuple[str, str] | None) -> RevertRun | None:
    """The revert of *move* (None: not a downgrade that reverts, or its release files are not known);
    *data*: its checkpoint's items (the database), *files*: (older, newer) compose files."""
    item = next((i for i in data.items if i.service == move.service and i.engine == "postgres"), None)
    if move.revert is None or files is None or item is None:
        return None
    return RevertRun(move.revert, files[0], files[1], item.container, item.database)


def _known(work: HostWork, file: str, rule: Revert, version: str) -> Known:
    res = work.site.try_run(one_off(compose_one_off(file), rule.container, rule.known), timeout=600, read=True)
    if not res.ok:
        raise UpgradeFailed(f"listing the migrations {version} knows failed: {work.site.redact(res.tail())}")
    return parse_known(res.out)


def _applied(work: HostWork, run: RevertRun) -> list[str]:
    res = work.site.try_run(applied_argv(run.server, run.database, run.rule.applied), timeout=120, read=True)
    if not res.ok:
        raise RevertRefused(f"reading the migrations the database ran failed: {work.site.redact(res.tail())}")
    return applied_names(res.out)


def count(work: HostWork, move: Move, run: RevertRun) -> None:
    """What the downgrade reverts, found before anything stops; :class:`UpgradeFailed` when it cannot."""
    try:
        applied = _applied(work, run)
        old = _known(work, run.older_file, run.rule, move.dst)
        new = _known(work, run.newer_file, run.rule, move.src)
        run.todo = check_pending(move.service, move.src, move.dst, applied, old, new, run.rule.limit)
    except RevertRefused as exc:
        raise UpgradeFailed(f"{exc}: the downgrade {move.src} -> {move.dst} is refused; `zixly upgrade ENV "
                            f"--rollback {move.service}` returns a finished upgrade to its checkpoint; "
                            "nothing was stopped") from None
    run.known = old.names
    work.say(f"downgrade {move.service}: reverts {len(run.todo)} migration(s) with {move.src}'s "
             f"`{' '.join(run.rule.command)}`" + (f" (newest {run.todo[0]})" if run.todo else ""))


def carry_out(work: HostWork, move: Move, run: RevertRun) -> str:
    """Revert (module doc); "" or why it stopped."""
    if not run.todo:
        return ""
    rule = run.rule
    argv = one_off(compose_one_off(run.newer_file), rule.container, rule.command)

    def once() -> tuple[bool, str]:
        res = work.site.try_run(argv, timeout=TIMEOUT, read=True)
        return res.ok, work.site.redact(res.tail())

    try:
        run.reverted = revert_until_known(once, lambda: _applied(work, run), run.known, rule.limit,
                                          lambda text: work.say(f"downgrade {move.service}: {text}"))
    except RevertRefused as exc:
        return f"revert with {move.src}'s `{' '.join(rule.command)}` stopped: {exc}"
    work.say(f"downgrade {move.service}: reverted {len(run.reverted)} migration(s); {move.dst} starts next")
    return ""
