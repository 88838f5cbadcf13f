"""End-to-end: the warehouse's PostgreSQL moved to a new major on a test host, its data carried over.

Real parts: a test host of the shared pool (own network namespace, sshd and dockerd), reached over
real SSH by ``zixly``; the warehouse is the offline kit's PostgreSQL, 15 (Debian's) then 16 (no
stand-in). Metabase is not deployed: its dashboards' cards are native SQL
(``services/metabase/seeds/dashboards``), run here directly against the warehouse as Metabase's
``reader`` role (the labelled Metabase stand-in answers only its health contract, it runs no query).

The environment pins the warehouse to PostgreSQL 15, is deployed (the ``warehouse-migrate`` hook makes
the schema and roles) and seeded with the stack's demo year (the seed the demo loads), plus a second
database. Then ``zixly upgrade ENV warehouse --to <newer major>`` (which records the new data
volume) and ``zixly deploy``: every table of every database equal (rows and md5 of its rows), every
card's result equal, the old volume still there and retired by the new one (its label), a second
deploy changes nothing, ``zixly upgrade ENV --prune`` removes the old volume and only it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backup.remote_env import HostData
from tests.deploy.helpers import Zixly, make_root
from tests.harness.timing import figure
from tests.harness.vps import VpsHost, VpsPool
from tests.helpers import REPO
from zixly_stack.commands.db import psql_argv
from zixly_stack.hooks.metabase_seeds import load_dashboards
from zixly_stack.warehouse.demo import DEFAULT_SEED, generate
from zixly_stack.warehouse.load import load_dataset

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

NAME = "whup"
OLD, NEW = "15.14-bookworm", "16.15-bookworm"
ENV = f"""description: the warehouse moved to a newer PostgreSQL major
domain: {NAME}.localhost
tls: {{sni_strict: false}}
images: {{source: offline, allow_standins: true}}
edge: {{http_port: 8087, https_port: 8449}}
base_dir: /opt/zixly
stores: shared
services:
  traefik:
  socket-proxy:
  warehouse:
    version: {OLD}
backup:
  target: {{type: local, path: /var/backups/zixly/{NAME}}}
