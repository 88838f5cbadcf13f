"""What the browser tests need is what ``make deps`` and ``make install`` put on a fresh Debian 12.

No engine, no browser: this reads the Makefile and pyproject.toml. The browser tests drive
Debian's ``chromium`` (apt) with Playwright from PyPI (the ``test`` extra, its driver bundled
in the wheel) through ``executable_path``; nothing may download a browser (``playwright
install`` fetches one from a CDN, which CI machines here cannot reach). Their network
namespace needs ``ip`` (iproute2), ``nsenter`` (util-linux, Essential in Debian) and
``docker-proxy`` (docker.io).
"""

from __future__ import annotations

import re
import tomllib

from tests.browser import pages, quiet_net
from tests.deploy.helpers import REPO


def apt_packages() -> set[str]:
    """The Makefile's ``APT_PACKAGES`` (what ``make deps`` installs)."""
    found = re.search(r"(?m)^APT_PACKAGES\s*:?=\s*(.+)$", (REPO / "Makefile").read_text())
    assert found, "the Makefile has no APT_PACKAGES line"
    return set(found.group(1).split())


def test_make_deps_installs_the_browser_and_what_its_namespace_needs() -> None:
    assert {"chromium", "iproute2", "docker.io"} <= apt_packages()
    assert str(pages.CHROMIUM) == "/usr/bin/chromium"  # where Debian's package puts it
    assert "/usr/sbin/docker-proxy" in quiet_net.DOCKER_PROXY  # where docker.io puts it


def test_make_install_brings_playwright_and_nothing_downloads_a_browser() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert any(re.match(r"playwright\b", req) for req in extras), extras
    makefile = (REPO / "Makefile").read_text()
    assert "install: " in makefile and "'.[test]'" in makefile, "make install no longer installs the test extra"
    for path in ("Makefile", ".ci/run"):
        text = (REPO / path).read_text()
        assert not re.search(r"playwright\s+install", text), f"{path} downloads a browser"
