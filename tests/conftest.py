"""Root test configuration: shared fixtures live in tests/harness/ plugins."""

from __future__ import annotations

pytest_plugins = ["tests.harness.plugin"]
