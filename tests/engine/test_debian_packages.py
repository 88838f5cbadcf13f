"""The Debian packages ``zixly up`` needs: found on PATH, or named with the command to run.

No package is installed here: the install path runs apt-get as root and is exercised by
``make up``/``zixly up`` on a fresh machine; these tests cover finding and instructing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zixly_stack.engine import debian
from zixly_stack.engine.debian import NEEDS, Need, PackagesError, ensure_packages, install_argv, missing


def test_present_tools_are_found() -> None:
    assert missing([Need("sh", "dash", "a shell"), Need("/etc/hostname", "base-files", "a file")]) == []


def test_a_missing_tool_when_not_root_names_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian.os, "geteuid", lambda: 1000)
    needs = [Need("zixly-no-such-tool", "zixly-pkg", "a test"), Need("sh", "dash", "a shell"),
             Need("/nonexistent/zixly.crt", "zixly-certs", "a file")]
    with pytest.raises(PackagesError) as exc:
        ensure_packages(lambda _line: None, needs)
    text = str(exc.value)
    assert "zixly-no-such-tool (zixly-pkg: a test)" in text and "/nonexistent/zixly.crt (zixly-certs" in text
    assert "apt-get install -y --no-install-recommends zixly-pkg zixly-certs" in text
    assert "dash" not in text


def test_root_without_apt_get_is_told_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get on PATH
    monkeypatch.setattr(debian.os, "geteuid", lambda: 0)
    with pytest.raises(PackagesError, match="as root: apt-get update && apt-get"):
        ensure_packages(lambda _line: None, [Need("zixly-no-such-tool", "zixly-pkg", "a test")])


def test_nothing_missing_changes_nothing() -> None:
    said: list[str] = []
    assert ensure_packages(said.append, [Need("sh", "dash", "a shell")]) == []
    assert said == ["Debian packages present: dash"]


def test_the_list_covers_what_up_needs() -> None:
    assert {n.package for n in NEEDS} >= {"docker.io", "debootstrap", "restic", "npm", "ca-certificates"}
    assert install_argv(list(NEEDS))[:3] == ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
