"""MariaDB and Redis majors moved to a new volume like PostgreSQL's: the volume names the render gives
(only when ``data_major`` is recorded), the plan's data move read from the rendered compose, the
in-container argv and the command sequence of each engine, and the failure path. PURE (the real
catalog and ``local`` environment, shared stores; a recording runner); the real move of both runs
in test_store_majors_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers import copy_repo, fake_secrets
from zixly_stack.commands import datastore as ds
from zixly_stack.deploy.datamove import DataMoveFailed, _errors, carry_out, move_commands, scratch_names
from zixly_stack.plan.compute import Target, host_files, plan_host
from zixly_stack.plan.datamove import DataMove
from zixly_stack.plan.facts import HostFacts
from zixly_stack.plan.upgrade import refuse_moves, upgrade_inputs, upgrade_lines
from zixly_stack.project import load, render
from zixly_stack.runner.base import Result

from .conftest import edit
from .test_datastore import Recorder

ENV_FILE = "inventories/local/environment.yaml"
TARGET = Target("local", "local", "/opt/zixly", "offline")
MARIA, REDIS = "zixly-local-mariadb", "zixly-local-redis"


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[DataMove, ...], list[str], dict[str, str]]:
    """``local`` with MariaDB 11.8 and Redis 8.0 recorded on their new volumes, planned against a host that
    runs the catalog's versions: (data moves, plan's upgrade lines, the new compose texts)."""
    repo = copy_repo(tmp_path_factory.mktemp("majors") / "repo", envs=("local",))
    edit(repo, ENV_FILE, "  mariadb:\n", '  mariadb:\n    version: 11.8.9\n    data_major: "11.8"\n')
    edit(repo, ENV_FILE, "  redis:\n", '  redis:\n    version: 8.0.2-bookworm\n    data_major: "8.0"\n')
    loaded = load(repo, "local")
    files = render(loaded, fake_secrets(loaded))
    mine = host_files(files, "local")
    new = json.loads(mine["manifest.json"].text)
    manifest = {**new, "versions": {**new["versions"], "mariadb": "11.4.13", "redis": "7.4.11-bookworm"}}
    manifest.pop("volumes", None)
    inputs = upgrade_inputs(loaded.catalog, loaded.config)
    plan = plan_host(TARGET, files, HostFacts(release="20261201T000000Z-abcd", manifest=manifest), {},
                     upgrades=inputs)
    refuse_moves([plan], inputs, deploying=True)  # carried out, not refused
    assert new["volumes"] == {"mariadb": {"data": f"{MARIA}_data-mariadb11.8"},
                              "redis": {"data": f"{REDIS}_data-redis8.0"}}
    texts = {s: mine[f"{s}/compose.yaml"].text for s in ("mariadb", "redis")}
    return plan.data_moves, upgrade_lines(plan.upgrades, plan.data_moves), texts


def test_an_unrecorded_store_keeps_its_volume_name() -> None:
    loaded = load(Path(__file__).resolve().parents[2], "local")
    mine = host_files(render(loaded, fake_secrets(loaded)), "local")
    assert f"name: {MARIA}_data\n" in mine["mariadb/compose.yaml"].text
    assert f"name: {REDIS}_data\n" in mine["redis/compose.yaml"].text
    assert "volumes" not in json.loads(mine["manifest.json"].text)


def test_the_plan_moves_mariadb_and_redis_to_volumes_named_by_their_major(moved) -> None:  # type: ignore[no-untyped-def]
    moves, lines, texts = moved
    by = {m.service: m for m in moves}
    assert set(by) == {"mariadb", "redis"}
    m, r = by["mariadb"], by["redis"]
    assert (m.engine, m.src, m.dst, m.major, m.old_volume, m.new_volume) == (
        "mariadb", "11.4.13", "11.8.9", "11.8", f"{MARIA}_data", f"{MARIA}_data-mariadb11.8")
    assert (m.container, m.target, m.new_image, m.user) == (f"{MARIA}-server-1", "/var/lib/mysql",
                                                           "zixly-offline/mariadb:11.8", "")
    assert m.init_env == ()  # the password file and MARIADB_AUTO_UPGRADE are not the scratch server's
    assert (r.engine, r.major, r.old_volume, r.new_volume, r.target, r.user, r.cap_add) == (
        "redis", "8.0", f"{REDIS}_data", f"{REDIS}_data-redis8.0", "/data", "redis", ())
    assert r.new_image == "zixly-offline/redis:8.0"
    assert f"name: {MARIA}_data-mariadb11.8\n" in texts["mariadb"]
    assert f"name: {REDIS}_data-redis8.0\n" in texts["redis"]
    text = "\n".join(lines)
    assert f"{MARIA}_data -> {MARIA}_data-mariadb11.8 (the old one kept until --prune)" in text
    assert f"{REDIS}_data -> {REDIS}_data-redis8.0 (the old one kept until --prune)" in text
    assert "refuses" not in text
    assert "copy its files from 7.4.11-bookworm" in r.describe() and "mariadb-upgrade" in m.describe()


def _mounts(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--mount"]


def _sequence(moves: tuple[DataMove, ...], service: str, databases: list[str]):  # type: ignore[no-untyped-def]
    """(the move, its scratch servers, the step names in order, step name -> argv)."""
    move = next(x for x in moves if x.service == service)
    steps = move_commands(move, databases)
    return move, scratch_names(move), [s[0] for s in steps], dict(steps)


def test_the_mariadb_sequence_dumps_with_the_new_client_and_upgrades_after_the_rows_agree(moved) -> None:  # type: ignore[no-untyped-def]
    _, (old, new), names, argv = _sequence(moved[0], "mariadb", ["invoiceninja", "shop"])
    # the old major without its grant tables (no password needed, nothing of it changed), no network
    scratch = argv["old major on the old volume"]
    assert scratch[-3:] == ["<old image>", "mariadbd", "--skip-grant-tables"]
    assert "--network" in scratch and scratch[scratch.index("--network") + 1] == "none"
    assert _mounts(scratch) == [f"type=volume,source={MARIA}-datamove-socket,target=/run/mysqld",
                                f"type=volume,source={MARIA}_data,target=/var/lib/mysql"]
    assert _mounts(argv["new major on the new volume"])[0].endswith("target=/zixly-old-server")
    assert argv["new major on the new volume"][-1] == "zixly-offline/mariadb:11.8"
    dump = argv["dump (the new major's client)"]
    assert dump[:3] == ["docker", "exec", new] and dump[-1] == "/zixly-old-server"
    script = dump[5]
    assert "mariadb-dump $o --all-databases --ignore-database=sys --ignore-table=mysql.global_priv " \
           "--ignore-table=mysql.user --ignore-table=mysql.proc --ignore-table=mysql.column_stats " in script
    assert "--routines --events --triggers" in script and "--replace" in script and "global_priv" in script
    assert argv["restore"][:4] == ["docker", "exec", "-i", new]
    # the counts, then mariadb-upgrade (its FLUSH PRIVILEGES gives root its old password back): last
    assert names.index("rows of shop (new)") < names.index("once the rows agree: bash") < names.index(
        "stop the new major")
    assert "mariadb-upgrade" in argv["once the rows agree: bash"][-2]
    assert "mariadb-check" in argv["after the restore: bash"][-2]
    assert argv["rows of shop (old)"][:3] == ["docker", "exec", old] and argv["rows of shop (old)"][-2] == "shop"
    assert not any("MARIADB_ROOT_PASSWORD=" in a for c in argv.values() for a in c)  # no password in any argv


def test_the_redis_sequence_copies_the_files_and_rewrites_them_in_the_new_format(moved) -> None:  # type: ignore[no-untyped-def]
    _, (old, _), names, argv = _sequence(moved[0], "redis", ["0", "3"])
    assert "remove the socket's volume" not in names and "dump (the new major's client)" not in names
    scratch = argv["old major on the old volume"]
    assert scratch[-6:] == ["<old image>", *ds.REDIS_SERVER] and "--user" in scratch
    assert scratch[scratch.index("--user") + 1] == "redis" and "--cap-add" not in scratch
    copy = argv["copy the old volume's files"]
    assert copy[:3] == ["docker", "run", "--rm"] and copy[-5:] == ["zixly-offline/redis:8.0", "cp", "-a",
                                                                    "/zixly-old-data/.", "/data/"]
    assert _mounts(copy) == [f"type=volume,source={REDIS}_data,target=/zixly-old-data,readonly",
                             f"type=volume,source={REDIS}_data-redis8.0,target=/data"]
    order = ["new volume", "copy the old volume's files", "new major on the new volume", "new major ready",
             "in the new format: sh", "rows of 0 (new)", "stop the new major"]
    assert [n for n in names if n in order] == order
    assert "BGREWRITEAOF" in argv["in the new format: sh"][-1]
    count = argv["rows of 3 (old)"]
    assert count[:3] == ["docker", "exec", old] and count[-3:] == ["3", ds.REDIS_SAMPLE_LUA, "200"]


class RedisHost(Recorder):
    """The recording runner of test_datastore.py, its server the catalog's Redis."""

    def answer(self, argv: Sequence[str]) -> Result:
        if list(argv[:2]) == ["docker", "inspect"] and "Mounts" in " ".join(argv):
            return Result(tuple(argv), 0, f"false zixly-offline/redis:7.0 {REDIS}_data:/data".encode(), b"")
        return super().answer(argv)


def test_a_failed_redis_copy_removes_the_new_volume_and_starts_the_old_major_again(moved) -> None:  # type: ignore[no-untyped-def]
    r = next(x for x in moved[0] if x.service == "redis")
    rec = RedisHost(fail="cp -a")
    with pytest.raises(DataMoveFailed) as caught:
        carry_out(rec, r)
    assert "copy zixly-local-redis_data's files into" in str(caught.value)
    assert str(caught.value).endswith(f"the new volume was removed and 7.4.11-bookworm runs again on {REDIS}_data")
    assert ["docker", "volume", "rm", "-f", f"{REDIS}_data-redis8.0"] in rec.calls
    assert ["docker", "start", f"{REDIS}-server-1"] in rec.calls


def test_a_failed_mariadb_restore_names_the_error_but_not_the_values_it_quotes() -> None:
    err = (b"ERROR 1062 (23000) at line 412: Duplicate entry 'alice@example.com' for key 'email'\n")
    shown = _errors(Result(("mariadb",), 1, b"", err))
    assert shown == "ERROR 1062 (23000) at line 412: Duplicate entry '…' for key '…'"
