"""Shared pytest fixtures, registered by ``tests/conftest.py`` (``pytest_plugins``).

A thin index: fixtures live in the harness modules and are imported here so pytest
registers them. Add yours the same way.

* ``engine`` (session): this machine's Docker engine — :mod:`tests.harness.local_engine`.
* ``vps_pool`` / ``vps_hosts(n)`` / ``vps`` (session) and ``fresh_vps(n)`` (function):
  test hosts that behave like VPSes — :mod:`tests.harness.vps`.
* ``local_stack`` / ``age_key_file`` (session): the ONE deployed local stack of the run —
  :mod:`tests.harness.stack`.
* ``zixly_leak_guard`` (session, autouse) and ``test_prefix`` (session): nothing of the
  run may be left at its end — :mod:`tests.harness.leaks`.
"""

from __future__ import annotations

from tests.harness.leaks import test_prefix, zixly_leak_guard
from tests.harness.local_engine import engine
from tests.harness.stack import age_key_file, local_stack
from tests.harness.vps import fresh_vps, vps, vps_hosts, vps_pool

__all__ = [
    "age_key_file",
    "engine",
    "fresh_vps",
    "local_stack",
    "test_prefix",
    "vps",
    "vps_hosts",
    "vps_pool",
    "zixly_leak_guard",
]
