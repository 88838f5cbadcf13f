"""A real kit build shows its progress: the builder's steps as stages, heartbeat lines meanwhile.

A throwaway recipe (``FROM scratch`` + a 64 MB file) is built by the real kit builder on the
real engine, under its own tag, removed afterwards. The progress reporter is the real one in
plain mode (what CI logs get) with a 0.05 s interval instead of 10 s, so a build of a few
seconds must print several heartbeat lines; the 10 s bound itself is the unit test's (fake clock).
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.conftest import docker
from zixly_stack import progress
from zixly_stack.engine import EngineInfo
from zixly_stack.images import kit, rootfs
from zixly_stack.images.kit import build_all

pytestmark = pytest.mark.engine


@pytest.fixture
def plain_reporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    out = io.StringIO()
    monkeypatch.setattr(progress, "_REPORTER", progress.Reporter(out, mode="plain", interval=0.05))
    yield out


def test_a_real_build_prints_stages_and_heartbeats(
    kit_engine: EngineInfo, tmp_path: Path, plain_reporter: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"zxt-progress-{secrets.token_hex(3)}"
    recipe = tmp_path / "images" / name
    recipe.mkdir(parents=True)
    (recipe / "recipe.yaml").write_text(f"name: {name}\nversion: '1'\nreplaces: [{name}]\n")
    (recipe / "Dockerfile").write_text("FROM scratch\nCOPY big.bin /big.bin\nCOPY small.txt /small.txt\n")
    (recipe / "big.bin").write_bytes(secrets.token_bytes(64 << 20))
    (recipe / "small.txt").write_text("ok\n")
    for module in (kit, rootfs):  # its own cache and lock: never waits for, nor touches, the shared kit's
        monkeypatch.setattr(module, "CACHE_DIR", tmp_path / "cache")
    tag = f"zixly-offline/{name}:1"
    try:
        results = build_all([name], root=tmp_path / "images", verbose=False)
        assert [r.cached for r in results] == [False]
    finally:
        docker("image", "rm", "-f", tag, check=False)
    lines = plain_reporter.getvalue().splitlines()
    label = f"images: {tag}"
    assert any(ln.startswith(f"{label}: docker build step 3/4: COPY big.bin") for ln in lines), lines
    beats = [ln for ln in lines if ln.startswith(label) and re.search(r" … \d+s", ln)]
    assert len(beats) >= 3, lines
