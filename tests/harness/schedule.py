"""Which tests share a worker when the suite runs in parallel (``pytest -n N --dist loadgroup``).

Contract
--------
A test joins a group by the shared fixture it uses, never by a hand-kept list: at
collection, every test whose fixture closure contains a key fixture of :data:`GROUPS` gets
the mark ``xdist_group(<group>)`` (the first group that matches wins), so with
``--dist loadgroup`` pytest-xdist runs the whole group on ONE worker, in collection order:

* ``stack``: tests using ``local_stack`` (the run's ONE deployed local stack, set up once
  by that worker, torn down when it ends);
* ``hosts``: tests using ``vps_pool`` — hence ``vps_hosts``, ``vps``, ``fresh_vps``,
  ``duo`` and whatever is built on them (the run's shared pair of test hosts is created once).

Every other test is its own unit of work and goes to whichever worker is free. A test that
already carries an ``xdist_group`` mark keeps it. Session fixtures are per worker: a
fixture that must exist once per run has to be a key fixture here (or depend on one).
Without xdist the marks are inert and everything runs in one process, as before.
"""

from __future__ import annotations

import pytest

GROUPS: tuple[tuple[str, str], ...] = (
    ("stack", "local_stack"),
    ("hosts", "vps_pool"),
)


def group_of(fixturenames: list[str] | tuple[str, ...]) -> str | None:
    """The group of a test whose fixture closure is *fixturenames*, or None (free)."""
    names = set(fixturenames)
    for group, key in GROUPS:
        if key in names:
            return group
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): run every test of this group on one xdist worker")


@pytest.hookimpl(tryfirst=True)  # before xdist turns the mark into a node id suffix
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        group = group_of(getattr(item, "fixturenames", ()))
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
