"""Fixtures of the notification tests: real receivers on loopback (tests/notify/receivers.py) and a
repo whose ``local`` environment sends to them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import REPO, copy_repo
from tests.notify.receivers import Sinks, sinks

__all__ = ["ENV", "root", "sinks"]

ENV = "local"


@pytest.fixture
def root(tmp_path: Path, sinks: Sinks) -> Path:
    """A repo whose ``local`` environment sends to the sinks (state under the repo: healthchecks/local.yaml)."""
    repo = copy_repo(tmp_path / "repo", envs=(ENV,))
    shutil.copytree(REPO / "healthchecks", repo / "healthchecks")
    urls = sinks.urls()
    lines = ["notifications:", "  channels:"]
    for name, extra in (("json", ""), ("ntfy", "      min_severity: critical\n"),
                        ("smtp", "      events: [deploy.*]\n"), ("hang", "      timeout_s: 1\n")):
        lines.append(f"    - name: {name}\n      url: '{urls[name]}'\n{extra}".rstrip("\n"))
    env_file = repo / "inventories" / ENV / "environment.yaml"
    env_file.write_text(env_file.read_text() + "\n" + "\n".join(lines) + "\n")
    return repo
