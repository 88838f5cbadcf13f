"""Fixtures of the deploy tests. The run's shared environments live in the harness:

* ``local_stack`` (session): :mod:`tests.harness.stack` (shared by every e2e test);
* ``duo`` (session): :mod:`tests.harness.duo` (the two shared test hosts' first environment;
  other modules deploying there ask for it first).

Tests that change an environment restore it before they end, so the order of tests does
not matter.
"""

from __future__ import annotations

import pytest

from tests.harness.local_engine import LocalEngine
from tests.harness.local_engine import local_engine as _local_engine


@pytest.fixture(scope="session")
def local_engine_fixture() -> LocalEngine:
    """This machine's engine (fail under CI / skip elsewhere when none answers)."""
    return _local_engine()
