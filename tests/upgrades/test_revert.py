"""The revert-style downgrade (n8n's ``db:revert`` with the newer image, once per migration the older
version does not know): the catalog's data, what the plan shows, the count that refuses before
anything stops, the bounded loop, the argv. PURE: a database and images played by lists (the real
n8n runs in tests/engine/test_kit_versions.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from tests.helpers import REPO
from zixly_stack.catalog.upgrades import Move, check_service_rules, plan_move
from zixly_stack.config.loader import load_catalog
from zixly_stack.deploy.apply import HostRun
from zixly_stack.errors import ConfigError
from zixly_stack.plan.model import ComposeShape, ProjectChange
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.plan.steps import CheckpointData, Converge, HostSteps, host_steps
from zixly_stack.plan.upgrade import blocker, checkpointed, refuse_moves, upgrade_json, upgrade_lines
from zixly_stack.plan.upgrade_steps import upgrade_sequence
from zixly_stack.render.backup.plan import BackupPlan, Item, ServicePlan
from zixly_stack.runner.base import Result
from zixly_stack.upgrade.downgrade import carry_out, count, revert_run
from zixly_stack.upgrade.guard import HostUpgrade
from zixly_stack.upgrade.host import release_files
from zixly_stack.upgrade.revert import (
    Known,
    RevertRefused,
    applied_argv,
    check_pending,
    compose_one_off,
    one_off,
    parse_known,
    pending,
    revert_until_known,
)
from zixly_stack.upgrade.work import HostWork, UpgradeFailed

from .conftest import edit, line_of
from .test_plan_section import INPUTS, MINE, NEW, RUNNING, plan_against

CATALOG = load_catalog(REPO)
N8N = "services/n8n/service.yaml"
OLD = ("A1", "B2", "C3")
NEWER = ("A1", "B2", "C3", "D4", "E5", "F6")


def n8n_down(src: str = "2.42.0", dst: str = "2.41.1") -> Move:
    rules = CATALOG.services["n8n"].upgrade
    assert rules is not None
    move = plan_move("n8n", rules, src, dst)
    assert move is not None
    return move


# -- the catalog ---------------------------------------------------------------------------------


def test_the_catalog_says_how_n8n_reverts_and_the_deploy_carries_it_out() -> None:
    move = n8n_down()
    assert move.direction == "downgrade" and move.revert is not None
    assert (move.revert.container, move.revert.command) == ("n8n", ("n8n", "db:revert"))
    assert move.revert.known[0] == "node" and "postgresMigrations" in move.revert.known[-1]
    assert move.revert.applied == "SELECT name FROM migrations ORDER BY id" and move.revert.limit == 50
    assert checkpointed(move) and blocker(move) == ""
    metabase = CATALOG.services["metabase"].upgrade
    assert metabase is not None
    mb = plan_move("metabase", metabase, "v0.65.0.1", "v0.64.1.5")
    assert mb is not None and mb.revert is None and not checkpointed(mb)  # no `until`: still refused
    assert blocker(mb).startswith("a downgrade needs `migrate down` with the newer version first")


def _problems(repo: Path) -> list[str]:
    cat = load_catalog(repo)
    return [str(p) for svc in cat.services.values() for p in check_service_rules(cat, svc)]


@pytest.mark.parametrize(("old", "new", "needle", "expected"), [
    ("      applied: SELECT name FROM migrations ORDER BY id",
     "      applied: DELETE FROM migrations WHERE true", "      applied: DELETE",
     "upgrade.downgrade.until.applied: not one SELECT statement (e.g. SELECT name FROM migrations ORDER BY id)"),
    ("      applied: SELECT name FROM migrations ORDER BY id",
     "      applied: SELECT name FROM migrations; DROP TABLE x", "      applied: SELECT name FROM migrations; DROP",
     "upgrade.downgrade.until.applied: not one SELECT statement"),
    ("    needs: revert\n    container: n8n", "    needs: restore\n    container: n8n", "      known:",
     "upgrade.downgrade.until: 'until' says when a revert stops, and needs is 'restore' (remove until, or needs: "
     "revert)"),
    ("    - {store: postgres}    # workflows", "    - {store: mariadb}    # workflows", "      applied: SELECT",
     "upgrade.downgrade.until.applied: the service has no PostgreSQL database to read it in"),
])
def test_a_bad_until_is_a_located_error(catalog_repo: Path, old: str, new: str, needle: str, expected: str) -> None:
    edit(catalog_repo, N8N, old, new)
    found = [t for t in _problems(catalog_repo) if expected in t]
    assert found and found[0].startswith(f"{N8N}:{line_of(catalog_repo, N8N, needle)}:"), _problems(catalog_repo)


def test_until_must_be_complete(catalog_repo: Path) -> None:
    edit(catalog_repo, N8N, "      max: 50\n", "      max: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_catalog(catalog_repo)
    line = line_of(catalog_repo, N8N, "      max: 0")
    assert f"{N8N}:{line}:" in str(caught.value) and "upgrade.downgrade.until.max" in str(caught.value)


# -- the plan ------------------------------------------------------------------------------------


def test_the_plan_shows_the_downgrade_with_its_reverts_and_checkpoint() -> None:
    plan = plan_against({**RUNNING, "n8n": "2.42.0", "metabase": NEW["versions"]["metabase"]})
    lines = upgrade_lines(plan.upgrades)
    at = lines.index("    downgrade n8n: 2.42.0 -> 2.41.1 (1 hop)")
    assert lines[at + 1:at + 4] == [
        "      hop 1: 2.42.0 -> 2.41.1: image rollback is NOT safe alone: revert with the newer image first, "
        "or restore the data",
        "      revert: reverts the migrations 2.41.1 does not know with 2.42.0's `n8n db:revert`, one a run "
        "(counted on the host before anything stops, at most 50; an irreversible one refuses the downgrade)",
        "      checkpoint: upgrade:n8n:2.42.0->2.41.1 (restic, before anything stops; `zixly upgrade ENV "
        "--rollback n8n` returns to it)",
    ]
    n8n = next(m for m in upgrade_json(plan.upgrades) if m["service"] == "n8n")
    assert n8n["deploy_refuses"] is None and n8n["checkpoint"] == "upgrade:n8n:2.42.0->2.41.1"
    assert n8n["revert"] == {"command": ["n8n", "db:revert"], "container": "n8n", "max": 50}
    with pytest.raises(ConfigError) as caught:  # the deploy carries it out: only the others are refused
        refuse_moves([plan], INPUTS, deploying=True)
    assert "n8n" not in str(caught.value)
    steps = host_steps(plan, MINE, "20261202T000000Z-abcd")
    checkpoint = next(s for s in steps.steps if isinstance(s, CheckpointData))
    assert "upgrade:n8n:2.42.0->2.41.1" in checkpoint.tags


def test_the_sequence_counts_before_the_checkpoint_and_reverts_after_the_stop() -> None:
    seq = upgrade_sequence(n8n_down(), CATALOG.services["n8n"])
    assert seq.executed and [(s.hop, s.kind) for s in seq.steps] == [
        (0, "count"), (0, "checkpoint"), (0, "verify"), (0, "free-space"),
        (1, "images"), (1, "stop"), (1, "revert"), (1, "start"), (1, "health-gate"),
    ]
    assert "`n8n db:revert` with 2.42.0's image in a one-off n8n container" in seq.steps[6].summary
    assert [s.kind for s in seq.on_failure] == ["stop", "restore", "start", "exit"]


# -- the count and the loop ------------------------------------------------------------------------


def test_known_reads_names_and_irreversible_marks_and_ignores_log_lines() -> None:
    known = parse_known("Trusting custom certificates from /opt/x.\nA1\nB2 irreversible\n\nC3\nD4 maybe\n")
    assert known == Known(("A1", "B2", "C3"), frozenset({"B2"}))


def test_pending_is_the_newest_unknown_migrations_newest_first() -> None:
    assert pending(NEWER, OLD) == ("F6", "E5", "D4")
    assert pending(OLD, OLD) == ()
    assert pending(("A1", "X9", "C3"), OLD) == ()  # the last one is known: nothing to revert


OLD_KNOWN = Known(OLD, frozenset())


def _count(applied: Sequence[str], new: Known, limit: int = 50, old: Known = OLD_KNOWN) -> tuple[str, ...]:
    return check_pending("n8n", "2.42.0", "2.41.1", applied, old, new, limit)


def test_the_count_refuses_what_cannot_be_reverted() -> None:
    assert _count(NEWER, Known(NEWER, frozenset({"B2"}))) == ("F6", "E5", "D4")  # B2 is not reverted
    with pytest.raises(RevertRefused, match=r"2.42.0's migration E5 has no down step \(irreversible\): 3 migr"):
        _count(NEWER, Known(NEWER, frozenset({"E5"})))
    with pytest.raises(RevertRefused, match=r"2\.42\.0 has no code for migration F6"):
        _count(NEWER, Known(NEWER[:-1], frozenset()))
    with pytest.raises(RevertRefused, match=r"3 migrations to revert, more than upgrade.downgrade.until.max \(2\)"):
        _count(NEWER, Known(NEWER, frozenset()), limit=2)
    with pytest.raises(RevertRefused, match=r"2\.41\.1's image listed no migrations"):
        _count(NEWER, Known(NEWER, frozenset()), old=Known((), frozenset()))
    with pytest.raises(RevertRefused, match=r"ran none of the migrations 2\.41\.1 knows"):
        _count(("Z1", "Z2"), Known(NEWER, frozenset()))


class FakeDb:
    """The migrations table; each revert run removes the last row unless told otherwise."""

    def __init__(self, rows: Sequence[str], stuck: str = "", fail: str = "", odd: str = "") -> None:
        self.rows = list(rows)
        self.stuck, self.fail, self.odd = stuck, fail, odd
        self.runs = 0

    def read(self) -> list[str]:
        return list(self.rows)

    def once(self) -> tuple[bool, str]:
        self.runs += 1
        head = self.rows[-1]
        if head == self.fail:
            return False, "Error reverting last migration. relation does not exist"
        if head == self.stuck:
            return True, f'Cancelled command. The last migration "{head}" was irreversible.'
        self.rows.pop()
        if head == self.odd:
            self.rows.pop()
        return True, "Finished"


def test_the_loop_reverts_until_the_older_version_knows_the_last_migration() -> None:
    db, said = FakeDb(NEWER), []
    assert revert_until_known(db.once, db.read, OLD, 50, said.append) == ("F6", "E5", "D4")
    assert db.rows == list(OLD) and db.runs == 3 and said[-1] == "reverted D4 (3)"
    nothing = FakeDb(OLD)
    assert revert_until_known(nothing.once, nothing.read, OLD, 50) == () and nothing.runs == 0


@pytest.mark.parametrize(("db", "limit", "expected", "runs"), [
    (FakeDb(NEWER, fail="E5"), 50, "reverting E5 failed: Error reverting last migration. relation does not exist; "
     "reverted before: F6", 2),
    (FakeDb(NEWER, stuck="F6"), 50, 'reverting F6 made no progress (the database\'s last migration is still it): '
     'Cancelled command. The last migration "F6" was irreversible.; nothing was reverted', 1),
    (FakeDb(NEWER), 2, "1 migration(s) still to revert after 2 reverts (the bound), at D4; reverted before: F6, E5", 2),
    (FakeDb(NEWER, odd="F6"), 50, "reverting F6 changed the migrations otherwise than removing it (now 4, last D4)", 1),
])
def test_the_loop_stops_on_failure_no_progress_its_bound_or_a_surprise(db: FakeDb, limit: int, expected: str,
                                                                        runs: int) -> None:
    with pytest.raises(RevertRefused) as caught:
        revert_until_known(db.once, db.read, OLD, limit)
    assert expected in str(caught.value) and db.runs == runs


# -- the argv --------------------------------------------------------------------------------------


def test_the_argv_run_the_newer_image_as_a_one_off_of_the_service_and_psql_in_its_server() -> None:
    move = n8n_down()
    assert move.revert is not None
    file = "/srv/zixly/production/releases/r1/n8n/compose.yaml"
    assert one_off(compose_one_off(file), "n8n", move.revert.command) == [
        "docker", "compose", "--ansi", "never", "--progress", "plain", "-f", file, "run", "--rm", "--no-deps", "-T",
        "--label", "traefik.enable=false", "--entrypoint", "n8n", "n8n", "db:revert"]
    assert one_off(["docker", "run", "--rm"], "img:1", ["node", "-e", "x"]) == [
        "docker", "run", "--rm", "--entrypoint", "node", "img:1", "-e", "x"]
    assert applied_argv("zixly-p-postgres-server-1", "n8n", move.revert.applied) == [
        "docker", "exec", "zixly-p-postgres-server-1", "psql", "-U", "postgres", "-d", "n8n", "-v",
        "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", "SELECT name FROM migrations ORDER BY id"]


# -- the executor's calls, on a host played by a fake runner ---------------------------------------

OLDER_FILE, NEWER_FILE = "/srv/zx/p/releases/r2/n8n/compose.yaml", "/srv/zx/p/releases/r1/n8n/compose.yaml"


class FakeSite:
    """Answers the argv the executor runs: psql reads *db*, ``known`` lists per release file, the revert
    runs *db*'s once. Records every argv."""

    def __init__(self, db: FakeDb, old: str, new: str) -> None:
        self.db, self.lists = db, {OLDER_FILE: old, NEWER_FILE: new}
        self.argvs: list[list[str]] = []

    def redact(self, text: str) -> str:
        return text

    def try_run(self, argv: Sequence[str], **_: object) -> Result:
        self.argvs.append(list(argv))
        if argv[1] == "ps":
            return Result(tuple(argv), 0, b"zixly-p-n8n-n8n-1\nzixly-p-n8n-postgres-1\nzixly-p-n8n-runner-1\n")
        if argv[1] == "stop":
            return Result(tuple(argv), 0)
        if argv[1] == "exec":
            return Result(tuple(argv), 0, "\n".join(self.db.read()).encode())
        if "db:revert" in argv:
            assert argv[argv.index("-f") + 1] == NEWER_FILE, "the revert runs the newer release's image"
            ok, out = self.db.once()
            return Result(tuple(argv), 0 if ok else 1, out.encode())
        return Result(tuple(argv), 0, self.lists[argv[argv.index("-f") + 1]].encode())


