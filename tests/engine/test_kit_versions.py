"""The kit's second versions: n8n 2.38.7 (built on demand) and an app upgrade that runs n8n's real
database migrations on the kit's PostgreSQL 16, then the revert-style downgrade's code on them.

Real parts: the n8n 2.38.7 and 2.41.1 packages from npm in the kit's images, the kit's PostgreSQL
16 image, n8n's own ``db:revert``. The older n8n is an ``on_demand`` recipe: this module builds it
(under the kit's shared lock) instead of every plain ``build``. Each n8n CLI command below opens the
database and runs the migrations it lacks first, as ``n8n start`` does; the migrations each version
knows are read from its own package with the catalog's ``downgrade.until.known`` command, and the
database's with its ``applied`` query, through the deploy's own argv (:mod:`zixly_stack.upgrade.revert`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.conftest import LABEL, Containers, docker
from tests.engine.test_n8n import CATALOG_HEALTHCHECK, WORKFLOW
from zixly_stack.catalog.upgrades import Revert, plan_move
from zixly_stack.commands.docker import DOCKER
from zixly_stack.config.loader import load_catalog
from zixly_stack.images import build, image_for, image_hash, list_recipes
from zixly_stack.upgrade.revert import (
    Known,
    RevertRefused,
    RunOnce,
    applied_argv,
    applied_names,
    check_pending,
    one_off,
    parse_known,
    pending,
    revert_until_known,
)

pytestmark = pytest.mark.engine

OLD, NEW = "2.38.7", "2.41.1"
PG_PASSWORD = "kit-versions-pw"
REPO = Path(__file__).resolve().parents[2]
CREDENTIAL = {"id": "kitVersionsCred1", "name": "kit versions basic auth", "type": "httpBasicAuth",
              "data": {"user": "loader", "password": "kit-versions-credential-pw"}}


@pytest.fixture(scope="module")
def old_images(kit_images: dict[str, str]) -> dict[str, str]:
    """The on-demand images of the older n8n, built (or found current) once per module. A build that
    fails is a failure of our recipe (npm is reachable wherever the kit builds), never a skip."""
    return build(["n8n-runners-2.38"], verbose=True)


def test_the_older_n8n_is_built_on_demand_and_tagged_for_its_pin(old_images: dict[str, str]) -> None:
    assert old_images["n8n-2.38"] == f"zixly-offline/n8n:{OLD}"
    assert old_images["n8n-runners-2.38"] == f"zixly-offline/n8n-runners:{OLD}"
    recipes = {r.name: r for r in list_recipes()}
    for name in ("n8n-2.38", "n8n-runners-2.38"):
        assert image_hash(recipes[name].tag) == recipes[name].recipe_hash
    for upstream, name in ((f"n8nio/n8n:{OLD}", "n8n-2.38"), (f"n8nio/runners:{OLD}", "n8n-runners-2.38"),
                           (f"n8nio/n8n:{NEW}", "n8n")):
        recipe = image_for(upstream)
        assert recipe is not None and recipe.name == name


def test_each_n8n_image_reports_its_own_version(old_images: dict[str, str], kit_images: dict[str, str]) -> None:
    for image, version in ((old_images["n8n-2.38"], OLD), (kit_images["n8n"], NEW)):
        out = docker("run", "--rm", "--label", LABEL, image, "--version", timeout=300).stdout.strip()
        assert out.splitlines()[-1] == version, out
    runner = docker("run", "--rm", "--label", LABEL, "--entrypoint", "node", old_images["n8n-runners-2.38"], "-p",
                    "require('/usr/local/lib/n8n/node_modules/n8n/package.json').version", timeout=300)
    assert runner.stdout.strip() == OLD


def _rule() -> Revert:
    """The catalog's revert of n8n (services/n8n/service.yaml ``upgrade.downgrade``), as the deploy plans it."""
    rules = load_catalog(REPO).services["n8n"].upgrade
    move = plan_move("n8n", rules, NEW, OLD) if rules is not None else None
    assert move is not None and move.revert is not None, "the catalog's n8n downgrade reverts"
    return move.revert


def _known(image: str, rule: Revert) -> Known:
    """The migrations *image* knows: the catalog's ``known`` argv in a fresh container (no network)."""
    argv = one_off([DOCKER, "run", "--rm", "--label", LABEL, "--network", "none"], image, rule.known)
    return parse_known(docker(*argv[1:], timeout=300).stdout)


