"""An environment ready for backup work: its plan per host, secrets, and the backup run.

:class:`Env` is the loaded environment with its secrets (opened on this machine: the age
identity never leaves it). The work itself happens on the environment's hosts through
runners (:mod:`.site`): :func:`run_backup` runs the rendered backup script on each host
(this machine for ``@local`` hosts, the deploy's SSH connection otherwise) with the
repository password in a 0600 file written from stdin, never an argv; every output shown
to users passes :func:`redact` with the environment's secrets.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog.stack import Stack
from ..commands import hostfs, shell
from ..notify.channels import apprise_config, resolve
from ..progress import Task, human_bytes, reporter
from ..project import Loaded, image_mapper, prepare_secrets
from ..render.backup.faults import EXIT_CODES, BackupError
from ..render.backup.plan import BackupPlan, container_name, plan_backup
from ..render.backup.repo import PASSWORD_SECRET, repository
from ..render.backup.script import backup_script
from ..render.backup.status import state_dir
from ..secrets.fingerprint import KEY_SECRET
from ..secrets.value import Secret, redact
from .site import Site


@dataclass
class Env:
    """A loaded environment ready for backup work on this machine."""

    loaded: Loaded
    secrets: Mapping[str, Secret]
    host: str

    @property
    def name(self) -> str:
        """The environment's name."""
        return self.loaded.config.name

    @property
    def stack(self) -> Stack:
        """The resolved stack."""
        return self.loaded.stack

    @property
    def repository(self) -> str:
        """restic's repository string."""
        return repository(self.name, self.stack.environment)

    def redact(self, text: str) -> str:
        """*text* with every secret of the environment masked."""
        return redact(text, self.secrets.values())

    def plan(self, host: str | None = None) -> BackupPlan:
        """The backup plan of *host* (default: the environment's first host)."""
        return plan_backup(self.stack, host or self.host, standin_containers(self.loaded))

    def hosts_with_backups(self) -> list[str]:
        """The hosts whose backup plan has something (in hosts.yaml order)."""
        return [h for h in self.loaded.config.hosts.hosts if self.plan(h).services]

    @contextlib.contextmanager
    def restic_env(self) -> Iterator[dict[str, str]]:
        """Environment for restic: repository and a 0600 password file (deleted afterwards)."""
        secret = self.secrets.get(PASSWORD_SECRET)
        if secret is None:
            raise BackupError(f"{self.name}: no {PASSWORD_SECRET} in the secrets store (backups disabled?)")
        d = Path(tempfile.mkdtemp(prefix="zixly-restic-"))
        try:
            os.chmod(d, 0o700)
            pw = d / "password"
            fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secret.reveal())
            env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
            env.update(RESTIC_REPOSITORY=self.repository, RESTIC_PASSWORD_FILE=str(pw))
            yield env
        finally:
            shutil.rmtree(d, ignore_errors=True)


def open_env(loaded: Loaded) -> Env:
    """The environment with its secrets (its hosts may be this machine or remote ones)."""
    hosts = loaded.config.hosts.hosts
    if not loaded.stack.environment.backup.enabled:
        raise BackupError(f"{loaded.config.name}: backups are disabled (backup.enabled: false)")
    prepared = prepare_secrets(loaded)
    if prepared.added and set(prepared.added) <= {PASSWORD_SECRET, KEY_SECRET}:
        prepared.commit()  # a stack deployed before backups (or store ids) existed: generate them once
    elif prepared.added:
        raise BackupError(f"{loaded.config.name}: the secrets store lacks {', '.join(prepared.added)}; "
                          "run `zixly render` or `zixly up` first (it generates them)")
    return Env(loaded, prepared.values, next(iter(hosts)))


def standin_containers(loaded: Loaded) -> set[str]:
    """Names of containers that run labelled stand-ins in this environment."""
    mapper = image_mapper(loaded)
    out = set()
    for placed in loaded.stack.placements:
        for key, c in placed.service.containers.items():
            if mapper(c.image).standin:
                out.add(container_name(placed.project, key))
    return out


@dataclass(frozen=True)
class SavedItem:
    """One snapshot written by a backup run."""

    name: str
    snapshot: str
    data_added: int
    bytes_processed: int


@dataclass(frozen=True)
class BackupRun:
    """The result of running the backup script."""

    items: tuple[SavedItem, ...]
    log: str