def _work(site: FakeSite) -> tuple[HostWork, list[str]]:
    said: list[str] = []
    return cast(HostWork, SimpleNamespace(site=site, say=said.append)), said


DATA = ServicePlan("n8n", "zixly-p-n8n", (
    Item("n8n", "db", "n8n.db.n8n", "postgres", "zixly-p-postgres-server-1", "n8n", filename="n8n/n8n.pgdump"),))


def test_the_count_then_the_reverts_run_on_the_host_with_each_releases_image() -> None:
    move = n8n_down()
    run = revert_run(move, DATA, (OLDER_FILE, NEWER_FILE))
    assert run is not None and (run.server, run.database) == ("zixly-p-postgres-server-1", "n8n")
    site = FakeSite(FakeDb(NEWER), "\n".join(OLD), "\n".join(NEWER))
    work, said = _work(site)
    count(work, move, run)
    assert run.todo == ("F6", "E5", "D4") and site.db.runs == 0, "counting changes nothing"
    assert said == ["downgrade n8n: reverts 3 migration(s) with 2.42.0's `n8n db:revert` (newest F6)"]
    assert carry_out(work, move, run) == "" and site.db.rows == list(OLD) and run.reverted == ("F6", "E5", "D4")
    assert next(a for a in site.argvs if "db:revert" in a)[-4:] == ["--entrypoint", "n8n", "n8n", "db:revert"]


