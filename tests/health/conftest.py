"""Fixtures for health tests: a repo using the real catalog and a real HTTPS edge on loopback.

``healthy_stack`` is an environment ``hc`` (traefik, stores, n8n, metabase, nextcloud) whose
edge is :class:`tests.health.edge.Edge` on a free 127.0.0.1 port, answering every vendor
contract the catalog documents for those apps, with fresh backups recorded. Container, image
and host-resource checks are skipped there (they have their own tests), so the outcome
depends only on what the test changes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.health.edge import Answer, Edge
from zixly_stack.config.healthchecks import load_settings
from zixly_stack.health.checks import Suite, derive
from zixly_stack.health.service import Options
from zixly_stack.project import load

REPO = Path(__file__).resolve().parents[2]
ENV = "hc"
APPS = ("traefik", "socket-proxy", "postgres", "mariadb", "redis", "warehouse", "n8n", "metabase", "nextcloud")


@dataclass
class Stack:
    """The test repo, its edge, and where state and backup status live."""

    root: Path
    edge: Edge
    state_dir: Path
    backup_status: Path
    _suite: Suite | None = None

    def suite(self) -> Suite:
        """The checks ``zixly health hc`` derives (pure; computed once per stack)."""
        if self._suite is None:
            self._suite = derive(load(self.root, ENV), load_settings(self.root / "healthchecks", ENV))
        return self._suite

    def options(self, **kw: object) -> Options:
        """Options for :func:`report_for` with this stack's paths and the engine-side kinds skipped."""
        base: dict[str, object] = {
            "skip": ("container", "image", "host"),
            "state_dir": self.state_dir,
            "backup_status": self.backup_status,
        }
        base.update(kw)
        return Options(**base)  # type: ignore[arg-type]

    def record_backups(self, age: dt.timedelta, only: str | None = None, now: dt.datetime | None = None) -> None:
        """Record a snapshot ``age`` old (at ``now``, default the clock's) for every service with a
        backup (or just ``only``)."""
        data = json.loads(self.backup_status.read_text()) if self.backup_status.exists() else {"services": {}}
        when = ((now or dt.datetime.now(dt.UTC)) - age).isoformat()
        for b in self.suite().backups:
            if only is None or b.app == only:
                data["services"][b.app] = {"last_success": when}
        self.backup_status.write_text(json.dumps(data))


def write_repo(root: Path, port: int, notifications: str = "") -> None:
    """A repo with the real catalog and an ``hc`` environment whose edge listens on ``port``."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("services", "templates", "images"):
        (root / name).symlink_to(REPO / name)
    (root / "healthchecks").mkdir()
    shutil.copy(REPO / "healthchecks" / "default.yaml", root / "healthchecks" / "default.yaml")
    (root / "healthchecks" / "templates").symlink_to(REPO / "healthchecks" / "templates")
    inv = root / "inventories" / ENV
    inv.mkdir(parents=True)
    services = "\n".join(f"  {a}:" for a in APPS)
    (inv / "environment.yaml").write_text(
        f"domain: localhost\ntls: {{sni_strict: false}}\n"
        f"edge: {{bind: 127.0.0.1, https_port: {port}}}\n"
        f"services:\n{services}\n{notifications}"
    )
    (inv / "hosts.yaml").write_text("hosts:\n  local:\n    address: '@local'\n")


def serve_contracts(edge: Edge, suite: Suite) -> None:
    """Make ``edge`` answer every HTTP check of ``suite`` the way a healthy app does."""
    for c in suite.http:
        edge.routes[(c.vhost, c.path)] = Answer(c.status or 200, c.body or "ok")


@pytest.fixture
def healthy_stack(tmp_path: Path) -> Iterator[Stack]:
    """A healthy ``hc`` environment (see the module docstring)."""
    with Edge() as edge:
        root = tmp_path / "repo"
        write_repo(root, edge.port)
        stack = Stack(root, edge, tmp_path / "state", tmp_path / "backup-status.json")
        serve_contracts(edge, stack.suite())
        stack.record_backups(dt.timedelta(hours=2))
        yield stack
