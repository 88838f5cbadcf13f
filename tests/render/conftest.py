"""Fixtures rendering the real catalog with deterministic (fake) secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import REPO, fake_secrets
from zixly_stack.project import load, render, write_tree
from zixly_stack.render import RenderedFile

GOLDEN_ENVS = ("production", "local")
ALL_ENVS = ("production", "staging", "local", "demo")

_cache: dict[str, tuple[RenderedFile, ...]] = {}


def render_env(env: str) -> tuple[RenderedFile, ...]:
    """Render ``env`` of the real repo with fake secrets (cached per session)."""
    if env not in _cache:
        loaded = load(REPO, env)
        _cache[env] = render(loaded, fake_secrets(loaded))
    return _cache[env]


@pytest.fixture(scope="session")
def rendered_trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example environment rendered and written to disk once per session."""
    out: dict[str, Path] = {}
    for env in ALL_ENVS:
        target = tmp_path_factory.mktemp(f"render-{env}") / env
        write_tree(render_env(env), target)
        out[env] = target
    return out
