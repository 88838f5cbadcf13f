"""Fixtures of the test-host tests: the static test server binary and its image on host 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.local_engine import unavailable
from tests.harness.vps import VpsHost
from tests.vps import tinyimage


@pytest.fixture(scope="session")
def tinyhttpd_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tinyhttpd`` compiled statically for this session."""
    try:
        return tinyimage.compile_tinyhttpd(tmp_path_factory.mktemp("tinyhttpd"))
    except RuntimeError as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def tiny_image(vps: list[VpsHost], tinyhttpd_binary: Path,
               tmp_path_factory: pytest.TempPathFactory) -> str:
    """``zixly-test/tinyhttpd:1`` built on the first shared host's engine; returns the tag."""
    ctx = tinyimage.tinyhttpd_context(tinyhttpd_binary, tmp_path_factory.mktemp("tinyctx"))
    tinyimage.build(vps[0].docker, tinyimage.TINY_TAG, ctx)
    return tinyimage.TINY_TAG
