"""This machine's side of backups: the environment's plan, script, password file and restic.

Everything here drives the Docker engine and restic of *this* machine (hosts whose address
is ``@local``). The repository password travels only through a 0600 file in a private 0700
directory (``RESTIC_PASSWORD_FILE``), removed when the work is done; every output shown to
users passes :func:`redact` with the environment's secrets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog.stack import Stack
from ..errors import ApplyError
from ..notify.channels import apprise_config, resolve
from ..project import Loaded, image_mapper, prepare_secrets
from ..secrets.value import Secret, redact
from .faults import EXIT_CODES, BackupError, raise_for
from .plan import BackupPlan, container_name, plan_backup
from .repo import PASSWORD_SECRET, repository
from .script import backup_script


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

    def plan(self) -> BackupPlan:
        """The backup plan of the local host."""
        return plan_backup(self.stack, self.host, standin_containers(self.loaded))

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

    def restic(self, args: Sequence[str], *, what: str, stdin: int | None = None,
               timeout: float = 3600) -> subprocess.CompletedProcess[bytes]:
        """Run ``restic ARGS``; a failure raises the classified :class:`BackupError` (output redacted)."""
        with self.restic_env() as env:
            res = subprocess.run(["restic", *args], env=env, stdin=stdin, capture_output=True, timeout=timeout)
        if res.returncode != 0:
            text = res.stderr.decode(errors="replace") + res.stdout.decode(errors="replace")[-600:]
            raise_for(what, self.redact(text))
        return res


def open_env(loaded: Loaded) -> Env:
    """The environment with its secrets; refuses environments with hosts other than this machine."""
    hosts = loaded.config.hosts.hosts
    remote = [n for n, h in hosts.items() if h.address != "@local"]
    if remote:
        raise ApplyError(f"{loaded.config.name}: hosts {', '.join(remote)} are remote; on them the nightly timer "
                         "runs the rendered backup script; this command drives this machine only")
    if not loaded.stack.environment.backup.enabled:
        raise BackupError(f"{loaded.config.name}: backups are disabled (backup.enabled: false)")
    prepared = prepare_secrets(loaded)
    if prepared.added == [PASSWORD_SECRET]:
        prepared.commit()  # a stack deployed before backups existed: generate its repository password once
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


def run_backup(env: Env, services: Sequence[str] = (), *, maintenance: bool = True,
               secrets_store: Path | None = None) -> BackupRun:
    """Run the rendered backup script on this machine; raise the classified error on failure."""
    plan = env.plan()
    known = {s.service for s in plan.services}
    unknown = [s for s in services if s not in known]
    if unknown:
        raise BackupError(f"{env.name}: nothing to back up for {', '.join(unknown)} "
                          f"(services with a backup spec: {', '.join(sorted(known))})")
    script = backup_script(plan, env.stack.environment)
    with env.restic_env() as renv, tempfile.TemporaryDirectory(prefix="zixly-backup-") as work:
        path = Path(work) / "backup.sh"
        path.write_text(script)
        targets = resolve(env.stack.environment, env.secrets, env.name)
        if targets:  # the channels as they are now (not as the last deploy left them), 0600 in a 0700 dir
            conf = Path(work) / "apprise.txt"
            fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(apprise_config(targets))
            renv["ZIXLY_NOTIFY_CONFIG"] = str(conf)
        # the script's own state directory (and status file) is the nightly job's: one contract
        renv.update(ZIXLY_BACKUP_ONLY=" ".join(services), ZIXLY_BACKUP_MAINT="1" if maintenance else "0",
                    ZIXLY_SECRETS_STORE=str(secrets_store) if secrets_store and secrets_store.exists() else "")
        res = subprocess.run(["bash", str(path)], env=renv, capture_output=True, text=True, timeout=6 * 3600)
    log = env.redact(res.stderr)
    items = []
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "ITEM":
            items.append(SavedItem(parts[1], parts[2], int(parts[3] or 0), int(parts[4] or 0)))
    if res.returncode != 0:
        cls = EXIT_CODES.get(res.returncode, BackupError)
        failed = [ln.split("FAILED: ", 1)[1] for ln in log.splitlines() if "FAILED: " in ln]
        raise cls(f"backup of {env.name} failed (exit {res.returncode}):\n  " + "\n  ".join(failed or [log[-800:]]))
    return BackupRun(tuple(items), log)