@pytest.fixture
def database(containers: Containers, kit_images: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(network, server) of a PostgreSQL 16 from the kit, on a network of its own."""
    net = f"{containers.prefix}-net"
    docker("network", "create", "--label", LABEL, net)
    pg = containers.run("pg", kit_images["postgres-16"], options=(
        "--network", net, "--network-alias", "db", "-e", f"POSTGRES_PASSWORD={PG_PASSWORD}", "-e", "POSTGRES_DB=n8n",
        "--health-cmd", "pg_isready -U postgres -h 127.0.0.1", "--health-interval", "1s", "--health-retries", "60"))
    containers.wait_health(pg)
    yield net, pg


def test_an_upgrade_from_the_older_n8n_runs_its_real_migrations(
    old_images: dict[str, str], kit_images: dict[str, str], containers: Containers, database: tuple[str, str],
    tmp_path: Path,
) -> None:
    net, pg = database
    rule = _rule()
    old_image, new_image = old_images["n8n-2.38"], kit_images["n8n"]
    old, new = _known(old_image, rule), _known(new_image, rule)
    old_list, new_list = list(old.names), list(new.names)
    added = [m for m in new_list if m not in old_list]
    assert len(added) >= 10 and "DropGitConnectionTables1788780616817" in added, added
    assert new_list[:len(old_list)] == old_list, "2.41.1 knows 2.38.7's migrations, in the same order"
    env = ("-e", "DB_TYPE=postgresdb", "-e", "DB_POSTGRESDB_HOST=db", "-e", "DB_POSTGRESDB_DATABASE=n8n",
           "-e", "DB_POSTGRESDB_USER=postgres", "-e", f"DB_POSTGRESDB_PASSWORD={PG_PASSWORD}",
           "-e", "N8N_ENCRYPTION_KEY=kit-versions-test-key")

    inbox = tmp_path / "in"
    inbox.mkdir()
    inbox.chmod(0o755)
    for name, doc in (("workflow.json", WORKFLOW), ("credentials.json", [CREDENTIAL])):
        (inbox / name).write_text(json.dumps(doc))
        (inbox / name).chmod(0o644)

    def cli(image: str, *argv: str) -> str:
        res = docker("run", "--rm", "--label", LABEL, "--network", net, "-v", f"{inbox}:/in:ro", *env, image, *argv,
                     timeout=600)
        return res.stdout + res.stderr

    def ran() -> list[str]:
        """The catalog's ``applied`` query, through the deploy's psql argv."""
        return applied_names(docker(*applied_argv(pg, "n8n", rule.applied)[1:], timeout=120).stdout)

    def revert_with(image: str) -> RunOnce:
        """One run of the catalog's revert command with *image*: the deploy's one-off argv, ``docker run``
        with this database's env where a host runs ``docker compose run`` of the service."""
        argv = one_off([DOCKER, "run", "--rm", "--label", LABEL, "--network", net, *env], image, rule.command)

        def once() -> tuple[bool, str]:
            res = docker(*argv[1:], timeout=600, check=False)
            return res.returncode == 0, (res.stdout + res.stderr)[-600:]

        return once

    cli(old_image, "import:workflow", "--input=/in/workflow.json")
    cli(old_image, "import:credentials", "--input=/in/credentials.json")
    before = ran()
    assert before == old_list, "2.38.7 ran exactly its own migrations"
    assert not set(added) & set(before)

    # The revert loop with n8n's real db:revert making progress. The kit has no n8n older than 2.38.7,
    # so 2.38.7's own two newest migrations (both with a down step) stand for what such a version would
    # not know: a labelled stand-in for its list; the real 2.41.1 -> 2.38.7 downgrade is at the end.
    newest = old_list[-2:]
    assert not set(newest) & old.irreversible, newest
    target = old_list[:-2]
    assert pending(before, target) == tuple(reversed(newest))
    reverted = revert_until_known(revert_with(old_image), ran, target, rule.limit)
    assert reverted == tuple(reversed(newest)) and ran() == target, "exactly the two reverted, newest first"
    # 2.38.7 starts healthy on the reverted database (its start runs the two again), its data intact
    n8n = containers.run("n8n-old", old_image, options=(
        "--network", net, *env, "--health-cmd", CATALOG_HEALTHCHECK, "--health-interval", "2s",
        "--health-start-period", "300s"))
    containers.wait_health(n8n, timeout=420)  # as the n8n fixture of test_n8n.py: a first start migrates
    assert ran() == old_list
    res = containers.exec(n8n, "n8n", "list:workflow", timeout=300)
    listed = res.stdout + res.stderr
    assert f"{WORKFLOW['id']}|{WORKFLOW['name']}" in listed, listed[-2000:]
    res = containers.exec(n8n, "n8n", "export:credentials", "--all", "--decrypted", timeout=300)
    exported = res.stdout + res.stderr  # n8n's logger prints the export
    assert '"kit-versions-credential-pw"' in exported, "the credential decrypts with the same key"
    docker("rm", "-f", n8n)

    log = cli(new_image, "list:workflow")
    assert f"{WORKFLOW['id']}|{WORKFLOW['name']}" in log, log[-3000:]
    assert ran() == new_list, f"2.41.1 ran the migrations it adds:\n{log[-3000:]}"

    # The real downgrade 2.41.1 -> 2.38.7: a migration 2.41.1 adds has no down step, so the deploy's
    # count refuses it before anything stops (the checkpoint is the way back) ...
    stuck = [m for m in reversed(added) if m in new.irreversible]
    assert stuck, "2.41.1 adds an irreversible migration"
    with pytest.raises(RevertRefused, match="irreversible") as refused:
        check_pending("n8n", NEW, OLD, ran(), old, new, rule.limit)
    assert stuck[0] in str(refused.value)
    # ... and n8n's own db:revert on it exits 0 having done nothing: the loop stops on no progress.
    with pytest.raises(RevertRefused, match="made no progress"):
        revert_until_known(revert_with(new_image), ran, old_list, rule.limit)
    assert ran() == new_list, "nothing was reverted"
