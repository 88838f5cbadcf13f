"""Test hosts that behave like VPSes: own network, own root file system, own sshd and dockerd.

Contract
--------
A :class:`VpsPool` (one per test session, run id ``nsproc.RUN_ID``) creates hosts
``zx<run><i>``. Each host is

* a network namespace wired to a private LAN (see :mod:`tests.harness.vps_net`) with the
  address ``10.231.<slot>.<10+i>``; the root namespace reaches it, hosts reach each other,
  nothing reaches beyond (no default route);
* a private mount + UTS + IPC namespace whose ``/`` is a copy-on-write overlay of this
  machine's root file system (writes land in ``<dir>/upper`` and vanish with the host),
  with its own ``/run``, ``/tmp``, ``/var/tmp``, ``/var/lib/docker``, ``/root`` (empty but
  for ``.ssh/authorized_keys`` and an empty ``.bashrc``/``.profile``) and hostname;
* its own ``dockerd`` (overlay2 where overlays mount, else vfs; ``/var/lib/docker`` = ``<dir>/docker``, socket
  ``/run/docker.sock`` = ``<dir>/run/docker.sock``, docker0 ``10.232.<i>.1/24``, address
  pool ``10.<200+i>.0.0/16``, cgroup parent ``/zx<run><i>``), so an SSH session's
  ``docker`` drives that host's engine, and ``docker compose`` works there;
* its own ``sshd`` on port 22: key-only root login with this run's ed25519 key; host keys
  are generated per host and pinned in a ``known_hosts`` file of that host alone (pyinfra
  caches known_hosts files by path for the whole process, so one shared file would not
  see hosts created later); the run's ``known_hosts`` lists them all.

Both daemons are started by one launcher process (``vps_launch.sh`` through ``nsenter
--net`` + ``unshare``) which ends as sshd; its PID is ``VpsHost.launcher_pid``. Teardown
stops dockerd then sshd (SIGTERM, wait, SIGKILL), kills whatever is left in the host's
namespaces and cgroup, deletes the namespaces and the host directory. Nothing is written
outside ``STATE_ROOT/zx<run>`` except the namespaces, one veth and cgroups, all named
after the run; :func:`cleanup_stale` removes those of runs whose owner process is dead.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from tests.harness import vps_build, vps_net
from tests.harness.local_engine import unavailable
from tests.harness.nsproc import (
    NETNS_DIR,
    RUN_ID,
    STATE_ROOT,
    in_netns,
    ns_inode,
    pids_in_cgroup,
    pids_in_ns,
    remove_cgroups,
    run_prefix,
    sh,
    terminate,
    write_owner,
)
from tests.harness.vps_cleanup import cleanup_run, cleanup_stale

__all__ = [
    "VpsError",
    "VpsHost",
    "VpsPool",
    "cleanup_run",
    "cleanup_stale",
    "fresh_vps",
    "pyinfra_inventory",
    "vps",
    "vps_hosts",
    "vps_pool",
]

if TYPE_CHECKING:
    from pyinfra.api.inventory import Inventory

READY_TIMEOUT_S = 30.0
MAX_HOSTS = 30
T = TypeVar("T")


class VpsError(RuntimeError):
    """A test host could not be created, reached or removed; the message says why."""


def docker_client() -> str:
    """The docker CLI to use from this namespace (Docker 28 negotiates down to API 1.41)."""
    return shutil.which("docker") or "/usr/bin/docker"


def docker_env(docker_host: str | None) -> dict[str, str]:
    """``os.environ`` pointed at *docker_host* (None: leave the caller's engine choice)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DOCKER_CONTEXT", "DOCKER_TLS_VERIFY"}}
    if docker_host is not None:
        env["DOCKER_HOST"] = docker_host
    env.setdefault("DOCKER_BUILDKIT", "0")  # no buildx here: the legacy builder does FROM scratch
    return env


@dataclass(eq=False)
class VpsHost:
    """One test host. Addresses, keys and paths are fixed at creation; see the module doc."""

    name: str
    index: int
    address: str
    dir: Path
    key_path: Path
    known_hosts_path: Path
    ssh_config_path: Path
    ssh_port: int = 22
    ssh_user: str = "root"
    launcher_pid: int = 0
    netns_inode: int = 0
    mntns_inode: int = 0
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _testinfra: list[Any] = field(default_factory=list, repr=False)

    # --- engine -------------------------------------------------------------------------

    @property
    def docker_host(self) -> str:
        """``unix://…/docker.sock`` of this host's engine, usable from the root namespace."""
        return f"unix://{self.dir / 'run' / 'docker.sock'}"

    @property
    def data_root(self) -> Path:
        """Where this host's engine keeps its data, seen from the root namespace."""
        return self.dir / "docker"

    def docker(self, *args: str, input: str | None = None, timeout: float = 120.0,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this host's engine from the root namespace (no SSH)."""
        res = subprocess.run([docker_client(), *args], capture_output=True, text=True,
                             input=input, timeout=timeout, env=docker_env(self.docker_host),
                             check=False)
        if check and res.returncode != 0:
            raise VpsError(f"{self.name}: docker {' '.join(args)}: {res.stderr.strip()}")
        return res

    def docker_info(self) -> dict[str, Any]:
        """``docker info`` of this host's engine as a dict."""
        out = self.docker("info", "--format", "{{json .}}", check=True).stdout
        info: dict[str, Any] = json.loads(out)
        return info

    # --- ssh ----------------------------------------------------------------------------

    def ssh_argv(self, argv: Sequence[str]) -> list[str]:
        """The ``ssh`` argv that runs *argv* (quoted for the remote shell) on this host."""
        return ["ssh", "-F", str(self.ssh_config_path),
                "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts_path}",
                "-i", str(self.key_path), "-p", str(self.ssh_port),
                f"{self.ssh_user}@{self.address}", "--", shlex.join(argv)]

    def ssh(self, argv: Sequence[str], *, input: str | None = None, timeout: float = 120.0,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run *argv* on the host over a real SSH connection; returns the completed process."""
        res = subprocess.run(self.ssh_argv(argv), capture_output=True, text=True, input=input,
                             timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise VpsError(f"{self.name}: ssh {shlex.join(argv)} exited {res.returncode}: "
                           f"{res.stderr.strip()}")
        return res

    def load_image(self, tag: str, *, source: str | None = None,
                   timeout: float = 600.0) -> str:
        """Copy image *tag* onto this host the air-gapped way: ``docker save | ssh docker load``.

        *source* is the ``DOCKER_HOST`` to save from (default: the caller's engine, i.e.
        this machine's). Returns the ``docker load`` output; raises :class:`VpsError`.
        """
        save = subprocess.Popen([docker_client(), "save", tag], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=docker_env(source))
        assert save.stdout is not None
        try:
            load = subprocess.run(self.ssh_argv(["docker", "load"]), stdin=save.stdout,
                                  capture_output=True, timeout=timeout, check=False)
        finally:
            save.stdout.close()
            _, save_err = save.communicate(timeout=timeout)
        if save.returncode != 0:
            raise VpsError(f"docker save {tag}: {save_err.decode(errors='replace').strip()}")
        if load.returncode != 0:
            raise VpsError(f"{self.name}: docker load: {load.stderr.decode(errors='replace')}")
        return load.stdout.decode(errors="replace")

    # --- tools --------------------------------------------------------------------------

    def pyinfra_inventory_entry(self) -> tuple[str, dict[str, Any]]:
        """``(address, data)`` for a pyinfra ``Inventory``: key auth, pinned host key."""
        return self.address, {
            "ssh_user": self.ssh_user,
            "ssh_port": self.ssh_port,
            "ssh_key": str(self.key_path),
            "ssh_known_hosts_file": str(self.known_hosts_path),
            "ssh_strict_host_key_checking": "yes",
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
            "vps_name": self.name,
        }

    def testinfra_host(self) -> Any:
        """A pytest-testinfra ``Host`` (paramiko backend) logged in as root on this host."""
        import testinfra  # type: ignore[import-untyped]

        host = testinfra.get_host(f"paramiko://{self.ssh_user}@{self.address}:{self.ssh_port}",
                                  ssh_config=str(self.ssh_config_path),
                                  ssh_identity_file=str(self.key_path))
        self._testinfra.append(host)
        return host

    def in_netns(self, fn: Callable[[], T]) -> T:
        """Run *fn* in a thread that has joined this host's network namespace.

        Sockets *fn* opens live in the host's network (e.g. probe its published ports).
        """
        return in_netns(NETNS_DIR / self.name, fn)

    def reset(self) -> None:
        """Remove every container, volume and non-default network of the host's engine."""
        ids = self.docker("ps", "-aq", check=True).stdout.split()
        if ids:
            self.docker("rm", "-f", "-v", *ids, check=True)
        vols = self.docker("volume", "ls", "-q", check=True).stdout.split()
        if vols:
            self.docker("volume", "rm", "-f", *vols, check=True)
        self.docker("network", "prune", "-f", check=True)

    def pids(self) -> dict[str, int]:
        """PIDs of this host's sshd (the launcher) and dockerd; 0 when not running."""
        try:
            dockerd = int((self.dir / "run" / "docker.pid").read_text().strip())
        except (OSError, ValueError):
            dockerd = 0
        return {"sshd": self.launcher_pid, "dockerd": dockerd}


# --- the pool -----------------------------------------------------------------------------


class VpsPool:
    """The test hosts of one run (one per test session); see the module doc.

    ``hosts(n)`` returns the first *n* shared hosts (created on demand, reused by every
    caller); ``fresh(n)`` creates *n* hosts nobody else gets; ``destroy()`` removes hosts;
    ``close()`` removes everything of the run. Not thread-safe: call from one thread.
    """

    def __init__(self, run_id: str = RUN_ID) -> None:
        self.run_id = run_id
        self.prefix = run_prefix(run_id)
        self.dir = STATE_ROOT / self.prefix
        self.key_path = self.dir / "id_ed25519"
        self.known_hosts_path = self.dir / "known_hosts"
        self._nonce = secrets.token_hex(3)  # fresh file names per pool: pyinfra caches by path
        self.ssh_config_path = self.dir / "ssh_config"
        self.slot = 0
        self._slot_lock: socket.socket | None = None
        self._shared: list[VpsHost] = []
        self._all: list[VpsHost] = []
        self._next_index = 1
        self._open = False

    def open(self) -> VpsPool:
        """Clean up stale runs, claim a LAN slot, create the run's key, config and switch."""
        cleanup_stale()
        STATE_ROOT.mkdir(parents=True, exist_ok=True)
        staging = STATE_ROOT / f".{self.prefix}.new"
        staging.mkdir(mode=0o700)
        write_owner(staging)
        staging.rename(self.dir)
        self._open = True
        try:
            self._setup_run()
        except Exception:
            self.close()
            raise
        return self

    def _setup_run(self) -> None:
        self.slot, self._slot_lock = vps_net.claim_slot()
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"zixly-test-{self.prefix}",
            "-f", str(self.key_path)])
        self.known_hosts_path.write_text("")
        self.ssh_config_path.write_text(
            "Host *\n"
            "  User root\n"
            f"  IdentityFile {self.key_path}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts_path}\n"
            "  StrictHostKeyChecking no\n"
            "  BatchMode yes\n"
            "  LogLevel ERROR\n"
            "  ConnectTimeout 10\n"
            "  ControlMaster no\n"
            # OpenSSH 9's default sntrup761 key exchange costs ~0.3 s per connection here
            "  KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n")
        vps_net.create_switch(self.prefix, self.slot)

    def hosts(self, n: int) -> list[VpsHost]:
        """The first *n* shared hosts, creating the missing ones (in parallel)."""
        missing = n - len(self._shared)
        if missing > 0:
            self._shared.extend(self._create(missing))
        return self._shared[:n]

    def fresh(self, n: int) -> list[VpsHost]:
        """*n* new hosts that no other caller gets; pass them to :meth:`destroy` when done."""
        return self._create(n)

    def _create(self, n: int) -> list[VpsHost]:
        if not self._open:
            raise VpsError("VpsPool.open() was not called")
        if self._next_index + n - 1 > MAX_HOSTS:
            raise VpsError(f"at most {MAX_HOSTS} hosts per run")
        pubkey = (self.dir / "id_ed25519.pub").read_text()
        items: list[tuple[vps_build.HostSpec, subprocess.Popen[bytes]]] = []
        hosts: list[VpsHost] = []
        try:
            for _ in range(n):
                index, self._next_index = self._next_index, self._next_index + 1
                spec = vps_build.HostSpec(name=f"{self.prefix}{index}", index=index,
                                          address=vps_net.host_address(self.slot, index),
                                          dir=self.dir / f"{self.prefix}{index}")
                own_known = self.dir / f"known_hosts.{spec.name}.{self._nonce}"
                host = VpsHost(name=spec.name, index=index, address=spec.address, dir=spec.dir,
                               key_path=self.key_path, known_hosts_path=own_known,
                               ssh_config_path=self.ssh_config_path)
                hosts.append(host)
                self._all.append(host)
                line = vps_build.seed_host(spec, pubkey)
                own_known.write_text(line)
                with self.known_hosts_path.open("a") as known:
                    known.write(line)
                vps_net.create_host_link(self.prefix, spec.name, index, spec.address)
                host.netns_inode = ns_inode(NETNS_DIR / spec.name) or 0
                proc = vps_build.launch(spec)
                host._proc, host.launcher_pid = proc, proc.pid
                items.append((spec, proc))
            vps_build.wait_ready(items, READY_TIMEOUT_S)
        except Exception as exc:
            self.destroy(hosts)
            raise VpsError(str(exc)) from exc
        for host in hosts:
            host.mntns_inode = ns_inode(f"/proc/{host.launcher_pid}/ns/mnt") or 0
            (host.dir / "host.json").write_text(json.dumps(
                {"name": host.name, "address": host.address, "launcher_pid": host.launcher_pid,
                 "dockerd_pid": host.pids()["dockerd"]}))
        return hosts

    def destroy(self, hosts: Sequence[VpsHost]) -> None:
        """Stop and remove *hosts* (all at once): daemons, leftovers, namespaces, files."""
        hosts = [h for h in hosts if h in self._all]
        for host in hosts:
            _forget_testinfra(host._testinfra)
        # a pidfile may outlive its process: signal only PIDs inside the host's network
        terminate([p for h in hosts if (p := h.pids()["dockerd"])
                   and ns_inode(f"/proc/{p}/ns/net") == h.netns_inode], grace=15.0)
        terminate([h.launcher_pid for h in hosts if h.launcher_pid], grace=5.0)
        for host in hosts:
            if host._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host._proc.wait(timeout=5)
        # scan until a scan finds nobody: a process can fork while its parent is being ended
        # (CI once found a PID in a destroyed host's mount namespace after one scan and kill)
        stuck: list[int] = []
        for _ in range(5):
            left: list[int] = []
            for host in hosts:
                if host.netns_inode:
                    left += pids_in_ns("net", host.netns_inode)
                if host.mntns_inode:
                    left += pids_in_ns("mnt", host.mntns_inode)
                left += pids_in_cgroup(host.name)
            if not left:
                break
            stuck = terminate(left, grace=2.0)
        for host in hosts:
            vps_net.delete_host_link(host.name, self.prefix, host.index)
            remove_cgroups(host.name)
            vps_build.remove_tree(host.dir)
            host.known_hosts_path.unlink(missing_ok=True)
            self._all.remove(host)
            if host in self._shared:
                self._shared.remove(host)
        if stuck:
            raise VpsError(f"processes survived SIGKILL: {stuck}")

    def close(self) -> None:
        """Destroy every host of the run, the switch and the run directory; free the slot."""
        if not self._open:
            return
        try:
            self.destroy(list(self._all))
        finally:
            vps_net.delete_switch(self.prefix)
            vps_build.remove_tree(self.dir)
            vps_net.release_slot(self._slot_lock)
            self._slot_lock = None
            self._open = False


def _forget_testinfra(hosts: list[Any]) -> None:
    """Close testinfra hosts' SSH clients and drop them from testinfra's process-wide cache,
    so a later host on the same address gets a new connection."""
    if not hosts:
        return
    from testinfra.host import Host  # type: ignore[import-untyped]

    for ti in hosts:
        client = vars(ti.backend).get("client")  # a cached_property: never connect here
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
    for key, cached in list(Host._host_cache.items()):
        if any(cached is ti for ti in hosts):
            del Host._host_cache[key]
    hosts.clear()


def pyinfra_inventory(hosts: Sequence[VpsHost]) -> Inventory:
    """A pyinfra ``Inventory`` of *hosts* (names are their addresses; data from each host)."""
    from pyinfra.api.inventory import Inventory

    entries = [h.pyinfra_inventory_entry() for h in hosts]
    inventory: Inventory = Inventory((entries, {}))  # type: ignore[no-untyped-call]
    return inventory


# --- fixtures -----------------------------------------------------------------------------


def _prerequisites() -> str | None:
    """Why test hosts cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "test hosts need root (network and mount namespaces)"
    for tool in ("dockerd", "sshd", "nsenter", "unshare", "ip", "ssh", "ssh-keygen"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            return f"`{tool}` is missing (apt-get install docker.io openssh-server iproute2)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        return "the kernel has no overlay file system"
    return None


@pytest.fixture(scope="session")
def vps_pool(zixly_leak_guard: object) -> Iterator[VpsPool]:
    """The session's :class:`VpsPool`; closed (everything removed) at session end."""
    why = _prerequisites()
    if why:
        unavailable(why)
    pool = VpsPool().open()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="session")
def vps_hosts(vps_pool: VpsPool) -> Callable[[int], list[VpsHost]]:
    """``vps_hosts(n)``: the first *n* shared test hosts of the session (created on demand)."""
    return vps_pool.hosts


@pytest.fixture(scope="session")
def vps(vps_hosts: Callable[[int], list[VpsHost]]) -> list[VpsHost]:
    """Two shared test hosts."""
    return vps_hosts(2)


@pytest.fixture
def fresh_vps(vps_pool: VpsPool) -> Iterator[Callable[[int], list[VpsHost]]]:
    """``fresh_vps(n)``: *n* hosts of this test alone, destroyed when the test ends."""
    made: list[VpsHost] = []

    def make(n: int) -> list[VpsHost]:
        hosts = vps_pool.fresh(n)
        made.extend(hosts)
        return hosts

    yield make
    vps_pool.destroy(made)
