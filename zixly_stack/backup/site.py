"""Where backup work happens: a host of the environment reached through a runner, and restic there.

Contract
--------
* :class:`Site` is one host (``@local`` or remote) with its :class:`~zixly_stack.runner.Runner`.
  Restores and drills run ON the host that holds the data: restic, the dumps and the
  checksums run there, and bytes flow from restic into the store containers without
  leaving the host (host-side pipes, :func:`zixly_stack.runner.pipe`).
* :class:`Repo` is restic on a site against an environment's repository. Entering it makes
  a 0700 temp dir on the host and writes the repository password into a 0600 file there
  from stdin (never an argv); leaving removes it. The target's credentials (S3 keys) are the
  host's own 0600 ``/etc/zixly/backup-<env>.env``, sourced into restic's environment. A
  repository read on behalf of another environment (the rehearsal, ``verify --on``) is
  opened with ``--no-lock``: read access to the repository is all the host needs.
* :func:`open_sites` connects to the chosen hosts of an environment (the deploy's SSH
  connection for remote ones) and yields ``host name -> Site``; ``dry_run`` wraps each
  runner in a :class:`~zixly_stack.runner.PrintingRunner`.
* Every text that comes back from a host passes the environment's redactor before it is
  shown or raised.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..commands import docker as dk
from ..commands import hostfs
from ..commands import restic as rc
from ..render.backup.faults import BackupError, raise_for
from ..render.backup.repo import PASSWORD_SECRET
from ..runner import LocalRunner, PrintingRunner, Result, Runner, pipe
from ..runner.connect import is_local, open_session, runner_for
from .snapshots import Snapshot, parse

if TYPE_CHECKING:
    from .local import Env

Say = Callable[[str], None]


@dataclass
class Site:
    """One host of an environment and the runner that reaches it (module contract)."""

    host: str
    runner: Runner
    redact: Callable[[str], str] = field(default=lambda s: s)

    @property
    def label(self) -> str:
        """``h1`` (or ``this machine``) for messages."""
        return self.host

    def run(self, argv: Sequence[str], *, what: str, stdin: bytes | None = None, timeout: float = 600.0,
            read: bool = False) -> Result:
        """Run *argv*; a failure raises :class:`BackupError` naming *what* and the host (output redacted)."""
        res = self.runner.run(argv, stdin=stdin, timeout=timeout, read=read)
        if not res.ok:
            raise BackupError(f"{what} on {self.label}: {self.redact(res.tail())}")
        return res

    def try_run(self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 600.0,
                read: bool = False) -> Result:
        """Run *argv* and return the result whatever it is."""
        return self.runner.run(argv, stdin=stdin, timeout=timeout, read=read)

    def states(self, names: Sequence[str]) -> dict[str, tuple[str, str, str]]:
        """``name -> (status, health, restart policy)``; containers that do not exist are left out."""
        if not names:
            return {}
        res = self.runner.run(dk.container_states(names), timeout=120, read=True)
        out = {}
        for line in res.out.splitlines():
            parts = line.split("|")
            if len(parts) == 4:
                out[parts[0].lstrip("/")] = (parts[1], parts[2], parts[3])
        return out

    def state(self, name: str) -> str:
        """A container's status (``running``, ``exited``...), ``missing`` when there is none."""
        return self.states([name]).get(name, ("missing", "", ""))[0]

    def mountpoint(self, volume: str) -> str:
        """The host directory of a Docker volume."""
        res = self.runner.run(dk.volume_mountpoint(volume), timeout=60, read=True)
        path = res.out.strip()
        if not res.ok or not path.startswith("/"):
            raise BackupError(f"volume {volume} does not exist on {self.label}: {self.redact(res.tail())}")
        return path

    def temp_dir(self, parent: str = "", prefix: str = "zixly-") -> str:
        """A new 0700 directory on the host (scratch: created and removed by the caller, even in a dry run)."""
        res = self.run(hostfs.temp_dir(parent, prefix), what="creating a temp dir", read=True)
        path = res.out.strip()
        if not path.startswith("/"):
            raise BackupError(f"mktemp on {self.label} gave {path!r}")
        return path

    def remove(self, path: str, *, scratch: bool = True) -> None:
        """Remove a scratch path (errors ignored: it is only scratch)."""
        self.runner.run(hostfs.remove_tree(path), timeout=600, read=scratch)

    def checksums(self, root: str) -> dict[str, str]:
        """sha256 of every regular file under *root* on the host (relative paths)."""
        res = self.run(hostfs.sha256_tree(root), what=f"checksums of {root}", timeout=3600, read=True)
        out = {}
        for line in res.out.splitlines():
            digest, _, path = line.partition("  ")
            if len(digest) == 64 and path:
                out[path[2:] if path.startswith("./") else path] = digest
        return out

    def meminfo(self) -> dict[str, int]:
        """``/proc/meminfo`` of the host in bytes (``MemTotal``, ``MemAvailable``...)."""
        res = self.run(hostfs.meminfo(), what="reading /proc/meminfo", read=True)
        out = {}
        for line in res.out.splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[name.strip()] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
        return out


