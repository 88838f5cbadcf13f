"""A downgrade that reverts: what to revert, the bounded revert loop, its argv. Pure.

A vendor's revert command (``n8n db:revert``) undoes ONE migration, and only with the version
that ran it; run again it undoes the next. The catalog's ``downgrade.until``
(:class:`~zixly_stack.catalog.upgrades.Revert`) says how to know when to stop: ``known`` prints the
migrations an image's package knows (one a line, `` irreversible`` after one without a down step)
and ``applied`` lists the migrations the database ran, oldest first. The migrations to revert are
the database's newest ones the older version does not know (:func:`pending`), newest first.

* :func:`check_pending` refuses, before anything stops, a revert that cannot work: a migration
  the newer image has no code for, one without a down step, more than the rules' bound;
* :func:`revert_until_known` runs the command until the database's last migration is one the older
  version knows, reading the database after each run: a run that fails, or that leaves the last
  migration where it was (n8n exits 0 after "was irreversible"), or anything but exactly that one
  migration gone, stops it; at most ``limit`` runs;
* :func:`one_off` is the argv of a command run in a fresh container of an image (its first word
  replacing the entrypoint): ``docker compose run`` of the service on a host (its env, secrets and
  networks, as job migrations run), ``docker run`` in the engine tests: the same argv either way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from ..commands import db
from ..commands import docker as dk

RunOnce = Callable[[], tuple[bool, str]]  # one run of the revert command: (exit 0, its output's end)
ReadApplied = Callable[[], Sequence[str]]  # the migrations the database ran, oldest first
NOT_ROUTED = "traefik.enable=false"  # a one-off container of a routed service must not receive traffic


class RevertRefused(Exception):
    """The revert cannot be (or was not) carried out; the message says why and where it stopped."""


@dataclass(frozen=True)
class Known:
    """The migrations an image's package knows, in order, and which of them have no down step."""

    names: tuple[str, ...]
    irreversible: frozenset[str]


def parse_known(text: str) -> Known:
    """``known``'s output: one migration a line, ``<name>`` or ``<name> irreversible``; other lines
    (a log line an entrypoint printed) are ignored only when they are not one word (+ the mark)."""
    names: list[str] = []
    irreversible: set[str] = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) == 1 or (len(words) == 2 and words[1] == "irreversible"):
            names.append(words[0])
            if len(words) == 2:
                irreversible.add(words[0])
    return Known(tuple(names), frozenset(irreversible))


def pending(applied: Sequence[str], known: Collection[str]) -> tuple[str, ...]:
    """The database's newest migrations up to the last one *known* holds, newest first."""
    out: list[str] = []
    for name in reversed(applied):
        if name in known:
            break
        out.append(name)
    return tuple(out)


def check_pending(service: str, newer: str, older: str, applied: Sequence[str], old: Known, new: Known,
                  limit: int) -> tuple[str, ...]:
    """The migrations to revert (newest first); :class:`RevertRefused` when the revert cannot work."""
    if not old.names:
        raise RevertRefused(f"{service}: {older}'s image listed no migrations: cannot tell what to revert")
    if applied and not (set(applied) & set(old.names)):
        raise RevertRefused(f"{service}: the database ran none of the migrations {older} knows: "
                            "not the database this version ran on")
    todo = pending(applied, old.names)
    unknown = [n for n in todo if n not in new.names]
    if unknown:
        raise RevertRefused(f"{service}: {newer} has no code for migration {unknown[0]} the database ran: "
                            f"its revert cannot undo it")
    stuck = [n for n in todo if n in new.irreversible]
    if stuck:
        raise RevertRefused(f"{service}: {newer}'s migration {stuck[0]} has no down step (irreversible): "
                            f"{len(todo)} migration(s) {older} does not know cannot be reverted")
    if len(todo) > limit:
        raise RevertRefused(f"{service}: {len(todo)} migrations to revert, more than upgrade.downgrade.until.max "
                            f"({limit})")
    return todo


def revert_until_known(run_once: RunOnce, read_applied: ReadApplied, known: Collection[str], limit: int,
                       say: Callable[[str], None] = lambda text: None) -> tuple[str, ...]:
    """Run the revert until the database's last migration is in *known* (module doc); what it reverted,
    newest first. :class:`RevertRefused` names the migration it stopped at and what was reverted."""
    done: list[str] = []
    current = list(read_applied())

    def stop(why: str) -> RevertRefused:
        kept = f"; reverted before: {', '.join(done)}" if done else "; nothing was reverted"
        return RevertRefused(why + kept)

    while pending(current, known):
        head = current[-1]
        if len(done) >= limit:
            raise stop(f"{len(pending(current, known))} migration(s) still to revert after {limit} reverts "
                       f"(the bound), at {head}")
        ok, out = run_once()
        if not ok:
            raise stop(f"reverting {head} failed: {out or 'no output'}")
        after = list(read_applied())
        if after == current:
            raise stop(f"reverting {head} made no progress (the database's last migration is still it): "
                       f"{out or 'no output'}")
        if after != current[:-1]:
            raise stop(f"reverting {head} changed the migrations otherwise than removing it (now "
                       f"{len(after)}, last {after[-1] if after else 'none'})")
        done.append(head)
        current = after
        say(f"reverted {head} ({len(done)})")
    return tuple(done)


def one_off(runner: Sequence[str], target: str, argv: Sequence[str]) -> list[str]:
    """*argv* in a fresh container: *runner* (``docker run ...`` or ``docker compose run ...``) with the
    image's entrypoint replaced by argv's first word, *target* (an image or a compose service), the rest."""
    return [*runner, "--entrypoint", argv[0], target, *argv[1:]]


def compose_one_off(file: str) -> list[str]:
    """``docker compose run`` of a service of *file* on its own: removed after, no dependencies started,
    no TTY, not routed."""
    return dk.compose(file, "run", "--rm", "--no-deps", "-T", "--label", NOT_ROUTED)


def applied_argv(container: str, database: str, sql: str) -> list[str]:
    """``applied`` run by psql in the PostgreSQL server *container*, in *database* (its local superuser)."""
    return dk.exec_in(container, db.psql(database, sql))


def applied_names(out: str) -> list[str]:
    """psql's rows: one migration name a line."""
    return [line.strip() for line in out.splitlines() if line.strip()]
