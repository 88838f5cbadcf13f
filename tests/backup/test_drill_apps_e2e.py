"""End-to-end: the restore drill starts the backed-up apps against the restored data (real
engine, real restic, the session's shared stack; n8n is the real app, the others are labelled
stand-ins) -- every app healthy, n8n's readiness ok, nothing of the drill left behind -- and an
n8n database whose migrations record is gone (so n8n's start fails re-creating tables that
exist) fails the drill naming n8n. That case runs first: the forged snapshot is forgotten and a
fresh backup of n8n taken afterwards, so "latest" is the stack's real state again -- which the
full drill, run next, proves by starting n8n on it (every other test meets the real state)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.backup.test_backup_e2e import psql, restic_env, secret_values, sh
from tests.harness.stack import LocalStack

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

APPS = {"n8n", "plane", "nextcloud", "metabase", "chatwoot", "invoiceninja", "mautic", "portainer"}
BROKEN = "zixly_drill_broken"


@pytest.fixture(scope="module")
def backed_up(local_stack: LocalStack) -> Iterator[LocalStack]:
    local_stack.zixly.json("backup", local_stack.env, "--no-maintenance")
    yield local_stack


def _nothing_left(stack: LocalStack) -> None:
    left = sh("docker", "ps", "-aq", "--filter", f"label=org.zixly.drill={stack.env}")
    vols = sh("docker", "volume", "ls", "-q", "--filter", f"label=org.zixly.drill={stack.env}")
    nets = sh("docker", "network", "ls", "-q", "--filter", f"name=zixly-{stack.env}-drill")
    assert not (left.strip() or vols.strip() or nets.strip()), "a drill project was not torn down"


def _snapshots(stack: LocalStack, tag: str) -> list[dict[str, Any]]:
    """The environment's restic snapshots with *tag*, oldest first."""
    out: list[dict[str, Any]] = json.loads(subprocess.run(
        ["restic", "snapshots", "--json", "--tag", f"env:{stack.env},{tag}"], env=restic_env(stack),
        capture_output=True, text=True, timeout=300, check=True).stdout)
    return sorted(out, key=lambda s: s["time"])


def _forge_n8n_snapshot_without_migrations(stack: LocalStack) -> str:
    """A newest ``n8n.db.n8n`` snapshot: n8n's real database minus its ``migrations`` table.

    Made from a copy in a throw-away database of the live server; n8n's own database is never
    touched. Returns the forged snapshot's id.
    """
    pg = stack.container("postgres", "server")
    sh("docker", "exec", pg, "createdb", "-U", "postgres", BROKEN)
    dump = subprocess.run(["docker", "exec", pg, "pg_dump", "-U", "postgres", "-Fc", "n8n"], capture_output=True,
                          check=True, timeout=300).stdout
    subprocess.run(["docker", "exec", "-i", pg, "pg_restore", "-U", "postgres", "--exit-on-error", "-d", BROKEN],
                   input=dump, capture_output=True, check=True, timeout=300)
    assert psql(stack, pg, BROKEN, "DROP TABLE public.migrations; SELECT count(*) FROM public.workflow_entity;")
    broken = subprocess.run(["docker", "exec", pg, "pg_dump", "-U", "postgres", "-Fc", BROKEN], capture_output=True,
                            check=True, timeout=300).stdout
    tags = [f"env:{stack.env}", "service:n8n", "kind:db", "item:n8n.db.n8n", "run:29990101T000000Z"]
    # the real snapshots' --host: a host restores (and drills) the snapshots its own host wrote
    real = json.loads(subprocess.run(["restic", "snapshots", "--json", "--tag", f"env:{stack.env},item:n8n.db.n8n"],
                                     env=restic_env(stack), capture_output=True, text=True, timeout=300,
                                     check=True).stdout)[-1]
    res = subprocess.run(["restic", "backup", "--json", "--host", real["hostname"], "--stdin",
                          "--stdin-filename", "n8n/n8n.pgdump",
                          *[a for t in tags for a in ("--tag", t)]], input=broken, capture_output=True,
                         env=restic_env(stack), timeout=300, check=True)
    summary = [json.loads(line) for line in res.stdout.splitlines() if b'"summary"' in line][-1]
    return str(summary["snapshot_id"])  # restic 0.14: the short id


