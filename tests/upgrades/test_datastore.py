"""A data-store major (PostgreSQL) moved to a new volume: the volume names the render gives, the plan's
data move, the deploy's step, the command sequence per engine, the free-space figure, the failure path
that puts the old major back, what ``--prune`` may remove, and the pin ``zixly upgrade`` writes. PURE
(the real catalog and production environment, host facts built by hand; a recording runner where the
executor's order of commands is checked); the real thing runs in test_datastore_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers import REPO, copy_repo, fake_secrets, zixly
from zixly_stack.commands import datastore as ds
from zixly_stack.commands.hostfs import available_kib
from zixly_stack.commands.shell import PIPE_MARK
from zixly_stack.deploy.datamove import DataMoveFailed, carry_out, move_commands, scratch_names, socket_volume
from zixly_stack.deploy.retired import why_kept
from zixly_stack.errors import ConfigError
from zixly_stack.plan.compute import Target, host_files, plan_host
from zixly_stack.plan.datamove import DataMove, du_bytes, space_refusal
from zixly_stack.plan.facts import HostFacts
from zixly_stack.plan.steps import CheckpointData, Converge, host_steps
from zixly_stack.plan.upgrade import refuse_moves, upgrade_inputs, upgrade_lines
from zixly_stack.plan.upgrade_steps import upgrade_step_lines
from zixly_stack.project import load, render
from zixly_stack.runner.base import Result

from .conftest import edit, line_of

ENV_FILE = "inventories/production/environment.yaml"
TARGET = Target("vps1", "production", "/srv/zixly", "upstream")
PROJECT = "zixly-production-warehouse"


@pytest.fixture
def moved_repo(tmp_path: Path) -> Path:
    """Production with the warehouse on PostgreSQL 17 and its data recorded on the pg17 volume."""
    repo = copy_repo(tmp_path / "repo", envs=("production",))
    edit(repo, ENV_FILE, "  warehouse:\n", '  warehouse:\n    version: 17.9-bookworm\n    data_major: "17"\n')
    return repo


def _plan(repo: Path, running: dict[str, str], volumes: dict[str, dict[str, str]] | None = None):  # type: ignore[no-untyped-def]
    loaded = load(repo, "production")
    files = render(loaded, fake_secrets(loaded))
    new = json.loads(host_files(files, "vps1")["manifest.json"].text)
    manifest = {**new, "versions": {**new["versions"], **running}}
    manifest.pop("volumes", None)
    if volumes:
        manifest["volumes"] = volumes
    inputs = upgrade_inputs(loaded.catalog, loaded.config)
    plan = plan_host(TARGET, files, HostFacts(release="20261201T000000Z-abcd", manifest=manifest), {},
                     upgrades=inputs)
    return plan, inputs, files, new


def test_an_unmoved_store_keeps_its_volume_name_and_its_manifest_records_nothing() -> None:
    loaded = load(REPO, "production")
    files = host_files(render(loaded, fake_secrets(loaded)), "vps1")
    assert f"name: {PROJECT}_data\n" in files["warehouse/compose.yaml"].text
    assert "volumes" not in json.loads(files["manifest.json"].text)


def test_a_recorded_major_names_the_new_volume_and_the_manifest_records_it(moved_repo: Path) -> None:
    _, _, files, new = _plan(moved_repo, {})
    mine = host_files(files, "vps1")
    assert f"name: {PROJECT}_data-pg17\n" in mine["warehouse/compose.yaml"].text
    assert new["volumes"] == {"warehouse": {"data": f"{PROJECT}_data-pg17"}}
    renamed = [f.path for f in files if f.path.endswith("compose.yaml") and "-pg17\n" in f.text]
    assert renamed == ["vps1/warehouse/compose.yaml"]  # only the moved service's volume


def test_the_plan_moves_the_data_from_the_old_volume_to_the_new(moved_repo: Path) -> None:
    plan, inputs, files, _ = _plan(moved_repo, {"warehouse": "16.15-bookworm"})
    [move] = plan.data_moves
    assert (move.service, move.engine, move.src, move.dst, move.major) == (
        "warehouse", "postgres", "16.15-bookworm", "17.9-bookworm", "17")
    assert (move.old_volume, move.new_volume, move.volume_key) == (f"{PROJECT}_data", f"{PROJECT}_data-pg17", "data")
    assert (move.container, move.target, move.new_image) == (f"{PROJECT}-db-1", "/var/lib/postgresql/data",
                                                            "postgres:17.9-bookworm")
    # initialised like the catalog's server, minus the database the dump creates and the password file
    assert move.init_env == (("POSTGRES_INITDB_ARGS", "--data-checksums"), ("POSTGRES_USER", "postgres"))
    assert move.cap_add == ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID")
    refuse_moves([plan], inputs, deploying=True)  # carried out, not refused
    text = "\n".join(upgrade_lines(plan.upgrades, plan.data_moves))
    assert f"data: dump and restore into a new data directory (new major): {PROJECT}_data -> {PROJECT}_data-pg17" \
           in text and "refuses" not in text
    steps = host_steps(plan, host_files(files, "vps1"), "r2").steps
    kinds = [type(s) for s in steps]
    # the checkpoint before anything stops; the move itself in the converge, before the new major starts
    assert kinds.index(CheckpointData) < kinds.index(Converge), kinds
    assert json.dumps(plan.to_json()).count(f"{PROJECT}_data-pg17") == 1


def test_a_second_plan_after_the_move_has_nothing_to_move(moved_repo: Path) -> None:
    plan, _, _, _ = _plan(moved_repo, {}, {"warehouse": {"data": f"{PROJECT}_data-pg17"}})
    assert plan.upgrades == () and plan.data_moves == ()


def test_a_major_without_a_recorded_volume_is_refused_with_the_command_that_records_it(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo", envs=("production",))
    edit(repo, ENV_FILE, "  warehouse:\n", "  warehouse:\n    version: 17.9-bookworm\n")
    plan, inputs, _, _ = _plan(repo, {"warehouse": "16.15-bookworm"})
    assert plan.data_moves == ()
    with pytest.raises(ConfigError) as caught:
        refuse_moves([plan], inputs, deploying=True)
    assert ("services.warehouse.version: the host runs 16.15-bookworm: upgrade to 17.9-bookworm: a data-store "
            "major needs a new volume named by the major: `zixly upgrade ENV warehouse --to 17.9-bookworm` records "
            "it (services.warehouse.data_major)") in str(caught.value)


def test_a_data_major_that_is_not_the_pinned_versions_is_a_located_error(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo", envs=("production",))
    edit(repo, ENV_FILE, "  warehouse:\n", '  warehouse:\n    data_major: "17"\n')
    edit(repo, ENV_FILE, "  redis:\n", '  redis:\n    data_major: "7.4"\n')
    edit(repo, ENV_FILE, "  plane:\n", '  plane:\n    data_major: "1"\n')
    with pytest.raises(ConfigError) as caught:
        load(repo, "production")
    lines = str(caught.value).splitlines()
    wh = line_of(repo, ENV_FILE, 'data_major: "17"')
    rd = line_of(repo, ENV_FILE, 'data_major: "7.4"')
    pl = line_of(repo, ENV_FILE, 'data_major: "1"')
    assert f"{ENV_FILE}:{wh}:17: services.warehouse.data_major: data_major 17 is not the major of the pinned " \
           "version 16.15-bookworm (`zixly upgrade ENV warehouse --to VERSION` writes both; or set data_major: " \
           "'16')" in lines, lines
    assert any(line.startswith(f"{ENV_FILE}:{pl}:") and "plane is not a data store whose major moves" in line
               for line in lines), lines
    # Redis's majors move to a new volume too, but not a copy inside each app's project
    assert any(line.startswith(f"{ENV_FILE}:{rd}:") and "redis runs inside each app's project (stores: "
               "dedicated): its major move is not automated" in line for line in lines), lines


MOVE = DataMove("production", "warehouse", "postgres", "16.15-bookworm", "17.9-bookworm", PROJECT,
                f"{PROJECT}-db-1", "/var/lib/postgresql/data", "data", f"{PROJECT}_data", f"{PROJECT}_data-pg17",
                "postgres:17.9-bookworm", (("POSTGRES_INITDB_ARGS", "--data-checksums"), ("POSTGRES_USER", "postgres")),
                ("CHOWN", "SETUID"), "17")
OLD, NEW = scratch_names(MOVE)
SOCK = socket_volume(MOVE)


def _psql(db: str, sql: str) -> list[str]:
    return ["psql", "-X", "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-F", "\t", "-c", sql]


def test_the_postgres_sequence_is_these_commands_in_this_order() -> None:
    scratch = ["docker", "run", "-d", "--name"]
    hardening = ["--network", "none", "--security-opt", "no-new-privileges:true", "--cap-drop", "ALL",
                 "--cap-add", "CHOWN", "--cap-add", "SETUID", "--label", "org.zixly.data-move=production",
                 "--label", "org.zixly.service=warehouse"]
    mount = "type=volume,source={},target=/var/lib/postgresql/data"
    counts = _psql("warehouse", ds.PG_COUNTS)
    assert move_commands(MOVE, ["postgres", "warehouse"]) == [
        ("read the server", ["docker", "inspect", "--format", "{{.State.Running}} {{.Config.Image}}{{range .Mounts}} "
                             "{{.Name}}:{{.Destination}}{{end}}", f"{PROJECT}-db-1"]),
        ("read the new volume", ["docker", "volume", "inspect", "--format", "{{json .Labels}}",
                                 f"{PROJECT}_data-pg17"]),
        ("old volume's directory", ["docker", "volume", "inspect", "--format", "{{.Mountpoint}}", f"{PROJECT}_data"]),
        ("old volume's size", ["du", "-sb", "<mountpoint>"]),
        ("free space", ["df", "-P", "-k", "<mountpoint>"]),
        ("stop the server", ["docker", "stop", "-t", "60", f"{PROJECT}-db-1"]),
        ("old major on the old volume", [*scratch, OLD, *hardening, "--mount",
                                         f"type=volume,source={SOCK},target=/var/run/postgresql", "--mount",
                                         mount.format(f"{PROJECT}_data"), "<old image>"]),
        ("old major ready", ["docker", "exec", OLD, "pg_isready", "-U", "postgres", "-h", "127.0.0.1", "-p", "5432"]),
        ("databases", ["docker", "exec", OLD, *_psql("postgres", "SELECT datname FROM pg_database WHERE datallowconn "
                                                                 "ORDER BY 1")]),
        ("rows of postgres (old)", ["docker", "exec", OLD, *_psql("postgres", ds.PG_COUNTS)]),
        ("rows of warehouse (old)", ["docker", "exec", OLD, *counts]),
        ("new volume", ["docker", "volume", "create", "--label", "com.docker.compose.project=" + PROJECT,
                        "--label", "com.docker.compose.volume=data", "--label", "org.zixly.data-major=17",
                        "--label", "org.zixly.data-move=production", "--label", f"org.zixly.retires={PROJECT}_data",
                        "--label", "org.zixly.service=warehouse", f"{PROJECT}_data-pg17"]),
        ("new major on the new volume", [*scratch, NEW, *hardening, "--env-file", "/dev/stdin", "--mount",
                                         f"type=volume,source={SOCK},target=/zixly-old-server", "--mount",
                                         mount.format(f"{PROJECT}_data-pg17"), "postgres:17.9-bookworm"]),
        ("new major ready", ["docker", "exec", NEW, "pg_isready", "-U", "postgres", "-h", "127.0.0.1", "-p", "5432"]),
        ("dump (the new major's client)", [
            "docker", "exec", NEW, "bash", "-c", 'set -o pipefail; pg_dumpall -h "$2" -U "$1" | awk -v skip='
            '"CREATE ROLE $1;" -v drop="$3" \'!done && $0 == skip { done = 1; next } drop != "" && $0 ~ drop '
            '{ next } { print }\'', "bash", "postgres", "/zixly-old-server",
            "^ALTER TABLE ONLY .+ ALTER COLUMN .+ SET [(]pg_attver=[0-9]+[)];$"]),
        ("restore", ["docker", "exec", "-i", NEW, "psql", "-X", "-q", "-U", "postgres", "-d", "postgres", "-v",
                     "ON_ERROR_STOP=1", "-f", "-"]),
        ("after the restore: vacuumdb", ["docker", "exec", NEW, "vacuumdb", "-U", "postgres", "--all",
                                         "--analyze-in-stages"]),
        ("after the restore: psql", ["docker", "exec", NEW, *_psql("postgres", 'ALTER DATABASE "postgres" REFRESH '
                                                                               "COLLATION VERSION")]),
        ("after the restore: psql", ["docker", "exec", NEW, *_psql("postgres", 'ALTER DATABASE "warehouse" REFRESH '
                                                                               "COLLATION VERSION")]),
        ("rows of postgres (new)", ["docker", "exec", NEW, *_psql("postgres", ds.PG_COUNTS)]),
        ("rows of warehouse (new)", ["docker", "exec", NEW, *counts]),
        ("stop the new major", ["docker", "stop", "-t", "60", NEW]),
        ("remove it", ["docker", "rm", "-f", NEW]),
        ("stop the old major", ["docker", "stop", "-t", "60", OLD]),
        ("remove it", ["docker", "rm", "-f", OLD]),
        ("remove the socket's volume", ["docker", "volume", "rm", "-f", SOCK]),
    ]


def test_database_names_are_quoted_as_identifiers() -> None:
    [_, refresh] = ds.PROGRAMS["postgres"].after_restore(['we"ird db', "template0"])
    assert refresh[-1] == 'ALTER DATABASE "we""ird db" REFRESH COLLATION VERSION'


# --- free space: the figure from a df reading -------------------------------------------------

DF = "Filesystem     1024-blocks    Used Available Capacity Mounted on\n/dev/vda1 99999999 1 {} 1% /\n"


def df_avail(text: str) -> int:
    """Bytes free, as the executor reads them from ``df -P -k``."""
    kib = available_kib(text)
    if kib is None:
        raise ValueError("no free-space figure")
    return kib * 1024


def test_free_space_is_read_from_dfs_output_and_checked_against_the_old_volumes_size() -> None:
    size = du_bytes("734003200\t/var/lib/docker/volumes/x/_data\n")  # 700 MiB
    assert size == 700 << 20
    enough = df_avail(DF.format((2 << 30) // 1024))
    assert space_refusal("old", size, enough, "/var/lib/docker/volumes") == ""
    short = df_avail(DF.format((300 << 20) // 1024))
    assert space_refusal("old", size, short, "/var/lib/docker/volumes") == (
        "not enough free space for the new volume: old holds 700.0 MiB, the copy needs 904.0 MiB free on "
        "/var/lib/docker/volumes, 300.0 MiB are free (free 604.0 MiB more: `zixly upgrade ENV --prune` removes "
        "volumes retired by earlier moves)")
    with pytest.raises(ValueError, match="no free-space figure"):
        df_avail("df: /nowhere: No such file or directory\n")


# --- the executor's order of commands, through a recording runner ------------------------------


class Recorder:
    """A runner that answers from a script and records every argv (the executor's logic, no engine)."""

    name = "h1"
    host = "h1"
    executes = True

    def __init__(self, fail: str = "", free: int = 10 << 30) -> None:
        self.fail, self.free = fail, free
        self.calls: list[list[str]] = []

    def answer(self, argv: Sequence[str]) -> Result:
        a = list(argv)
        text = " ".join(a)
        if self.fail and self.fail in text:
            return Result(tuple(a), 1, b"", f"{self.fail} failed".encode())
        out = ""
        if a[:2] == ["docker", "inspect"] and "Mounts" in text:
            out = f"false postgres:16.15-bookworm {PROJECT}_data:/var/lib/postgresql/data :/run/secrets/x"
        elif a[:3] == ["docker", "volume", "inspect"] and "Labels" in text:
            return Result(tuple(a), 1, b"", b"no such volume")
        elif a[:3] == ["docker", "volume", "inspect"]:
            out = "/var/lib/docker/volumes/v/_data"
        elif a[0] == "du":
            out = f"{100 << 20}\t/x"
        elif a[0] == "df":
            out = DF.format(self.free // 1024)
        elif "datname" in text:
            out = "postgres\nwarehouse\n"
        elif "query_to_xml" in text:
            out = "warehouse.clients\t40\n" if "warehouse" in a else ""
        elif "{{.State.Running}}" in text:
            out = "true"
        return Result(tuple(a), 0, out.encode(), b"")

    def stream(self, argv: Sequence[str], *, source: object = None, sink: object = None, timeout: float = 600.0,
               read: bool = False) -> Result:
        self.calls.append(list(argv))
        if argv[:1] == ["bash"]:  # the pipe wrapper (commands.shell.pipe): both sides' status on stderr
            return Result(tuple(argv), 0, b"", b"\n" + PIPE_MARK + b" 0 0\n")
        res = self.answer(argv)
        if sink is not None and res.stdout:
            sink(res.stdout)  # type: ignore[operator]
        return res

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 600.0,
            read: bool = False) -> Result:
        self.calls.append(list(argv))
        return self.answer(argv)


def _ran(r: Recorder, *start: str) -> bool:
    return any(c[: len(start)] == list(start) for c in r.calls)


def test_short_space_refuses_before_anything_stops() -> None:
    r = Recorder(free=50 << 20)
    with pytest.raises(DataMoveFailed, match=r"184\.0 MiB free on /var/lib/docker/volumes/v, 50\.0 MiB are free.*"
                                             r"zixly upgrade production --prune.*nothing was changed"):
        carry_out(r, MOVE)
    assert not _ran(r, "docker", "stop") and not _ran(r, "docker", "run")


def test_a_failed_restore_removes_the_new_volume_and_starts_the_old_major_again() -> None:
    r = Recorder(fail="vacuumdb")
    with pytest.raises(DataMoveFailed) as caught:
        carry_out(r, MOVE)
    assert str(caught.value).endswith(f"the new volume was removed and 16.15-bookworm runs again on {PROJECT}_data")
    tail = r.calls[-6:]
    assert ["docker", "volume", "rm", "-f", f"{PROJECT}_data-pg17"] in tail
    assert tail.index(["docker", "volume", "rm", "-f", f"{PROJECT}_data-pg17"]) < tail.index(
        ["docker", "start", f"{PROJECT}-db-1"])
    assert ["docker", "rm", "-f", NEW] in r.calls and ["docker", "rm", "-f", OLD] in r.calls


# --- what --prune may remove -----------------------------------------------------------------

COMPOSE_WH = {"com.docker.compose.project": PROJECT}


def test_prune_removes_only_an_unmounted_volume_of_the_same_project_whose_successor_runs() -> None:
    assert why_kept(dict(COMPOSE_WH), dict(COMPOSE_WH), [], [f"{PROJECT}-db-1"]) == ""
    assert why_kept(None, dict(COMPOSE_WH), [], ["x"]) == "gone already"
    assert why_kept({"com.docker.compose.project": "someone-else"}, dict(COMPOSE_WH), [], ["x"]).startswith(
        "its Compose project 'someone-else' is not")
    assert why_kept({}, dict(COMPOSE_WH), [], ["x"]).startswith("its Compose project None")
    assert why_kept(dict(COMPOSE_WH), dict(COMPOSE_WH), ["old-db-1"], ["x"]) == "mounted by old-db-1"
    assert why_kept(dict(COMPOSE_WH), dict(COMPOSE_WH), [], []).startswith("the volume that took over is not in use")
    assert ds.volumes_retired("production") == [
        "docker", "volume", "ls", "--filter", "label=org.zixly.data-move=production", "--format",
        '{{.Name}}\t{{.Label "org.zixly.retires"}}']


# --- the pin: zixly upgrade records the new volume with a new major -------------------------------


def test_upgrade_to_a_new_postgres_major_records_its_data_volume(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo", envs=("production",))
    path = repo / ENV_FILE
    before = path.read_text()
    result = zixly("upgrade", "production", "warehouse", "--to", "17.9-bookworm", root=repo)
    assert result.code == 0, result.stderr
    assert "services.warehouse.data_major: 17 (its data moves to a new volume on deploy)" in result.stdout
    assert "refuses this move" not in result.stdout, result.stdout  # recorded: no stale "record it" advice
    added = [line for line in path.read_text().splitlines() if line not in before.splitlines()]
    assert added == ["    version: 17.9-bookworm", '    data_major: "17"']
    minor = zixly("upgrade", "production", "warehouse", "--to", "17.10-bookworm", root=repo)  # same major
    assert minor.code == 0 and "data_major" not in minor.stdout
    assert 'data_major: "17"' in path.read_text()
    nxt = zixly("upgrade", "production", "warehouse", "--to", "18.1-bookworm", root=repo)
    assert nxt.code == 0, nxt.stderr
    assert 'data_major: "18"' in path.read_text() and "version: 18.1-bookworm" in path.read_text()
    assert zixly("upgrade", "production", "--prune", "--to", "1", root=repo).code == 2


def test_the_steps_of_a_recorded_major_are_executed_by_the_deploy_and_name_both_volumes(moved_repo: Path) -> None:
    plan, _, _, _ = _plan(moved_repo, {"warehouse": "16.15-bookworm"})
    loaded = load(moved_repo, "production")
    lines = upgrade_step_lines(plan.upgrades, loaded.stack.services, plan.data_moves)
    assert lines[0] == "upgrade warehouse (executed by zixly deploy):"
    [data] = [line for line in lines if "] data:" in line]
    assert f"({PROJECT}_data -> {PROJECT}_data-pg17)" in data and "--prune" in data


def test_a_failed_restore_reports_psqls_error_but_not_the_statement_it_quotes() -> None:
    from zixly_stack.deploy.datamove import _errors

    err = (b"psql:<stdin>:40: ERROR:  syntax error at or near \"x\"\n"
           b"LINE 1: ALTER ROLE loader WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$abc:def' x;\n"
           b"                                                                                ^\n")
    shown = _errors(Result(("psql",), 3, b"", err))
    assert shown == 'psql:<stdin>:40: ERROR:  syntax error at or near "x"'
    assert "SCRAM" not in shown and _errors(Result(("x",), 1)) == "no message"