def test_an_irreversible_migration_is_refused_before_anything_stops() -> None:
    move = n8n_down()
    run = revert_run(move, DATA, (OLDER_FILE, NEWER_FILE))
    assert run is not None
    site = FakeSite(FakeDb(NEWER), "\n".join(OLD), "A1\nB2\nC3\nD4\nE5 irreversible\nF6")
    with pytest.raises(UpgradeFailed) as caught:
        count(_work(site)[0], move, run)
    assert str(caught.value) == (
        "n8n: 2.42.0's migration E5 has no down step (irreversible): 3 migration(s) 2.41.1 does not know cannot be "
        "reverted: the downgrade 2.42.0 -> 2.41.1 is refused; `zixly upgrade ENV --rollback n8n` returns a "
        "finished upgrade to its checkpoint; nothing was stopped")
    assert site.db.runs == 0


def test_a_revert_that_stops_returns_why_for_the_checkpoint_restore() -> None:
    move = n8n_down()
    run = revert_run(move, DATA, (OLDER_FILE, NEWER_FILE))
    assert run is not None
    site = FakeSite(FakeDb(NEWER, stuck="E5"), "\n".join(OLD), "\n".join(NEWER))
    work, _ = _work(site)
    count(work, move, run)
    why = carry_out(work, move, run)
    assert why.startswith("revert with 2.42.0's `n8n db:revert` stopped: reverting E5 made no progress")
    assert why.endswith("; reverted before: F6")


