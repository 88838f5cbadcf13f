"""The upgrade checkpoint's pure parts: what it holds (a service's own data and the databases its
servers hold), how its snapshots are found again (tag and host), when it counts as readable, the
free-space refusal, and what the release log gives back to ``zixly upgrade --rollback``."""

from __future__ import annotations

import datetime as dt
import json

from zixly_stack.backup.snapshots import Snapshot
from zixly_stack.catalog.upgrades import Hop, Move
from zixly_stack.commands.hostfs import available_kib
from zixly_stack.plan.model import ComposeShape, HostPlan, ProjectChange
from zixly_stack.plan.steps import CheckpointData, SwitchCurrent, host_steps
from zixly_stack.render.backup.plan import BackupPlan, Item, ServicePlan
from zixly_stack.upgrade.checkpoint import (
    checkpoint_plan,
    nodes,
    space_problem,
    tagged,
    unreadable,
)
from zixly_stack.upgrade.datastore import major_refusal
from zixly_stack.upgrade.record import last_upgrade

TAG = "upgrade:invoiceninja:5.13.47->5.13.48"
DB = Item("invoiceninja", "db", "invoiceninja.db.invoiceninja", "mariadb", container="zixly-p-mariadb-server-1",
          database="invoiceninja", filename="invoiceninja.sql")
VOL = Item("invoiceninja", "volume", "invoiceninja.volume.storage", "volume", volume="zixly-p-invoiceninja_storage")
MAUTIC = Item("mautic", "db", "mautic.db.mautic", "mariadb", container="zixly-p-mariadb-server-1", database="mautic",
              filename="mautic.sql")
PLAN = BackupPlan("p", "h2", (ServicePlan("invoiceninja", "zixly-p-invoiceninja", (DB, VOL)),
                              ServicePlan("mautic", "zixly-p-mautic", (MAUTIC,))))


def snap(item: str, sid: str, *, tag: str = TAG, host: str = "zixly-p-h2", source: str = "/invoiceninja.sql",
         minute: int = 0, kind: str = "db") -> Snapshot:
    key, _, value = tag.partition(":")
    return Snapshot(sid, sid[:8], dt.datetime(2026, 12, 7, 21, minute, tzinfo=dt.UTC), (source,),
                    {"item": item, "kind": kind, key: value}, host)


def test_an_app_checkpoints_its_own_data_and_a_shared_store_the_databases_it_holds() -> None:
    assert checkpoint_plan(PLAN, "invoiceninja", "zixly-p-invoiceninja").items == (DB, VOL)
    held = checkpoint_plan(PLAN, "mariadb", "zixly-p-mariadb")
    assert (held.service, held.items) == ("mariadb", (DB, MAUTIC))
    assert checkpoint_plan(PLAN, "traefik", "zixly-p-traefik").items == ()


def test_the_checkpoint_is_the_newest_tagged_snapshot_of_each_item_from_its_own_host() -> None:
    snaps = [snap(DB.name, "a" * 64, minute=1), snap(DB.name, "b" * 64, minute=2),
             snap(DB.name, "c" * 64, minute=3, host="zixly-p-h1"),
             snap(DB.name, "d" * 64, minute=4, tag="upgrade:invoiceninja:5.13.46->5.13.47"),
             snap(DB.name, "e" * 64, minute=5, tag="run:20261207T210500Z")]
    assert {k: v.id[0] for k, v in tagged(snaps, TAG, "zixly-p-h2").items()} == {DB.name: "b"}


def test_readable_means_every_dump_listed_and_every_manifest_complete() -> None:
    sp = ServicePlan("invoiceninja", "zixly-p-invoiceninja", (DB, VOL))
    chosen = {DB.name: snap(DB.name, "a" * 64),
              VOL.name: snap(VOL.name, "b" * 64, source="/var/lib/docker/volumes/v/_data", kind="volume")}
    ls_db = "\n".join(json.dumps(d) for d in (
        {"struct_type": "snapshot", "id": "a"},
        {"struct_type": "node", "type": "file", "path": "/invoiceninja.sql", "size": 2048}))
    ls_vol = [{"struct_type": "node", "type": "file", "path": f"/var/lib/docker/volumes/v/_data/{n}", "size": 1}
              for n in ("a.txt", "sub/b.txt")] + [{"struct_type": "node", "type": "dir",
                                                  "path": "/var/lib/docker/volumes/v/_data/sub"}]
    listed = {DB.name: nodes(ls_db), VOL.name: ls_vol}
    manifest = {VOL.name: {"a.txt": "0" * 64, "sub/b.txt": "1" * 64}}
    assert [n["path"] for n in listed[DB.name]] == ["/invoiceninja.sql"]
    listed[VOL.name] = [n for n in ls_vol if n["type"] == "file"]
    assert unreadable(sp, chosen, listed, manifest) == []
    short = {VOL.name: {"a.txt": "0" * 64}}
    assert unreadable(sp, chosen, listed, short) == [
        f"{VOL.name}: the manifest does not match snapshot bbbbbbbb (0 listed but not saved, 1 saved but not "
        "listed: sub/b.txt)"]
    empty = {**listed, DB.name: [{"path": "/invoiceninja.sql", "size": 0}]}
    assert unreadable(sp, chosen, empty, manifest) == [f"{DB.name}: the dump /invoiceninja.sql is empty"]
    assert unreadable(sp, {VOL.name: chosen[VOL.name]}, listed, manifest) == [f"{DB.name}: no snapshot"]