class Repo:
    """restic on *site* against *env*'s repository (module contract); use as a context manager."""

    def __init__(self, site: Site, env: Env, *, read_only: bool = False) -> None:
        self.site = site
        self.env = env
        self.read_only = read_only
        self._dir = ""

    def __enter__(self) -> Repo:
        secret = self.env.secrets.get(PASSWORD_SECRET)
        if secret is None:
            raise BackupError(f"{self.env.name}: no {PASSWORD_SECRET} in the secrets store (backups disabled?)")
        self._dir = self.site.temp_dir(prefix="zixly-restic-")
        try:  # scratch, also in a dry run: restic needs it to read the repository
            self.site.run(hostfs.write_private(self.password_file), what="writing the repository password",
                          stdin=secret.reveal().encode(), read=True)
        except BaseException:
            self.site.remove(self._dir)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._dir:
            self.site.remove(self._dir)
            self._dir = ""

    @property
    def password_file(self) -> str:
        """The 0600 password file on the host (while entered)."""
        return posixpath.join(self._dir, "password")

    @property
    def name(self) -> str:
        """The environment whose repository this is."""
        return self.env.name

    @property
    def repository(self) -> str:
        """restic's repository string."""
        return self.env.repository

    def argv(self, args: Sequence[str]) -> list[str]:
        """``restic ARGS`` with this repository, its password file and the host's credentials file."""
        lock = ["--no-lock"] if self.read_only else []
        return rc.restic([*lock, *args], repository=self.repository, password_file=self.password_file,
                         credentials=rc.env_file(self.name), cache_dir=posixpath.join(self._dir, "cache"))

    def run(self, args: Sequence[str], *, what: str, timeout: float = 3600, read: bool = True) -> Result:
        """``restic ARGS`` on the host; a failure raises the classified error (output redacted)."""
        res = self.site.runner.run(self.argv(args), timeout=timeout, read=read)
        if not res.ok:
            raise_for(f"{what} on {self.site.label}", self.site.redact(res.err + res.out[-600:]))
        return res

    def pipe(self, args: Sequence[str], consumer: Sequence[str], *, what: str, timeout: float = 3600,
             read: bool = False) -> bytes:
        """``restic ARGS | CONSUMER`` on the host; the consumer's stdout; the failing side's classified error."""
        res = pipe(self.site.runner, self.argv(args), consumer, timeout=timeout, read=read)
        if not res.producer.ok:
            raise_for(f"{what} on {self.site.label}", self.site.redact(res.producer.err or res.producer.out))
        if not res.consumer.ok:
            out = self.site.redact((res.consumer.err + res.consumer.out).strip())
            raise BackupError(f"{what} on {self.site.label}: {' '.join(out.splitlines()[-4:])[-600:] or 'failed'}")
        return res.consumer.stdout

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot of the environment in the repository, oldest first."""
        res = self.run(rc.snapshots(self.name), what="restic snapshots")
        return parse(res.out)

    def dump(self, snap: Snapshot, path: str, *, what: str) -> bytes:
        """One file of a snapshot (small files: manifests, the secrets store)."""
        return self.run(rc.dump(snap.id, path), what=what).stdout


@contextlib.contextmanager
def open_sites(env: Env, hosts: Sequence[str] | None = None, *, dry_run: bool = False,
               say: Say = lambda s: None) -> Iterator[dict[str, Site]]:
    """Connect to *hosts* of *env* (default: all) and yield ``name -> Site`` (module contract)."""
    models = env.loaded.config.hosts.hosts
    names = list(hosts) if hosts else list(models)
    unknown = [n for n in names if n not in models]
    if unknown:
        raise BackupError(f"{env.name}: no host {', '.join(unknown)} (hosts: {', '.join(models)})")
    remote = {n: models[n] for n in names if not is_local(models[n])}
    session = open_session(remote) if remote else None
    try:
        if session is not None and session.errors:
            raise BackupError("cannot reach " + "; ".join(f"{n}: {e}" for n, e in session.errors.items()))
        sites = {}
        for n in names:
            runner: Runner = LocalRunner() if is_local(models[n]) else runner_for(session.hosts[n], n)  # type: ignore[union-attr]
            if dry_run:
                runner = PrintingRunner(runner, say)
            sites[n] = Site(n, runner, env.redact)
        yield sites
    finally:
        if session is not None:
            session.close()


def lookup(sites: Mapping[str, Site], host: str) -> Site:
    """The site of *host* (a BackupError naming the known ones otherwise)."""
    if host not in sites:
        raise BackupError(f"no connection to host {host} (connected: {', '.join(sites)})")
    return sites[host]
