"""Root test configuration: shared fixtures live in tests/harness/ plugins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest

pytest_plugins = ["tests.harness.plugin"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite golden files from the current render (review the diff!).",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when golden files should be rewritten."""
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def age_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh age identity for this test, exported as ZIXLY_AGE_KEY_FILE (HOME isolated too)."""
    home = tmp_path_factory.mktemp("home")
    key = home / "age.key"
    key.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    key.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("ZIXLY_AGE_KEY", raising=False)
    monkeypatch.setenv("ZIXLY_AGE_KEY_FILE", str(key))
    yield key