def test_free_space_is_read_from_df_and_refused_with_the_figures() -> None:
    df = "Filesystem     1024-blocks    Used Available Capacity Mounted on\n/dev/vda1 10000 9000 1000 90% /\n"
    assert available_kib(df) == 1000
    assert available_kib("df: /nope: No such file or directory") is None
    assert space_problem("/var/lib/docker", "h2", 2048, 1024) == ""
    why = space_problem("/var/lib/docker", "h2", 1000 * 1024, 5 * 1024 * 1024)
    assert "1.0 MB free in /var/lib/docker, 5.2 MB needed" in why, why
    assert why.startswith("not enough free space on h2 for the upgrade") and "nothing was stopped" in why


def test_the_seam_carries_a_data_store_major_out() -> None:
    """Filled on branch i16store: the plan refuses a major whose new volume is not recorded; move_major reads
    the rest on the host (tests/upgrades/test_datastore*.py)."""
    assert major_refusal("postgres", Hop("a-pg15", "a-pg16", (), "restore", data_format=True)) == ""
    assert major_refusal("n8n", Hop("2.40.0", "2.41.1", (), "restore")) == ""


def _entry(**kw: object) -> str:
    base = {"at": "t", "command": "deploy", "release": "r2", "previous": "r1", "result": "ok", "new_files": True}
    return json.dumps({**base, **kw})


UP = {"service": "n8n", "from": "2.40.0", "to": "2.41.1", "project": "zixly-p-n8n", "result": "ok",
      "checkpoint": {"tag": "upgrade:n8n:2.40.0->2.41.1"}}


def test_rollback_finds_the_last_finished_upgrade_while_it_is_what_runs() -> None:
    rec = last_upgrade([_entry(release="r1", previous="r0"), _entry(upgrades=[UP])], "n8n")
    assert rec is not None and (rec.src, rec.dst, rec.tag, rec.release, rec.previous) == (
        "2.40.0", "2.41.1", "upgrade:n8n:2.40.0->2.41.1", "r2", "r1")
    assert last_upgrade([_entry(upgrades=[UP])], "redis") is None
    # a later deploy of new files, or a rollback, makes the checkpoint stale
    assert last_upgrade([_entry(upgrades=[UP]), _entry(release="r3", previous="r2")], "n8n") is None
    assert last_upgrade([_entry(upgrades=[UP]), _entry(command="rollback", release="r1", new_files=False)],
                        "n8n") is None
    # a failed later upgrade (rolled back) does not hide it; a failed upgrade is never returned
    failed = {**UP, "from": "2.41.1", "to": "2.42.0", "result": "failed"}
    assert last_upgrade([_entry(upgrades=[UP]), _entry(release="r3", previous="r2", result="rolled back",
                                                       upgrades=[failed])], "n8n") is not None
    assert last_upgrade([_entry(result="rolled back", upgrades=[{**UP, "result": "failed"}])], "n8n") is None


def test_the_checkpoint_step_comes_before_current_is_switched() -> None:
    move = Move("n8n", "2.40.0", "2.41.1", "upgrade", (Hop("2.40.0", "2.41.1", (), "restore"),))
    proj = ProjectChange("zixly-p-n8n", "n8n", "up", 3, 60, ComposeShape(("n8n",), ()))
    plan = HostPlan("h", "p", "/srv", "r1", "r2", projects=(proj,), upgrades=(move,))
    steps = host_steps(plan, {}, "r2").steps
    kinds = [type(s) for s in steps]
    assert kinds.index(CheckpointData) < kinds.index(SwitchCurrent)
    cp = next(s for s in steps if isinstance(s, CheckpointData))
    assert cp.tags == ("upgrade:n8n:2.40.0->2.41.1",)
    down = Move("n8n", "2.41.1", "2.40.0", "downgrade", (Hop("2.41.1", "2.40.0", (), "image"),), "none")
    assert not any(isinstance(s, CheckpointData) for s in host_steps(
        HostPlan("h", "p", "/srv", "r1", "r2", projects=(proj,), upgrades=(down,)), {}, "r2").steps)