def test_an_n8n_database_that_does_not_start_n8n_fails_the_drill_naming_n8n(backed_up: LocalStack) -> None:
    stack = backed_up
    forged = forged_at = ""
    pg = stack.container("postgres", "server")
    try:
        forged = _forge_n8n_snapshot_without_migrations(stack)
        forged_at = next(s["time"] for s in _snapshots(stack, "item:n8n.db.n8n") if s["id"].startswith(forged))
        res = stack.zixly.run("backup", "verify", stack.env, "--service", "n8n", "--read-data-subset", "1/50",
                              "--json", check=18)
        report: dict[str, Any] = json.loads(res.stdout)
        items = {r["item"]: r for r in report["items"]}
        assert items["n8n.db.n8n"]["status"] == "ok", "the forged dump itself restores row for row"
        assert items["n8n.app"]["status"] == "FAILED" and items["n8n.app"]["service"] == "n8n", items
        assert "n8n did not start against the restored data" in items["n8n.app"]["detail"]
        assert "last log lines:" in items["n8n.app"]["detail"]
        assert "restore drill of" in res.stderr and "FAILED for n8n" in res.stderr
        assert report["torn_down"]
        _nothing_left(stack)
        assert not [v for v in secret_values(stack) if v in res.stdout + res.stderr], "a secret reached the output"
    finally:
        if forged:
            subprocess.run(["restic", "forget", forged], env=restic_env(stack), check=True, capture_output=True)
        sh("docker", "exec", pg, "dropdb", "-U", "postgres", "--if-exists", BROKEN)
        # "latest" must be the stack's real state again for every other test
        stack.zixly.run("backup", stack.env, "--service", "n8n", "--no-maintenance")
    # "latest" is the stack's real state again: the forged snapshot is gone and newer real ones exist; the
    # full drill, the next test, starts n8n on them (so the two together prove it; no third n8n start here)
    latest = _snapshots(stack, "item:n8n.db.n8n")
    assert not [s for s in latest if s["id"].startswith(forged)] and latest[-1]["time"] > forged_at, latest[-1]


def test_every_backed_up_app_starts_healthy_against_the_restored_data(backed_up: LocalStack) -> None:
    """The whole drill: every item restored into the scratch project row for row (the data drill,
    1/5 of the repository's data read back), then every app started against it."""
    stack = backed_up
    report = stack.zixly.json("backup", "verify", stack.env, "--read-data-subset", "1/5", check=0)
    assert report["status"] == "ok" and report["torn_down"], json.dumps(report, indent=1)
    assert all(r["status"] == "ok" for r in report["items"]), json.dumps(report, indent=1)
    apps = {r["service"]: r for r in report["items"] if r["item"].endswith(".app")}
    assert set(apps) == APPS, sorted(apps)
    assert all(r["status"] == "ok" for r in apps.values()), apps
    assert "readiness ok" in apps["n8n"]["detail"] and "stand-in" not in apps["n8n"]["detail"]
    assert "n8n healthy" in apps["n8n"]["detail"] and "runner healthy" in apps["n8n"]["detail"]
    assert all("stand-in image" in apps[a]["detail"] for a in APPS - {"n8n"})
    data = {r["item"] for r in report["items"] if not r["item"].endswith(".app")}
    assert {"n8n.db.n8n", "n8n.volume.data", "chatwoot.db.chatwoot", "invoiceninja.db.invoiceninja",
            "chatwoot.volume.storage"} <= data, sorted(data)
    _nothing_left(stack)
    text = json.dumps(report)
    assert not [v for v in secret_values(stack) if v in text], "a secret reached the report"


def test_data_only_drill_starts_no_app(backed_up: LocalStack) -> None:
    report = backed_up.zixly.json("backup", "verify", backed_up.env, "--service", "n8n", "--no-apps",
                                  "--read-data-subset", "1/50", check=0)
    assert report["status"] == "ok" and {r["item"] for r in report["items"]} == {"n8n.db.n8n", "n8n.volume.data"}
    _nothing_left(backed_up)
