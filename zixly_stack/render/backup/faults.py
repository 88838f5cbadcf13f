"""The distinct ways a backup or restore fails, each with its own message and exit code.

One table (:data:`FAULTS`) serves both sides: :func:`classify` maps restic's output to an
error in Python, and the rendered backup script greps the same patterns and exits with the
same codes, so a nightly run on a host and ``zixly backup`` report alike. Nothing here
prints "ok": every failure is an exception the CLI turns into its exit code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...errors import ZixlyError


class BackupError(ZixlyError):
    """A backup, restore or drill failed (generic). Exit code 10."""

    exit_code = 10


class RepoPasswordError(BackupError):
    """The repository password is wrong (or the key is missing)."""

    exit_code = 11


class RepoLockedError(BackupError):
    """Another restic process holds the repository lock."""

    exit_code = 12


class RepoFullError(BackupError):
    """The repository's file system ran out of space."""

    exit_code = 13


class RepoCorruptError(BackupError):
    """restic check found damaged data, or a snapshot could not be read back."""

    exit_code = 14


class ContainerDownError(BackupError):
    """A container the backup or restore needs is not running."""

    exit_code = 15


class RepoMissingError(BackupError):
    """No repository at the target (never initialised, or the path is wrong)."""

    exit_code = 16


class DumpError(BackupError):
    """A database dump or a pre/post step failed; the partial snapshot was removed."""

    exit_code = 17


class DrillError(BackupError):
    """The restore drill found a difference (rows or files) or an app that did not come back."""

    exit_code = 18


@dataclass(frozen=True)
class Fault:
    """A recognisable failure: restic output matching *pattern* means *error*."""

    error: type[BackupError]
    pattern: str  # extended regex, case-insensitive, also used by grep -E -i in the script
    message: str
    hint: str


FAULTS: tuple[Fault, ...] = (
    Fault(RepoPasswordError, r"wrong password|no key found",
          "wrong repository password", "the password is the secret backup.restic_password of this environment"),
    Fault(RepoLockedError, r"repository is already locked|unable to create lock",
          "repository is locked by another restic process",
          "wait for it to finish; if it died, `restic unlock` removes stale locks"),
    Fault(RepoFullError, r"no space left on device|disk quota exceeded",
          "no space left on the backup target",
          "free space or move the repository; the partial snapshot was not saved"),
    Fault(RepoCorruptError,
          r"ciphertext verification failed|pack .* (contains|is) .*(damaged|invalid)|"
          r"Fatal: repository contains errors|hash does not match|wrong data returned|errors were found",
          "the repository holds damaged data",
          "run `restic check --read-data`; restore from another copy of the repository"),
    Fault(RepoMissingError, r"unable to open config file|Is there a repository at the following location",
          "no restic repository at the target", "`zixly backup ENV` initialises it on first use"),
)


def classify(output: str, default: type[BackupError] = BackupError) -> tuple[type[BackupError], str]:
    """The error class and message for restic's *output* (first matching fault wins)."""
    for f in FAULTS:
        if re.search(f.pattern, output, re.IGNORECASE):
            return f.error, f"{f.message} ({f.hint})"
    return default, ""


def raise_for(what: str, output: str, default: type[BackupError] = BackupError) -> None:
    """Raise the classified error for a failed restic command (*output* must already be redacted)."""
    cls, message = classify(output, default)
    tail = " ".join(output.strip().splitlines()[-3:])[-400:]
    raise cls(f"{what}: {message or tail or 'failed'}" + (f"\n  restic: {tail}" if message and tail else ""))


EXIT_CODES: dict[int, type[BackupError]] = {
    c.exit_code: c
    for c in (BackupError, RepoPasswordError, RepoLockedError, RepoFullError, RepoCorruptError, ContainerDownError,
              RepoMissingError, DumpError, DrillError)
}
