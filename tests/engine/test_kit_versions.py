"""The kit's second versions: n8n 2.38.7 (built on demand) and an app upgrade that runs n8n's real
database migrations on the kit's PostgreSQL 16.

Real parts: the n8n 2.38.7 and 2.41.1 packages from npm in the kit's images, the kit's PostgreSQL
16 image. The older n8n is an ``on_demand`` recipe: this module builds it (under the kit's shared
lock) instead of every plain ``build``. Each n8n CLI command below opens the database and runs the
migrations it lacks first, as ``n8n start`` does; the migrations 2.41.1 adds over 2.38.7 are read
from the migration list of its own package, not written here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.conftest import LABEL, Containers, docker
from tests.engine.test_n8n import WORKFLOW
from zixly_stack.images import build, image_for, image_hash, list_recipes

pytestmark = pytest.mark.engine

OLD, NEW = "2.38.7", "2.41.1"
PG_PASSWORD = "kit-versions-pw"
# node: the names of the PostgreSQL migrations a package of n8n lists, in order
MIGRATIONS_JS = ("const m=require('/usr/local/lib/n8n/node_modules/@n8n/db/dist/migrations/postgresdb/index.js');"
                 "console.log(JSON.stringify(m.postgresMigrations.map(x=>x.name)))")


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


def _migrations(image: str) -> list[str]:
    out = docker("run", "--rm", "--label", LABEL, "--entrypoint", "node", image, "-e", MIGRATIONS_JS, timeout=300)
    return list(json.loads(out.stdout))


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
    old_list, new_list = _migrations(old_images["n8n-2.38"]), _migrations(kit_images["n8n"])
    added = [m for m in new_list if m not in old_list]
    assert len(added) >= 10 and "DropGitConnectionTables1788780616817" in added, added
    env = ("-e", "DB_TYPE=postgresdb", "-e", "DB_POSTGRESDB_HOST=db", "-e", "DB_POSTGRESDB_DATABASE=n8n",
           "-e", "DB_POSTGRESDB_USER=postgres", "-e", f"DB_POSTGRESDB_PASSWORD={PG_PASSWORD}",
           "-e", "N8N_ENCRYPTION_KEY=kit-versions-test-key")

    inbox = tmp_path / "in"
    inbox.mkdir()
    inbox.chmod(0o755)
    (inbox / "workflow.json").write_text(json.dumps(WORKFLOW))
    (inbox / "workflow.json").chmod(0o644)

    def cli(image: str, *argv: str) -> str:
        res = docker("run", "--rm", "--label", LABEL, "--network", net, "-v", f"{inbox}:/in:ro", *env, image, *argv,
                     timeout=600)
        return res.stdout + res.stderr

    def ran() -> list[str]:
        out = containers.exec(pg, "psql", "-U", "postgres", "-d", "n8n", "-Atc",
                              "SELECT name FROM migrations ORDER BY id").stdout
        return out.split()

    cli(old_images["n8n-2.38"], "import:workflow", "--input=/in/workflow.json")
    before = ran()
    assert before == old_list, "2.38.7 ran exactly its own migrations"
    assert not set(added) & set(before)
    log = cli(kit_images["n8n"], "list:workflow")
    assert f"{WORKFLOW['id']}|{WORKFLOW['name']}" in log, log[-3000:]
    assert ran() == new_list, f"2.41.1 ran the migrations it adds:\n{log[-3000:]}"
