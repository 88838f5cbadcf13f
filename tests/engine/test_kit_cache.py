"""Recipe-hash caching: once built, a second build of the kit is all "cached"."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.engine.conftest import docker
from zixly_stack.images import build_all, list_recipes

pytestmark = pytest.mark.engine


def test_second_build_is_cached(kit_images: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    results = build_all()
    out = capsys.readouterr().out
    assert results and all(r.cached for r in results), [r.name for r in results if not r.cached]
    assert {r.name for r in results} == {r.name for r in list_recipes() if not r.on_demand}
    assert out.count(" cached (") == len(results)


def test_images_carry_recipe_labels(kit_images: dict[str, str]) -> None:
    for recipe in (r for r in list_recipes() if not r.on_demand):  # on demand: built by their tests only
        labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", recipe.tag).stdout)
        assert labels["org.zixly.recipe-hash"] == recipe.recipe_hash
        assert labels["org.zixly.offline"] == "true"
        assert labels.get("org.zixly.standin") == ("true" if recipe.standin else None)


def test_cli_list_and_cached_build(kit_images: dict[str, str]) -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "zixly_stack.images", "list"], capture_output=True, text=True, check=True
    ).stdout
    for recipe in list_recipes():
        line = next(ln for ln in listing.splitlines() if ln.startswith(recipe.tag + " "))
        assert " current " in line or recipe.on_demand, line
        assert line.endswith(", on demand") == recipe.on_demand, line
    res = subprocess.run(
        [sys.executable, "-m", "zixly_stack.images", "build", "redis"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "zixly-offline/redis:7.0 cached" in res.stdout
    assert "0 built" in res.stdout