def test_the_release_files_are_the_deployed_and_the_running_releases() -> None:
    paths = EnvPaths("/srv/zx", "p")
    proj = ProjectChange("zixly-p-n8n", "n8n", "up", 3, 60, ComposeShape(("n8n",), ()))
    steps = HostSteps("h", (Converge(paths, (proj,), "r1", "r2"),))
    assert release_files(HostRun("h", True, steps=steps)) == {"zixly-p-n8n": (
        "/srv/zx/p/releases/r2/n8n/compose.yaml", "/srv/zx/p/releases/r1/n8n/compose.yaml")}
    assert release_files(HostRun("h", True, steps=HostSteps("h", (Converge(paths, (proj,), "r1", None),)))) == {}
    assert revert_run(move=n8n_down(), data=DATA, files=None) is None
    assert revert_run(n8n_down(), ServicePlan("n8n", "zixly-p-n8n", ()), (OLDER_FILE, NEWER_FILE)) is None


def test_swarm_mode_refuses_a_downgrade_that_reverts() -> None:
    from zixly_stack.deploy.swarm import SwarmPlan, refuse_data_moves

    with pytest.raises(ConfigError) as caught:
        refuse_data_moves(SwarmPlan(env="sw", manager="m1", upgrades=(n8n_down(),)), INPUTS)
    assert ("the host runs 2.42.0: downgrade to 2.41.1: it needs `n8n db:revert` with 2.42.0 first, which swarm "
            "mode does not run") in str(caught.value)
    refuse_data_moves(SwarmPlan(env="sw", manager="m1", upgrades=()), INPUTS)


