"""Version moves against real hosts: the shared ``duo`` pair (own sshd and dockerd each, reached
over real SSH), deployed once by the run's fixture. ``zixly upgrade`` edits the pin, ``zixly
plan`` reads the host's current release (its manifest's recorded versions) and shows the move,
``zixly deploy`` refuses a move it cannot carry out with nothing changed on any host, and carries
out one it can behind ONE checkpoint of the service's data, each hop in turn (a copy of the
catalog makes 5.13.48 a required stop, so 5.13.47 -> 5.13.49 is two hops): an upgrade failing at
its second hop, after the first hop's migration changed the data, puts the data from before the
first hop back and the original version up; a finished one changes nothing the second time and is
returned to its checkpoint by ``zixly upgrade --rollback``.

The apps are the kit's labelled stand-ins (Invoice Ninja) and real MariaDB from Debian; the
"new versions" are LABELLED TEST STAND-INS whose job migration (the real MariaDB client) migrates
the app's rows at the first hop and corrupts them, then fails, at the second
(tests/upgrades/standin_upgrade.py). The module restores ``duo``'s environment file and catalog
link before it ends (the fixture is shared).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.duo import Duo
from tests.harness.vps import VpsHost
from tests.upgrades.standin_upgrade import CANARY_TABLE, broken_second_hop, failing_health, own_catalog, two_hops

pytestmark = [pytest.mark.engine, pytest.mark.e2e]


@pytest.fixture
def duo_env(duo: Duo) -> Iterator[Duo]:
    """``duo`` whose environment.yaml is put back byte for byte after the test."""
    before = duo.env_file.read_bytes()
    try:
        yield duo
    finally:
        duo.env_file.write_bytes(before)


def _state(host: VpsHost) -> tuple[str, str]:
    """The host's containers (id, image, state) and its current release."""
    ps = host.docker("ps", "-a", "--filter", "label=org.zixly.env=duo", "--format",
                     "{{.ID}} {{.Image}} {{.State}}", check=True).stdout
    release = host.ssh(["readlink", "/opt/zixly/duo/current"], check=True).stdout
    return "\n".join(sorted(ps.splitlines())), release


def test_plan_shows_a_pinned_move_against_what_the_host_runs(duo_env: Duo) -> None:
    z = duo_env.zixly
    assert duo_env.first_deploy is not None and duo_env.first_deploy["ok"]
    edit = z.run("upgrade", "duo", "invoiceninja", "--to", "5.13.48")
    assert "services.invoiceninja.version: 5.13.47 -> 5.13.48" in edit.stdout
    plan = z.json("plan", "duo")
    by_host = {h["host"]: h for h in plan["hosts"]}
    assert by_host["h1"]["upgrades"] == []
    [move] = by_host["h2"]["upgrades"]
    assert (move["service"], move["from"], move["to"], move["direction"]) == ("invoiceninja", "5.13.47",
                                                                              "5.13.48", "upgrade")
    assert [(h["from"], h["to"], h["image_rollback_safe"]) for h in move["hops"]] == [("5.13.47", "5.13.48", False)]
    assert move["deploy_refuses"] is None
    text = z.run("plan", "duo").stdout
    assert "upgrade invoiceninja: 5.13.47 -> 5.13.48 (1 hop)" in text


def test_deploy_refuses_a_downgrade_that_needs_its_data_and_changes_nothing(duo_env: Duo) -> None:
    z = duo_env.zixly
    _, h2 = duo_env.hosts
    before = _state(h2)
    z.run("upgrade", "duo", "mariadb", "--to", "10.11.14")  # the rules allow it: a downgrade that needs a restore
    plan = z.run("plan", "duo").stdout
    assert "downgrade mariadb: 11.4.13 -> 10.11.14 (1 hop)" in plan
    assert "! zixly deploy refuses this move" in plan
    res = z.run("deploy", "duo", "--yes", "--no-hooks", check=2)
    assert "services.mariadb.version: the host runs 11.4.13: downgrade to 10.11.14: a downgrade needs the data " \
           "from before the upgrade restored" in res.stderr
    located = [line for line in res.stderr.splitlines() if line.startswith("inventories/duo/environment.yaml:")]
    assert len(located) == 1 and "services.mariadb.version" in located[0], res.stderr
    assert _state(h2) == before
    assert h2.ssh(["test", "-e", "/opt/zixly/duo/.lock"]).returncode != 0, "the deploy lock is released"


