"""Engine setup: brings up a working engine and compose plugin; a second run changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from zixly_stack.engine import EngineInfo, docker, docker_argv, engine_available, ensure_engine

pytestmark = pytest.mark.engine


def test_second_run_changes_nothing(kit_engine: EngineInfo, capsys: pytest.CaptureFixture[str]) -> None:
    again = ensure_engine(verbose=True)
    out = capsys.readouterr().out
    assert again.changed is False, again.actions
    assert again.actions == ()
    assert "engine: nothing changed" in out
    assert "engine: Debian packages present: docker.io" in out
    assert "engine: dockerd already answering" in out
    assert "already installed" in out.split("compose plugin", 1)[1]


def test_reports_versions(kit_engine: EngineInfo) -> None:
    assert kit_engine.server_version
    major, minor = (int(x) for x in kit_engine.api_version.split(".")[:2])
    assert (major, minor) >= (1, 41)
    assert kit_engine.compose_version[0].isdigit()
    assert kit_engine.storage_driver
    assert engine_available()


def test_client_helper_talks_to_engine(kit_engine: EngineInfo) -> None:
    res = docker("version", "--format", "{{.Server.APIVersion}}")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == kit_engine.api_version
    compose = subprocess.run(
        [*docker_argv(), "compose", "version", "--short"], capture_output=True, text=True, check=False
    )
    assert compose.returncode == 0 and compose.stdout.strip() == kit_engine.compose_version


def test_cli_is_idempotent(kit_engine: EngineInfo) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "zixly_stack.engine"], capture_output=True, text=True, check=False, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "engine: nothing changed" in res.stdout
    check = subprocess.run(
        [sys.executable, "-m", "zixly_stack.engine", "--check"], capture_output=True, text=True, check=False, timeout=60
    )
    assert check.returncode == 0 and "available" in check.stdout


# --- storage driver choice (no engine needed; the overlay probe needs root) -------------------

def test_overlay_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    from zixly_stack.engine.setup import overlay_mountable

    result = overlay_mountable(tmp_path)
    assert isinstance(result, bool)
    assert list(tmp_path.iterdir()) == []
    mounts = Path("/proc/self/mounts").read_text()
    assert str(tmp_path) not in mounts


def test_existing_data_root_keeps_its_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zixly_stack.engine.setup import choose_storage_driver

    monkeypatch.delenv("ZIXLY_STORAGE_DRIVER", raising=False)
    for driver in ("vfs", "overlay2"):
        root = tmp_path / driver
        (root / "image" / driver).mkdir(parents=True)
        assert choose_storage_driver(root)[0] == driver


def test_fresh_data_root_follows_the_overlay_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zixly_stack.engine import setup

    monkeypatch.delenv("ZIXLY_STORAGE_DRIVER", raising=False)
    monkeypatch.setattr(setup, "overlay_mountable", lambda d: False)
    assert setup.choose_storage_driver(tmp_path / "docker")[0] == "vfs"
    monkeypatch.setattr(setup, "overlay_mountable", lambda d: True)
    assert setup.choose_storage_driver(tmp_path / "docker")[0] == "overlay2"


def test_storage_driver_override_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zixly_stack.engine.setup import EngineError, choose_storage_driver

    monkeypatch.setenv("ZIXLY_STORAGE_DRIVER", "vfs")
    (tmp_path / "image" / "overlay2").mkdir(parents=True)
    assert choose_storage_driver(tmp_path) == ("vfs", "ZIXLY_STORAGE_DRIVER")
    monkeypatch.setenv("ZIXLY_STORAGE_DRIVER", "aufs")
    with pytest.raises(EngineError, match="expected one of overlay2, vfs"):
        choose_storage_driver(tmp_path)
