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
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..catalog.stack import Stack
from ..errors import ApplyError
from ..notify.channels import apprise_config, resolve
from ..progress import human_bytes, reporter, watching
from ..project import Loaded, image_mapper, prepare_secrets
from ..secrets.fingerprint import KEY_SECRET
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
        with self.restic_env() as env, subprocess.Popen(["restic", *args], env=env, stdin=stdin,
                                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc, \
                watching(proc.pid, f"restic {args[0]}"):
            try:
                stdout, stderr = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
        res = subprocess.CompletedProcess(["restic", *args], proc.returncode, stdout, stderr)
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


def parse_items(stdout: str) -> list[SavedItem]:
    """The script's ``ITEM <name> <snapshot> <data_added> <bytes_processed>`` lines."""
    items = []
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "ITEM":
            items.append(SavedItem(parts[1], parts[2], int(parts[3] or 0), int(parts[4] or 0)))
    return items


def _run_script(argv: list[str], env: dict[str, str], label: str, redact: Callable[[str], str],
                timeout: float = 6 * 3600) -> tuple[int, str, str]:
    """Run the backup script; progress shows each item saved (name, bytes) and its log as the stage."""
    out: list[str] = []
    err: list[str] = []
    with reporter().task(label, stage="starting") as task, subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        stderr = proc.stderr

        def drain() -> None:
            for line in stderr:
                err.append(line)
                text = redact(line.strip()).split(" ", 1)[-1]
                if text:
                    task.stage = text[:100]

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        total = 0
        for line in proc.stdout:
            out.append(line)
            saved = parse_items(line)
            if saved:
                total += saved[0].bytes_processed
                task.set_bytes(total, None, "read")
                task.set_stage(f"saved {saved[0].name} ({human_bytes(saved[0].bytes_processed)} read, "
                               f"{human_bytes(saved[0].data_added)} new) — {len(parse_items(''.join(out)))} item(s)")
        code = proc.wait(timeout=timeout)
        reader.join(timeout=30)
    return code, "".join(out), "".join(err)


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
        code, stdout, stderr = _run_script(["bash", str(path)], renv, f"backup {env.name}", env.redact)
    log = env.redact(stderr)
    items = parse_items(stdout)
    if code != 0:
        cls = EXIT_CODES.get(code, BackupError)
        failed = [ln.split("FAILED: ", 1)[1] for ln in log.splitlines() if "FAILED: " in ln]
        raise cls(f"backup of {env.name} failed (exit {code}):\n  " + "\n  ".join(failed or [log[-800:]]))
    return BackupRun(tuple(items), log)