# -- the checkpointed upgrade -------------------------------------------------------------------
PROJECT = "zixly-duo-invoiceninja"
MARIADB = "zixly-duo-mariadb-server-1"
TAG = "upgrade:invoiceninja:5.13.47->5.13.49"  # two hops: 5.13.48 is a required stop (standin_upgrade.py)


def _sql(h2: VpsHost, statement: str) -> str:
    """*statement* in Invoice Ninja's database on h2, as MariaDB's root (tab-separated rows)."""
    return h2.docker("exec", MARIADB, "sh", "-c",
                     'mariadb -uroot -p"$(cat "$MARIADB_ROOT_PASSWORD_FILE")" -N -B invoiceninja -e "$0"',
                     statement, check=True).stdout


def _fingerprint(h2: VpsHost) -> tuple[str, str]:
    """The app's data: the canary table's checksum and rows, and the checksums of its storage volume."""
    rows = _sql(h2, f"CHECKSUM TABLE {CANARY_TABLE} EXTENDED; SELECT id, v FROM {CANARY_TABLE} ORDER BY id")
    volume = h2.docker("volume", "inspect", "-f", "{{.Mountpoint}}", f"{PROJECT}_storage", check=True).stdout.strip()
    files = h2.ssh(["sh", "-c", 'cd "$0" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum',
                    volume], check=True).stdout
    return rows, files


def _others(duo: Duo) -> dict[str, str]:
    """Every container of duo outside Invoice Ninja's project: name -> id and start time."""
    out = {}
    for host in duo.hosts:
        ids = host.docker("ps", "-aq", "--filter", "label=org.zixly.env=duo", check=True).stdout.split()
        fmt = '{{.Name}} {{index .Config.Labels "com.docker.compose.project"}} {{.Id}} {{.State.StartedAt}}'
        for line in host.docker("inspect", "-f", fmt, *ids, check=True).stdout.splitlines():
            name, project, cid, started = line.split()
            if project != PROJECT:
                out[f"{host.name}{name}"] = f"{cid} {started}"
    return out


def _invoiceninja(h2: VpsHost) -> list[tuple[str, str, str]]:
    """(name, state, health) of Invoice Ninja's long-running containers on h2."""
    ids = h2.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}", check=True).stdout.split()
    fmt = '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}} ' \
          '{{.HostConfig.RestartPolicy.Name}}'
    rows = [line.split() for line in h2.docker("inspect", "-f", fmt, *ids, check=True).stdout.splitlines()]
    return sorted((r[0].lstrip("/"), r[1], r[2]) for r in rows if r[3] != "no")


def _env_of(h2: VpsHost, container: str) -> list[str]:
    return json.loads(h2.docker("inspect", "-f", "{{json .Config.Env}}", container, check=True).stdout)


@pytest.fixture
def canary(duo_env: Duo) -> Iterator[Duo]:
    """Invoice Ninja's database holds a canary table for the test (dropped afterwards)."""
    _, h2 = duo_env.hosts
    _sql(h2, f"CREATE TABLE IF NOT EXISTS {CANARY_TABLE} (id INT PRIMARY KEY, v VARCHAR(64)); "
             f"DELETE FROM {CANARY_TABLE}; INSERT INTO {CANARY_TABLE} VALUES "
             + ", ".join(f"({i}, 'row {i} before the upgrade')" for i in range(1, 6)))
    try:
        yield duo_env
    finally:
        _sql(h2, f"DROP TABLE IF EXISTS {CANARY_TABLE}")


def _baseline(canary: Duo) -> tuple[tuple[str, str], dict[str, str], str]:
    """What a failing upgrade must leave as it found: h2's data fingerprint (the canary rows in it),
    the other containers, the current release."""
    _, h2 = canary.hosts
    before = _fingerprint(h2)
    assert "row 3 before the upgrade" in before[0]
    return before, _others(canary), _state(h2)[1]


