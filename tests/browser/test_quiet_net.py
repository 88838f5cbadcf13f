"""The browser's network namespace is quiet from the moment it is handed out: no address in it
changes afterwards (Chromium aborts every request in flight on such a change, ERR_NETWORK_CHANGED)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.browser import quiet_net
from tests.harness.local_engine import unavailable


def _addresses(netns: str) -> str:
    return subprocess.run(["ip", "-n", netns, "-o", "addr"], capture_output=True, text=True, timeout=30,
                          check=True).stdout


def test_no_address_changes_after_the_namespace_is_handed_out(tmp_path: Path) -> None:
    missing = quiet_net.missing_tools()
    if missing:
        unavailable(f"the browser's namespace needs {', '.join(missing)}")
    with quiet_net.quiet_namespace(tmp_path) as net:
        first = _addresses(net.name)
        time.sleep(3)  # an IPv6 link-local address settles ("tentative" -> plain) within about 2 s
        assert _addresses(net.name) == first
        assert "inet6" not in first and "tentative" not in first, first