def test_the_executor_stops_the_app_but_not_a_dedicated_database_server_then_reverts() -> None:
    data = ServicePlan("n8n", "zixly-p-n8n", (Item("n8n", "db", "n8n.db.n8n", "postgres", "zixly-p-n8n-postgres-1",
                                                   "n8n", filename="n8n/n8n.pgdump"),))
    site = FakeSite(FakeDb(NEWER), "\n".join(OLD), "\n".join(NEWER))
    said: list[str] = []
    work = cast(HostWork, SimpleNamespace(site=site, say=said.append, host="h",
                                          env=SimpleNamespace(plan=lambda host: BackupPlan("p", host, (data,)))))
    guard = HostUpgrade(work, (n8n_down(),), {"n8n": "zixly-p-n8n"},
                          files={"zixly-p-n8n": (OLDER_FILE, NEWER_FILE)})
    run = guard.runs["zixly-p-n8n"]
    assert run.revert is not None and run.revert.server == "zixly-p-n8n-postgres-1"
    count(work, run.move, run.revert)
    proj = ProjectChange("zixly-p-n8n", "n8n", "up", 3, 60, ComposeShape(("n8n", "runner"), ()))
    assert guard.before_up(proj) == ""
    stops = [a for a in site.argvs if a[1] == "stop"]
    assert len(stops) == 1 and "zixly-p-n8n-postgres-1" not in stops[0] and "zixly-p-n8n-n8n-1" in stops[0]
    assert site.db.rows == list(OLD)
    assert guard.after_up(proj) == "" and guard.records()[0]["reverted"] == ["F6", "E5", "D4"]


def test_swarm_mode_shows_a_downgrade_that_reverts_as_refused_and_compose_mode_as_checkpointed() -> None:
    from zixly_stack.plan.upgrade import swarm_blocker, upgrade_lines

    m = n8n_down()
    swarm = "\n".join(upgrade_lines((m,), swarm=True))
    assert "! zixly deploy refuses this move: it needs `n8n db:revert`" in swarm and "checkpoint:" not in swarm, swarm
    assert swarm_blocker(m)[1] == "keep the version in swarm mode; docs/upgrades.md"
    compose = "\n".join(upgrade_lines((m,)))
    assert "checkpoint: upgrade:n8n:" in compose and "zixly deploy refuses" not in compose, compose
