"""Recipes of the offline kit: parsing, hashing and upstream mapping (no engine needed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zixly_stack.images import image_for, list_recipes
from zixly_stack.images.kit import with_labels
from zixly_stack.images.recipes import BUILDER_VERSION, RecipeError, normalize_repository

EXPECTED = {"base", "traefik", "postgres", "mariadb", "redis", "socket-proxy", "standin", "n8n"}


def test_every_image_of_the_brief_has_a_recipe() -> None:
    recipes = {r.name: r for r in list_recipes()}
    assert recipes.keys() >= EXPECTED
    for recipe in recipes.values():
        assert recipe.tag == f"zixly-offline/{recipe.name}:{recipe.version}"
        assert len(recipe.recipe_hash) == 64
        labels = recipe.labels()
        assert labels["org.zixly.offline"] == "true"
        assert labels["org.zixly.recipe-hash"] == recipe.recipe_hash
        assert ("org.zixly.standin" in labels) == recipe.standin
    assert recipes["standin"].standin
    assert not any(r.standin for n, r in recipes.items() if n != "standin")
    assert recipes["n8n"].version == "2.41.1"


def test_parents_come_first() -> None:
    names = [r.name for r in list_recipes()]
    for recipe in list_recipes():
        if recipe.build.base:
            assert names.index(recipe.build.base) < names.index(recipe.name)


@pytest.mark.parametrize(
    ("upstream", "image"),
    [
        ("postgres:16-alpine", "postgres"),
        ("pgvector/pgvector:pg16", "postgres"),
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


def test_normalize_repository() -> None:
    assert normalize_repository("docker.io/library/postgres:16@sha256:abc") == "postgres"
    assert normalize_repository("localhost:5000/team/app:1") == "localhost:5000/team/app"
    assert normalize_repository("ghcr.io/Org/App") == "ghcr.io/org/app"


def _copy_recipes(tmp_path: Path) -> Path:
    src = Path(list_recipes()[0].path).parent
    root = tmp_path / "images"
    shutil.copytree(src, root, ignore=shutil.ignore_patterns("__pycache__"))
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