def _pin_and_plan(canary: Duo, version: str) -> dict[str, Any]:
    """``zixly upgrade duo invoiceninja --to VERSION``, then the one move the plan shows for h2."""
    z = canary.zixly
    z.run("upgrade", "duo", "invoiceninja", "--to", version)
    [move] = {h["host"]: h for h in z.json("plan", "duo")["hosts"]}["h2"]["upgrades"]
    return dict(move)


def test_an_upgrade_failing_at_its_second_hop_puts_the_data_from_before_the_first_back(canary: Duo) -> None:
    z = canary.zixly
    _, h2 = canary.hosts
    before, others, release = _baseline(canary)
    with own_catalog(z.root):
        two_hops(z.root)
        broken_second_hop(z.root)  # the LABELLED TEST STAND-IN "new versions"
        move = _pin_and_plan(canary, "5.13.49")
        assert [(h["from"], h["to"]) for h in move["hops"]] == [("5.13.47", "5.13.48"), ("5.13.48", "5.13.49")]
        assert (move["checkpoint"], move["deploy_refuses"]) == (TAG, None)
        started = time.monotonic()
        res = z.run("deploy", "duo", "--yes", "--no-hooks", check=1)
        took = time.monotonic() - started
    text = res.stdout + res.stderr
    print(f"failing upgrade deploy: {took:.0f}s\n" + "\n".join(x for x in text.splitlines() if "upgrade" in x))
    assert "upgrade invoiceninja: hop 1/2 5.13.47 -> 5.13.48: healthy" in text, text
    assert "upgrade invoiceninja 5.13.47 -> 5.13.49 FAILED at hop 2/2 (5.13.48 -> 5.13.49) (hop 1 had come " \
           "up healthy)" in text, text
    assert f"data restored from checkpoint {TAG}" in text and "previous images (5.13.47) healthy again" in text, text
    assert "zixly-duo-invoiceninja-migrate-1" in text, text  # the second hop's migration job failed
    # the first hop's migration changed the data, the second one's corrupted what the first had made (the
    # failed job's last log lines, in the deploy's report: what it found and left, read back from MariaDB)
    assert "hop 2 found: migrated by 5.13.48: row 1 before the upgrade" in text, text
    assert "hop 2 left: garbage-from-the-new-version" in text and "hop 2 left: migrated" not in text, text
    assert _fingerprint(h2) == before, "the data is back at the checkpoint, from before the first hop"
    assert _state(h2)[1] == release, "current is the release from before the upgrade"
    assert all(state == "running" and health in ("healthy", "-") for _, state, health in _invoiceninja(h2))
    assert "invoiceninja/invoiceninja-debian:5.13.47" in h2.docker(
        "inspect", "-f", '{{index .Config.Labels "org.zixly.standin"}}', f"{PROJECT}-app-1", check=True).stdout
    assert _others(canary) == others, "nothing else was restarted"
    assert h2.ssh(["sh", "-c", "ls /opt/zixly/duo/releases/*/invoiceninja/compose.hop-* 2>/dev/null; true"],
                  check=True).stdout == "", "no hop compose file is left behind"
    log = [json.loads(line) for line in h2.ssh(["tail", "-n", "1", "/opt/zixly/duo/releases.log"],
                                                check=True).stdout.splitlines()]
    [up] = log[-1]["upgrades"]
    assert log[-1]["result"] == "rolled back" and (up["failed_hop"], up["hops_healthy"]) == (2, 1)
    assert up["hops"] == [["5.13.47", "5.13.48"], ["5.13.48", "5.13.49"]] and up["checkpoint"]["tag"] == TAG


