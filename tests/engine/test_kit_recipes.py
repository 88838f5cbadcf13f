"""Recipes of the offline kit: parsing, hashing and upstream mapping (no engine needed)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from zixly_stack.images import image_for, kit, list_recipes
from zixly_stack.images.kit import with_labels
from zixly_stack.images.recipes import (
    BUILDER_VERSION,
    KitVersionError,
    RecipeError,
    kit_recipe,
    normalize_repository,
    split_reference,
)

EXPECTED = {"base", "traefik", "postgres", "postgres-16", "mariadb", "redis", "socket-proxy", "standin", "n8n",
            "n8n-runners", "n8n-2.38", "n8n-runners-2.38"}


def test_every_image_of_the_brief_has_a_recipe() -> None:
    recipes = {r.name: r for r in list_recipes()}
    assert recipes.keys() >= EXPECTED
    for recipe in recipes.values():
        assert recipe.tag == f"zixly-offline/{recipe.image or recipe.name}:{recipe.version}"
        assert len(recipe.recipe_hash) == 64
        labels = recipe.labels()
        assert labels["org.zixly.offline"] == "true"
        assert labels["org.zixly.recipe-hash"] == recipe.recipe_hash
        assert ("org.zixly.standin" in labels) == recipe.standin
    assert recipes["standin"].standin
    assert not any(r.standin for n, r in recipes.items() if n != "standin")
    assert recipes["n8n"].version == "2.41.1"
    assert recipes["postgres-16"].tag == "zixly-offline/postgres:16"
    assert recipes["n8n-2.38"].tag == "zixly-offline/n8n:2.38.7"
    assert recipes["n8n-runners-2.38"].tag == "zixly-offline/n8n-runners:2.38.7"
    assert recipes["n8n-runners-2.38"].build.base == "n8n-2.38"
    assert {n for n, r in recipes.items() if r.on_demand} == {"n8n-2.38", "n8n-runners-2.38", "base-trixie",
                                                               "mariadb-11.8", "redis-8.0"}
    assert recipes["mariadb-11.8"].tag == "zixly-offline/mariadb:11.8"
    assert recipes["redis-8.0"].tag == "zixly-offline/redis:8.0"
    assert recipes["base-trixie"].tag == "zixly-offline/base:trixie"
    assert recipes["mariadb-11.8"].build.base == recipes["redis-8.0"].build.base == "base-trixie"


def test_parents_come_first() -> None:
    names = [r.name for r in list_recipes()]
    for recipe in list_recipes():
        if recipe.build.base:
            assert names.index(recipe.build.base) < names.index(recipe.name)


@pytest.mark.parametrize(
    ("upstream", "image"),
    [
        ("postgres:16-alpine", "postgres-16"),
        ("postgres:16.15-bookworm", "postgres-16"),
        ("docker.io/library/postgres:16@sha256:" + "0" * 64, "postgres-16"),
        ("pgvector/pgvector:pg16", "postgres-16"),
        ("pgvector/pgvector:0.8.4-pg16-bookworm", "postgres-16"),
        ("postgres:15", "postgres"),
        ("postgres:15.14-bookworm", "postgres"),
        ("pgvector/pgvector:0.8.4-pg15-bookworm", "postgres"),
        ("n8nio/n8n:2.38.7", "n8n-2.38"),
        ("n8nio/runners:2.38.7", "n8n-runners-2.38"),
        ("n8nio/runners:2.41.1", "n8n-runners"),
        ("docker.io/library/mariadb:11.4", "mariadb"),
        ("mysql:8", "mariadb"),
        ("redis:7-alpine", "redis"),
        ("valkey/valkey:8", "redis"),
        ("traefik:v3.6", "traefik"),
        ("tecnativa/docker-socket-proxy:0.3", "socket-proxy"),
        ("lscr.io/linuxserver/socket-proxy:latest", "socket-proxy"),
        ("n8nio/n8n:2.41.1", "n8n"),
        ("docker.n8n.io/n8nio/n8n:2.41.1", "n8n"),
        ("metabase/metabase:v0.56.3", "standin"),
        ("makeplane/plane-backend:v1.0.0", "standin"),
        ("nextcloud:31-apache", "standin"),
        ("chatwoot/chatwoot:v4.5.0", "standin"),
        ("invoiceninja/invoiceninja-debian:5", "standin"),
        ("mautic/mautic:5-apache", "standin"),
        ("portainer/portainer-ce:2.27.0@sha256:" + "0" * 64, "standin"),
        ("rabbitmq:3.13-management", "standin"),
        ("minio/minio:RELEASE.2025-04-22T22-12-26Z", "standin"),
    ],
)
def test_image_for_maps_upstream_repositories(upstream: str, image: str) -> None:
    recipe = image_for(upstream)
    assert recipe is not None, upstream
    assert recipe.name == image


def test_unknown_repository_has_no_image() -> None:
    assert image_for("example/unknown:1") is None


@pytest.mark.parametrize(
    ("upstream", "message"),
    [
        ("postgres:17.2-bookworm", "no image for postgres:17.2-bookworm (version 17 read from the tag); it has "
                                   "postgres 15 (zixly-offline/postgres:15), 16 (zixly-offline/postgres:16)"),
        ("pgvector/pgvector:0.8.4-pg14-bookworm", "(version 14 read from the tag); it has pgvector/pgvector 15"),
        ("postgres:latest", "no image for postgres:latest; it has postgres 15"),
        ("n8nio/n8n:2.40.0", "no image for n8nio/n8n:2.40.0 (version 2.40.0 read from the tag); it has n8nio/n8n "
                             "2.41.1 (zixly-offline/n8n:2.41.1), 2.38.7 (zixly-offline/n8n:2.38.7)"),
    ],
)
def test_a_version_the_kit_lacks_is_an_error_naming_what_it_has(upstream: str, message: str) -> None:
    with pytest.raises(KitVersionError) as err:
        image_for(upstream)
    assert message in str(err.value)


def test_a_recipe_without_match_serves_every_tag_of_its_repository() -> None:
    recipes = list_recipes()
    assert kit_recipe("mariadb", "11.4.13", recipes) is kit_recipe("mariadb", "10.11.14", recipes)
    assert kit_recipe("redis", "7.4.11-bookworm", recipes) is not None


def test_normalize_repository() -> None:
    assert normalize_repository("docker.io/library/postgres:16@sha256:abc") == "postgres"
    assert split_reference("docker.io/library/postgres:16.15-bookworm@sha256:abc") == ("postgres", "16.15-bookworm")
    assert split_reference("localhost:5000/team/app") == ("localhost:5000/team/app", "")
    assert normalize_repository("localhost:5000/team/app:1") == "localhost:5000/team/app"
    assert normalize_repository("ghcr.io/Org/App") == "ghcr.io/org/app"


def _copy_recipes(tmp_path: Path) -> Path:
    src = Path(list_recipes()[0].path).parent
    root = tmp_path / "images"
    shutil.copytree(src, root, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))  # shared files stay links
    return root


def test_hash_is_stable_and_follows_content_and_parent(tmp_path: Path) -> None:
    root = _copy_recipes(tmp_path)
    before = {r.name: r.recipe_hash for r in list_recipes(root)}
    assert before == {r.name: r.recipe_hash for r in list_recipes()}  # location-independent
    (root / "redis" / "docker-entrypoint.sh").write_text('#!/bin/sh\nexec "$@"\n')
    after = {r.name: r.recipe_hash for r in list_recipes(root)}
    assert after["redis"] != before["redis"]
    assert after["postgres"] == before["postgres"]
    (root / "base" / "rootfs" / "etc" / "motd").write_text("changed\n")
    rebased = {r.name: r.recipe_hash for r in list_recipes(root)}
    assert all(rebased[n] != after[n] for n in ("base", "postgres", "mariadb", "standin", "n8n"))
    assert rebased["traefik"] == after["traefik"]  # FROM scratch: no parent


def test_a_shared_file_changes_every_recipe_that_links_it(tmp_path: Path) -> None:
    root = _copy_recipes(tmp_path)
    before = {r.name: r.recipe_hash for r in list_recipes(root)}
    entry = root / "postgres" / "docker-entrypoint.sh"
    entry.write_text(entry.read_text() + "# changed\n")
    after = {r.name: r.recipe_hash for r in list_recipes(root)}
    assert after["postgres"] != before["postgres"] and after["postgres-16"] != before["postgres-16"]
    assert after["n8n"] == before["n8n"]
    launcher = root / "n8n-runners" / "launcher.js"
    launcher.write_text(launcher.read_text() + "// changed\n")
    again = {r.name: r.recipe_hash for r in list_recipes(root)}
    assert again["n8n-runners"] != after["n8n-runners"] and again["n8n-runners-2.38"] != after["n8n-runners-2.38"]
    lock = root / "n8n-2.38" / "package-lock.json"
    lock.write_text(lock.read_text() + "\n")
    last = {r.name: r.recipe_hash for r in list_recipes(root)}
    assert last["n8n-2.38"] != again["n8n-2.38"] and last["n8n-runners-2.38"] != again["n8n-runners-2.38"]
    assert last["n8n"] == again["n8n"] and last["n8n-runners"] == again["n8n-runners"]


def _edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name / "recipe.yaml"
    text = path.read_text()
    assert old in text, (name, old)
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("name", "old", "new", "error"),
    [
        ("postgres-16", 'version: "16"', 'version: "15"',
         r"postgres-16/recipe.yaml: tag zixly-offline/postgres:15 is also made by recipe 'postgres'"),
        ("postgres-16", "match:\n  postgres:", "match:\n  mariadb:",
         r"postgres-16/recipe.yaml: match.mariadb: not a repository this recipe replaces"),
        ("postgres-16", "(?P<version>[0-9]+)(?:[.-]|$)", "([0-9]+)", r"needs a named group 'version'"),
        ("postgres-16", "(?P<version>[0-9]+)(?:[.-]|$)", "(?P<version>[0-9", r"match.postgres: invalid regex"),
        ("n8n", "match:", "unmatched:", r"unknown keys \['unmatched'\]"),
        ("postgres-16", "sha256: dfe7", "sha256: xfe7", r"build.fetch\[0\]: sha256: 64 lowercase hex"),
        ("postgres-16", '      python: "3.11"\n', "", r"build.fetch\[1\]: a pypi wheel needs 'python'"),
        ("postgres-16", "as: pgserver.whl", "as: ../x", r"build.fetch\[1\]: as: a plain file name"),
    ],
)
def test_kit_consistency_errors_name_the_recipe(tmp_path: Path, name: str, old: str, new: str, error: str) -> None:
    root = _copy_recipes(tmp_path)
    _edit(root, name, old, new)
    with pytest.raises(RecipeError, match=error):
        list_recipes(root)


def test_a_repository_replaced_twice_needs_match_in_all_but_one(tmp_path: Path) -> None:
    root = _copy_recipes(tmp_path)
    for name in ("n8n", "n8n-2.38"):
        path = root / name / "recipe.yaml"
        lines = path.read_text().splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith("match:"))
        path.write_text("".join(lines[:start] + lines[start + 3:]))
    with pytest.raises(RecipeError, match=r"images: docker.n8n.io/n8nio/n8n is replaced by recipes n8n, n8n-2.38; "
                                          r"all but one need match.docker.n8n.io/n8nio/n8n "
                                          r"\(missing in n8n, n8n-2.38\)"):
        list_recipes(root)


def test_the_recipe_without_match_serves_the_tags_no_other_recipe_takes() -> None:
    recipes = list_recipes()
    assert kit_recipe("mariadb", "11.8.9", recipes).name == "mariadb-11.8"  # type: ignore[union-attr]
    assert kit_recipe("redis", "8.0.2-bookworm", recipes).name == "redis-8.0"  # type: ignore[union-attr]
    for repo, tag in (("mariadb", "11.4.13"), ("mariadb", "10.11.14"), ("redis", "7.4.11-bookworm")):
        assert kit_recipe(repo, tag, recipes).name == repo  # type: ignore[union-attr]


def test_a_plain_build_leaves_out_on_demand_recipes(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    monkeypatch.setattr(kit, "is_current", lambda recipe: True)
    monkeypatch.setattr(kit, "_lock", contextlib.nullcontext)
    results = kit.build_all(verbose=False)
    built = [r.name for r in results]
    assert "n8n-2.38" not in built and "n8n-runners-2.38" not in built and "postgres-16" in built
    named = [r.name for r in kit.build_all(["n8n-runners-2.38"], verbose=False)]
    assert named == ["base", "n8n-2.38", "n8n-runners-2.38"]


def test_hash_covers_builder_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = list_recipes()[0].recipe_hash
    monkeypatch.setattr("zixly_stack.images.recipes.BUILDER_VERSION", BUILDER_VERSION + "-next")
    assert list_recipes()[0].recipe_hash != before


def test_bad_recipe_is_reported_with_its_path(tmp_path: Path) -> None:
    root = _copy_recipes(tmp_path)
    (root / "redis" / "recipe.yaml").write_text("name: redis\nversion: '7'\nverison: 1\n")
    with pytest.raises(RecipeError, match=r"redis/recipe.yaml: unknown keys \['verison'\]"):
        list_recipes(root)


def test_labels_are_inserted_after_every_from() -> None:
    recipe = next(r for r in list_recipes() if r.name == "postgres")
    text = with_labels('ARG BASE\nFROM ${BASE} AS x\nRUN true\nFROM ${BASE}\nCMD ["x"]\n', recipe)
    lines = text.splitlines()
    assert lines[1] == "FROM ${BASE} AS x" and lines[4] == "FROM ${BASE}"
    for index in (2, 5):
        assert lines[index].startswith("LABEL ") and recipe.recipe_hash in lines[index]
    with pytest.raises(RecipeError):
        with_labels("RUN true\n", recipe)
