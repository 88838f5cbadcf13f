"""Fixtures for the secrets tests: real age keys (pyrage), an isolated key environment.

Every test runs with ``ZIXLY_AGE_KEY``/``ZIXLY_AGE_KEY_FILE`` unset and ``HOME`` /
``XDG_CONFIG_HOME`` pointing into ``tmp_path``, so nothing reads or writes the real
per-user key. Keys are generated per test; no private key is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zixly_stack.secrets import Identity, SecretStore

from .helpers import REQUIRED


@pytest.fixture(autouse=True)
def isolated_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No configured key; the per-user key location is inside tmp_path."""
    monkeypatch.delenv("ZIXLY_AGE_KEY", raising=False)
    monkeypatch.delenv("ZIXLY_AGE_KEY_FILE", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    yield home / ".config" / "zixly" / "age.key"


@pytest.fixture
def alice() -> Identity:
    return Identity.generate("alice's test key")


@pytest.fixture
def bob() -> Identity:
    return Identity.generate("bob's test key")


@pytest.fixture
def env_dir(tmp_path: Path) -> Path:
    return tmp_path / "repo" / "inventories" / "prod"


@pytest.fixture
def store(env_dir: Path, alice: Identity) -> SecretStore:
    """A saved store for alice holding REQUIRED."""
    created = SecretStore.create(env_dir, alice)
    created.ensure(REQUIRED)
    assert created.save()
    return created