"""
PROJECT = f"zixly-{NAME}-warehouse"
CONTAINER = f"{PROJECT}-db-1"
OLD_VOLUME, NEW_VOLUME = f"{PROJECT}_data", f"{PROJECT}_data-pg16"
SIDE_DB = "side_notes"  # a second database: pg_dumpall moves every database, not just the warehouse
ROWS = ("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")


@dataclass
class Wh:
    zixly: Zixly
    host: VpsHost
    data: HostData

    def psql(self, sql: str, *, db: str = "warehouse", user: str = "postgres") -> str:
        res = self.host.docker("exec", "-i", CONTAINER, *psql_argv(user=user, database=db), input=sql, timeout=600)
        assert res.returncode == 0, f"psql {db}: {res.stderr[-1500:]}"
        return res.stdout

    def run(self, sql: str, *, timeout: float = 600.0) -> str:  # a SqlRunner for load_dataset
        return self.psql(sql)

    def tables(self, db: str) -> dict[str, str]:
        """Every table of *db*: ``rows md5`` of its rows in a fixed order."""
        out = {}
        for t in self.psql(ROWS + ";", db=db).split():
            got = self.psql(f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                            f"FROM {t} x;", db=db).strip()
            out[t] = got
        return out

    def state(self) -> dict[str, dict[str, str]]:
        dbs = self.psql("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1;", db="postgres").split()
        return {db: self.tables(db) for db in dbs}

    def cards(self) -> dict[str, list[str]]:
        """Each dashboard card's result rows, run as Metabase's ``reader`` role (sorted: some cards leave
        the order of equal keys open)."""
        return {c.name: sorted(self.psql(c.sql + ";", user="reader").splitlines())
                for d in load_dashboards(REPO / "services" / "metabase" / "seeds" / "dashboards") for c in d.cards}

    def volume_labels(self, name: str) -> dict[str, str] | None:
        res = self.host.docker("volume", "inspect", "--format", "{{json .Labels}}", name)
        return json.loads(res.stdout) if res.returncode == 0 else None


@pytest.fixture(scope="module")
def wh(vps_hosts: Callable[[int], list[VpsHost]], vps_pool: VpsPool, age_key_file: Path,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wh]:
    [host] = vps_hosts(1)
    root = make_root(tmp_path_factory.mktemp("whup") / "repo", NAME, ENV,
                     f"hosts:\n  wh1:\n    address: {host.address}\n    user: root\n    ssh_key: {host.key_path}\n"
                     "    roles: [edge, apps, stores]\n    prepare: {firewall: false}\n")
    z = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(age_key_file), "ZIXLY_SSH_KNOWN_HOSTS": str(vps_pool.known_hosts_path)})
    data = HostData(host)
    try:
        z.run("secrets", "init", NAME)
        z.run("images", "load", NAME, timeout=1800)
        report = z.json("deploy", NAME, "--yes")
        assert report["ok"], json.dumps(report, indent=2)[-3000:]
        yield Wh(z, host, data)
    finally:
        data.remove_env(NAME)
        host.ssh(["rm", "-rf", f"/var/backups/zixly/{NAME}", f"/opt/zixly/{NAME}"])


def test_the_warehouse_moves_to_a_new_major_with_every_row_and_card_equal(wh: Wh,
                                                                         request: pytest.FixtureRequest) -> None:
    z = wh.zixly
    assert wh.psql("SHOW server_version_num;").strip().startswith("15")
    loaded = load_dataset(wh, generate(DEFAULT_SEED))
    assert loaded.rows > 10000, loaded
    wh.psql(f"CREATE DATABASE {SIDE_DB};", db="postgres")
    wh.psql("CREATE TABLE note (id int PRIMARY KEY, body text COLLATE \"C\", at timestamptz);"
            "INSERT INTO note SELECT g, 'note ' || g, '2025-01-01'::timestamptz + g * interval '1 hour' "
            "FROM generate_series(1, 500) g;", db=SIDE_DB)
    before, cards = wh.state(), wh.cards()
    assert before["warehouse"] and sum(int(v.split("|")[0]) for v in before["warehouse"].values()) >= loaded.rows
    assert len(cards) >= 15 and all(cards.values()), cards

    edit = z.run("upgrade", NAME, "warehouse", "--to", NEW)
    assert f"services.warehouse.version: {OLD} -> {NEW}" in edit.stdout
    assert "services.warehouse.data_major: 16" in edit.stdout
    plan = z.run("plan", NAME).stdout
    assert f"{OLD_VOLUME} -> {NEW_VOLUME} (the old one kept until --prune)" in plan, plan
    assert "refuses" not in plan, plan

    started = time.monotonic()
    report = z.json("deploy", NAME, "--yes")
    moved_s = time.monotonic() - started
    figure(request, "major_move_deploy_s", round(moved_s, 1))
    assert report["ok"], json.dumps(report, indent=2)[-3000:]
    assert wh.psql("SHOW server_version_num;").strip().startswith("16"), "the new major runs"  # the kit's 16
    print(f"\nthe deploy that moved the warehouse 15 -> 16: {moved_s:.1f}s")

    assert wh.state() == before, "a table's rows differ after the move"
    assert wh.cards() == cards, "a dashboard card's result differs after the move"
    mounts = wh.host.docker("inspect", "--format", "{{range .Mounts}}{{.Name}} {{end}}", CONTAINER).stdout.split()
    assert NEW_VOLUME in mounts and OLD_VOLUME not in mounts, mounts
    labels = wh.volume_labels(NEW_VOLUME)
    assert labels is not None and labels["org.zixly.retires"] == OLD_VOLUME, labels
    assert wh.volume_labels(OLD_VOLUME) is not None, "the old volume is kept until --prune"
    users = wh.host.docker("ps", "-a", "--filter", f"volume={OLD_VOLUME}", "--format", "{{.Names}}").stdout.split()
    assert users == [], f"the old volume is still mounted by {users}"

    again = z.json("deploy", NAME, "--yes")
    assert again["ok"] and all(h["status"] == "unchanged" for h in again["hosts"]), json.dumps(again)[-2000:]
    assert z.json("plan", NAME)["hosts"][0]["changed"] is False

    pruned = z.run("upgrade", NAME, "--prune").stdout
    assert f"removed {OLD_VOLUME}" in pruned and f"retired by {NEW_VOLUME}" in pruned, pruned
    assert wh.volume_labels(OLD_VOLUME) is None and wh.volume_labels(NEW_VOLUME) is not None
    assert wh.state() == before
    assert "no retired volume" in z.run("upgrade", NAME, "--prune").stdout