def run_backup(env: Env, sites: Mapping[str, Site], services: Sequence[str] = (), *, maintenance: bool = True,
               secrets_store: Path | None = None, say: Callable[[str], None] = lambda s: None) -> BackupRun:
    """Run the rendered backup script on each host of *sites* (in order); raise the classified error on failure.

    The script, the repository password and the notification channels (``apprise.txt``, when
    any channel is configured) go to a 0700 temp dir on the host (written from stdin), the
    encrypted secrets store (when given) to the first host's backup state dir, so its snapshot
    keeps one path; all of it is removed afterwards. The script's state directory (and so its
    status file) is the nightly job's: one contract.
    """
    plans = {h: env.plan(h) for h in sites}
    known = {s.service for p in plans.values() for s in p.services}
    unknown = [s for s in services if s not in known]
    if unknown:
        raise BackupError(f"{env.name}: nothing to back up for {', '.join(unknown)} "
                          f"(services with a backup spec: {', '.join(sorted(known))})")
    items: list[SavedItem] = []
    logs: list[str] = []
    for n, (host, site) in enumerate(sites.items()):
        if services and not any(s.service in services for s in plans[host].services):
            continue
        store = secrets_store if n == 0 and not services and secrets_store and secrets_store.exists() else None
        say(f"{host}: backing up {env.name}" + (" and the encrypted secrets store" if store else ""))
        run = _run_on(env, site, plans[host], services, maintenance, store)
        items += run.items
        logs.append(run.log)
        say(f"{host}: {len(run.items)} snapshot(s)")
    return BackupRun(tuple(items), "\n".join(logs))


def _run_on(env: Env, site: Site, plan: BackupPlan, services: Sequence[str], maintenance: bool,
            store: Path | None) -> BackupRun:
    secret = env.secrets.get(PASSWORD_SECRET)
    if secret is None:
        raise BackupError(f"{env.name}: no {PASSWORD_SECRET} in the secrets store (backups disabled?)")
    state = state_dir(env.stack.environment.base_dir, env.name)
    work = site.temp_dir(prefix="zixly-backup-")
    store_path = posixpath.join(state, "secrets.age")
    try:
        script, password = posixpath.join(work, "backup.sh"), posixpath.join(work, "password")
        site.run(hostfs.write_private(script), what="uploading the backup script",
                 stdin=backup_script(plan, env.stack.environment).encode(), read=True)
        site.run(hostfs.write_private(password), what="writing the repository password",
                 stdin=secret.reveal().encode(), read=True)
        values = {"ZIXLY_BACKUP_ONLY": " ".join(services), "ZIXLY_BACKUP_MAINT": "1" if maintenance else "0",
                  "ZIXLY_BACKUP_STATE": state, "ZIXLY_SECRETS_STORE": store_path if store is not None else "",
                  "RESTIC_PASSWORD_FILE": password}
        targets = resolve(env.stack.environment, env.secrets, env.name)
        if targets:  # the channels as they are now (not as the last deploy left them), 0600 in the 0700 dir
            conf = posixpath.join(work, "apprise.txt")
            site.run(hostfs.write_private(conf), what="writing the notification channels",
                     stdin=apprise_config(targets).encode(), read=True)
            values["ZIXLY_NOTIFY_CONFIG"] = conf
        if store is not None:
            site.run(hostfs.mkdirs(state), what="creating the backup state dir")
            site.run(hostfs.write_private(store_path), what="uploading the encrypted secrets store",
                     stdin=store.read_bytes())
        with reporter().task(f"backup {env.name} on {site.label}", stage="starting") as task:
            out = _ItemProgress(task)
            res = site.runner.stream(shell.with_env(values, ["bash", script], unset=("RESTIC_PASSWORD",)),
                                     sink=out.add, timeout=6 * 3600)
    finally:
        site.remove(work)
        if store is not None:
            site.remove(store_path, scratch=False)
    log = env.redact(res.err)
    items = parse_items(out.text())
    if res.code != 0:
        cls = EXIT_CODES.get(res.code, BackupError)
        failed = [ln.split("FAILED: ", 1)[1] for ln in log.splitlines() if "FAILED: " in ln]
        raise cls(f"backup of {env.name} on {site.label} failed (exit {res.code}):\n  "
                  + "\n  ".join(failed or [log[-800:]]))
    return BackupRun(tuple(items), log)


class _ItemProgress:
    """The script's stdout as it arrives: each ``ITEM`` line moves the task (item saved, bytes read)."""

    def __init__(self, task: Task) -> None:
        self.task, self.chunks, self.partial, self.count, self.total = task, list[bytes](), b"", 0, 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        for saved in parse_items(b"\n".join(lines).decode(errors="replace")):
            self.count += 1
            self.total += saved.bytes_processed
            self.task.set_bytes(self.total, None, "read")
            self.task.set_stage(f"saved {saved.name} ({human_bytes(saved.bytes_processed)} read, "
                                f"{human_bytes(saved.data_added)} new) — {self.count} item(s)")

    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


def parse_items(stdout: str) -> list[SavedItem]:
    """The script's ``ITEM <name> <snapshot> <data_added> <bytes_processed>`` lines."""
    items = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "ITEM":
            items.append(SavedItem(parts[1], parts[2], int(parts[3] or 0), int(parts[4] or 0)))
    return items
