"""PURE: where an environment's restic repository is and how restic is invoked.

The repository password is the generated secret :data:`PASSWORD_SECRET` of the
environment's encrypted store. It never appears on an argv: restic reads it from
``RESTIC_PASSWORD_FILE`` (a 0600 file) -- the rendered ``backup/secrets/restic_password``
on hosts, a private temp file when the CLI runs restic.
"""

from __future__ import annotations

from ...errors import ConfigError, Location, Problem
from ...models.environment import Environment
from ...models.secret_spec import SecretSpec

PASSWORD_SECRET = "backup.restic_password"
PASSWORD_SPEC = SecretSpec(type="password", length=48,
                           description="restic repository password (losing it loses every backup)",
                           never_rotate="restic encrypts every snapshot with a key unlocked by this password")


def repository(env_name: str, env: Environment) -> str:
    """restic's repository string for the environment's target.

    local: the path; sftp: ``sftp:user@host:/path`` (``sftp://`` accepted); s3: ``s3:https://host/bucket``
    (an ``https://`` URL gets the ``s3:`` prefix). Credentials for S3 come from the host's environment
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in ``/etc/zixly/backup-<env>.env``), never from here.
    """
    t = env.backup.target
    where = f"inventories/{env_name}/environment.yaml"
    if t.type == "local":
        if not t.path or not t.path.startswith("/"):
            raise ConfigError([Problem(Location(where), "backup.target.path", "a local target needs an absolute path",
                                       "e.g. {type: local, path: /var/backups/zixly}")])
        return t.path
    url = t.url or ""
    if t.type == "sftp":
        if not (url.startswith("sftp:")):
            raise ConfigError([Problem(Location(where), "backup.target.url", f"expected an sftp: URL, got {url!r}",
                                       "e.g. sftp:backup@backup.example.com:/srv/restic/zixly")])
        return url
    if url.startswith("s3:"):
        return url
    if url.startswith(("https://", "http://")):
        return f"s3:{url}"
    raise ConfigError([Problem(Location(where), "backup.target.url", f"expected an S3 endpoint URL, got {url!r}",
                               "e.g. s3:https://s3.eu-central-1.amazonaws.com/bucket/zixly")])


CHECKPOINT_TAG = "zixly-checkpoint"  # every upgrade checkpoint's snapshots carry it (zixly_stack.upgrade.checkpoint)


def retention_args(env: Environment) -> list[str]:
    """``restic forget`` keep options from the environment's retention; upgrade checkpoints are kept
    apart (:func:`checkpoint_retention_args`)."""
    r = env.backup.retention
    return ["--keep-daily", str(r.daily), "--keep-weekly", str(r.weekly), "--keep-monthly", str(r.monthly),
            "--keep-tag", CHECKPOINT_TAG]


def checkpoint_retention_args(env: Environment) -> list[str]:
    """``restic forget`` keep options for the upgrade checkpoints (snapshots tagged both ``env:<env>`` and
    :data:`CHECKPOINT_TAG`): the newest N per item."""
    return ["--keep-last", str(env.backup.retention.checkpoints)]


def host_tag(env_name: str, host: str) -> str:
    """The ``--host`` every snapshot of this host carries (stable across machines restoring it)."""
    return f"zixly-{env_name}-{host}"
