"""Which tests share a worker when the suite runs in parallel (``pytest -n N --dist loadgroup``).

Contract
--------
A test joins a group by the shared fixture it uses, never by a hand-kept list: at
collection, every test whose fixture closure contains a key fixture of :data:`GROUPS` gets
the mark ``xdist_group(<group>)`` (the first group that matches wins), so with
``--dist loadgroup`` pytest-xdist runs the whole group on ONE worker, in collection order:

* ``stack``: tests using ``local_stack`` (the run's ONE deployed local stack, set up once
  by that worker, torn down when it ends);
* ``hosts``: tests using ``duo`` (the run's shared two-host SSH environment on the shared pair
  of test hosts, deployed once) and whatever is built on it (remote backups, remote demos,
  the pyinfra CLI, upgrades, drift, remote hooks);
* ``vps``: the other tests using ``vps_pool`` — hence ``vps_hosts``, ``vps``, ``fresh_vps``
  (the swarm, the staging rehearsal, imports, the harness's own tests). They need test hosts
  but not ``duo``; their worker has its own pool, so the two longest chains of host tests run
  side by side instead of one after the other (the 40-minute CI budget).

Every other test runs with the rest of its module (module-scoped fixtures, such as a
database container, are set up once), on whichever worker is free. A test that already
carries an ``xdist_group`` mark keeps it. Session fixtures are per worker: a fixture that
must exist once per run has to be a key fixture here (or depend on one).

The scheduler (:class:`GroupsFirst`, chosen by ``--dist loadgroup``) hands out the groups
first, in :data:`GROUPS` order -- they are the longest chains of the run, the stack's above
all -- then the modules, those with the most tests first. Without xdist the marks are inert
and everything runs in one process, in collection order, as before.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

GROUPS: tuple[tuple[str, str], ...] = (
    ("stack", "local_stack"),
    ("hosts", "duo"),
    ("vps", "vps_pool"),
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


def scope_of(nodeid: str) -> str:
    """The unit of work of *nodeid*: its group (xdist's ``@group`` suffix), else its module."""
    head, sep, tail = nodeid.rpartition("@")
    if sep and "::" in head and "]" not in tail:
        return tail
    return nodeid.split("::", 1)[0]


def work_order(scopes: dict[str, dict[str, bool]]) -> list[str]:
    """Scopes in the order they are handed out: groups in :data:`GROUPS` order, then any other
    group, then modules with the most tests first (ties: collection order)."""
    rank = {group: i for i, (group, _) in enumerate(GROUPS)}
    names = list(scopes)

    def key(scope: str) -> tuple[int, int, int]:
        kind = rank.get(scope, len(rank) + scope.endswith(".py"))
        return kind, -len(scopes[scope]), names.index(scope)

    return sorted(names, key=key)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown (and unused) without xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    return _scheduler_class()(config, log)


def _scheduler_class() -> type:
    from xdist.scheduler import LoadScopeScheduling

    class GroupsFirst(LoadScopeScheduling):  # type: ignore[misc]
        """loadgroup with ungrouped tests scoped by module and the groups handed out first."""

        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

        def schedule(self) -> None:  # xdist 3.x LoadScopeScheduling.schedule, with work_order()
            assert self.collection_is_completed
            if self.collection is not None:
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            if not self.collection:
                return
            scopes: dict[str, dict[str, bool]] = OrderedDict()
            for nodeid in self.collection:
                scopes.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            for scope in work_order(scopes):
                self.workqueue[scope] = scopes[scope]
            for _ in range(max(0, len(self.nodes) - len(self.workqueue))):
                unused, _assigned = self.assigned_work.popitem()
                unused.shutdown()
            for node in self.nodes:
                self._assign_work_unit(node)
            for node in self.nodes:
                self._reschedule(node)
            if not self.workqueue:
                for node in self.nodes:
                    node.shutdown()

    return GroupsFirst
