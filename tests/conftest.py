"""Root test configuration: shared fixtures live in tests/harness/ plugins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyrage
import pytest

pytest_plugins = ["tests.harness.plugin", "tests.harness.schedule", "tests.harness.timing", "tests.harness.duo"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite golden files from the current render, then fail (review the diff, commit, rerun). "
        "Refused under CI.",
    )


def pytest_configure(config: pytest.Config) -> None:
    from tests.goldens import refuse_update_under_ci
    from tests.harness.local_engine import under_ci

    refuse_update_under_ci(bool(config.getoption("--update-golden")), under_ci())


@pytest.fixture(scope="session", autouse=True)
def cron_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every local deploy of the run installs its nightly-backup cron line here, not in this
    machine's /etc/cron.d (``ZIXLY_CRON_DIR``; a test may point it elsewhere)."""
    import os

    path = tmp_path_factory.mktemp("cron.d")
    old = os.environ.get("ZIXLY_CRON_DIR")
    os.environ["ZIXLY_CRON_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("ZIXLY_CRON_DIR", None)
    else:
        os.environ["ZIXLY_CRON_DIR"] = old


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when golden files should be rewritten (the test then fails: :mod:`tests.goldens`)."""
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