def test_a_failing_upgrade_puts_the_data_back_and_the_previous_version_up(canary: Duo) -> None:
    """One hop whose migration corrupts the rows, then whose app fails its health check (issue 16)."""
    z = canary.zixly
    _, h2 = canary.hosts
    before, others, release = _baseline(canary)
    with own_catalog(z.root):
        failing_health(z.root)  # the LABELLED TEST STAND-IN "new version"
        move = _pin_and_plan(canary, "5.13.48")
        one = "upgrade:invoiceninja:5.13.47->5.13.48"
        assert (move["checkpoint"], move["deploy_refuses"]) == (one, None)
        seen: list[str] = []
        done = threading.Event()

        def watch() -> None:  # what the app's table holds while the deploy runs
            while not done.wait(2):
                seen.append(_sql(h2, f"SELECT GROUP_CONCAT(v) FROM {CANARY_TABLE}"))

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            res = z.run("deploy", "duo", "--yes", "--no-hooks", check=1)
        finally:
            done.set()
            watcher.join()
    text = res.stdout + res.stderr
    assert "upgrade invoiceninja 5.13.47 -> 5.13.48 FAILED at hop 1/1 (5.13.47 -> 5.13.48)" in text, text
    assert f"data restored from checkpoint {one}" in text and "previous images (5.13.47) healthy again" in text, text
    assert "zixly-duo-invoiceninja-nginx-1: unhealthy" in text, text  # the stand-in's failing health check
    assert any("garbage-from-the-new-version" in rows for rows in seen), "the new version's migration corrupted it"
    assert _fingerprint(h2) == before, "the data is back at the checkpoint"
    assert _state(h2)[1] == release, "current is the release from before the upgrade"
    assert all(state == "running" and health in ("healthy", "-") for _, state, health in _invoiceninja(h2))
    assert "ZIXLY_STANDIN_FAIL=1" not in _env_of(h2, f"{PROJECT}-nginx-1"), "the previous version runs"
    assert _others(canary) == others, "nothing else was restarted"


def test_a_finished_upgrade_changes_nothing_twice_and_rolls_back_to_its_checkpoint(canary: Duo) -> None:
    z = canary.zixly
    _, h2 = canary.hosts
    before, others, release = _fingerprint(h2), _others(canary), _state(h2)[1]
    with own_catalog(z.root):
        two_hops(z.root)
        z.run("upgrade", "duo", "invoiceninja", "--to", "5.13.49")
        started = time.monotonic()
        done = z.json("deploy", "duo", "--yes", "--no-hooks")
        print(f"upgrade deploy (2 hops): {time.monotonic() - started:.0f}s")
        assert done["ok"], done
        log = json.loads(h2.ssh(["tail", "-n", "1", "/opt/zixly/duo/releases.log"], check=True).stdout)
        [up] = log["upgrades"]
        assert (up["service"], up["from"], up["to"], up["result"], up["checkpoint"]["tag"], up["hops_healthy"]) == (
            "invoiceninja", "5.13.47", "5.13.49", "ok", TAG, 2)
        assert up["hops"] == [["5.13.47", "5.13.48"], ["5.13.48", "5.13.49"]]
        assert {"invoiceninja.db.invoiceninja", "invoiceninja.volume.storage"} <= set(up["checkpoint"]["snapshots"])
        assert _others(canary) == others, "nothing else was restarted"
        assert "invoiceninja/invoiceninja-debian:5.13.49" in h2.docker(
            "inspect", "-f", '{{index .Config.Labels "org.zixly.standin"}}', f"{PROJECT}-app-1", check=True).stdout
        status = z.run("status", "duo").stdout
        assert f"upgrade invoiceninja 5.13.47 -> 5.13.49: ok, checkpoint {TAG}" in status, status
        z.run("plan", "duo", "--detailed-exitcode")  # exit 0: nothing left to change (no hop file left over)
        again = z.json("deploy", "duo", "--yes", "--no-hooks")
        assert [r["status"] for r in again["hosts"]] == ["unchanged", "unchanged"], again
        _sql(h2, f"UPDATE {CANARY_TABLE} SET v = 'written after the upgrade' WHERE id = 1")
        assert _fingerprint(h2) != before
        started = time.monotonic()
        back = z.run("upgrade", "duo", "--rollback", "invoiceninja")
        print(f"upgrade --rollback: {time.monotonic() - started:.0f}s")
    assert f"invoiceninja is back at 5.13.47 with its data from checkpoint {TAG}" in back.stdout, back.stdout
    assert _fingerprint(h2) == before, "the data is back at the checkpoint"
    assert _state(h2)[1] == release
    assert all(state == "running" and health in ("healthy", "-") for _, state, health in _invoiceninja(h2))
    assert _others(canary) == others, "nothing else was restarted"
    nothing = z.run("upgrade", "duo", "--rollback", "invoiceninja", check=1)
    assert "no upgrade checkpoint of invoiceninja" in nothing.stderr, nothing.stderr
