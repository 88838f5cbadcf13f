"""argv for restic on the host that runs it. Pure.

The repository password never appears here: restic reads it from ``RESTIC_PASSWORD_FILE``,
a 0600 file the caller writes from stdin (:func:`zixly_stack.commands.hostfs.write_private`).
Credentials of the target (S3 keys, ...) come from the host's own 0600 env file
``/etc/zixly/backup-<env>.env`` -- the file the nightly script sources -- exported into
restic's environment by :func:`zixly_stack.commands.shell.with_env_file`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .shell import with_env, with_env_file

RESTIC = "restic"
# Variables of the caller's environment that would override or confuse ours.
_UNSET = ("RESTIC_PASSWORD", "RESTIC_PASSWORD_COMMAND", "RESTIC_REPOSITORY_FILE", "RESTIC_KEY_HINT")


def env_file(env: str) -> str:
    """``/etc/zixly/backup-<env>.env``: the target's credentials on a host (written by its admin, 0600)."""
    return f"/etc/zixly/backup-{env}.env"


def restic(args: Sequence[str], *, repository: str, password_file: str, credentials: str,
           cache_dir: str) -> list[str]:
    """``restic ARGS`` against *repository* with the password in *password_file* and *credentials* sourced;
    restic's cache in *cache_dir* (a directory zixly owns, never the caller's ``~/.cache``)."""
    return with_env({"RESTIC_REPOSITORY": repository, "RESTIC_PASSWORD_FILE": password_file,
                     "RESTIC_CACHE_DIR": cache_dir},
                    with_env_file(credentials, [RESTIC, *args]), unset=_UNSET)


def snapshots(env: str) -> list[str]:
    """Every snapshot of environment *env*, as JSON."""
    return ["snapshots", "--json", "--tag", f"env:{env}"]


def dump(snapshot: str, path: str) -> list[str]:
    """One file of a snapshot to stdout."""
    return ["dump", snapshot, path]


def restore(snapshot: str, target: str, include: str) -> list[str]:
    """The *include* path of a snapshot under *target* (restic recreates the full path there)."""
    return ["restore", snapshot, "--target", target, "--include", include]


def check(subset: str = "") -> list[str]:
    """``check --read-data`` (all pack data) or ``--read-data-subset=N/T``."""
    return ["check", f"--read-data-subset={subset}" if subset else "--read-data"]


def cat_config() -> list[str]:
    """Reads the repository's config: fails distinctly when there is no repository or the password is wrong."""
    return ["cat", "config"]


def tag_add(tag: str, snapshots: Sequence[str]) -> list[str]:
    """Add *tag* to *snapshots* (restic rewrites them: they get new ids)."""
    return ["tag", "--add", tag, *snapshots]


def ls_json(snapshot: str) -> list[str]:
    """Every node of a snapshot, one JSON object per line (the snapshot itself first)."""
    return ["ls", "--json", snapshot]
