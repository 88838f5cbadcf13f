"""Where an environment lives on a host. Pure.

::

    <base_dir>/<env>/
        releases/<id>/<rendered host tree>   one directory per deployed release
        current -> releases/<id>              switched atomically (rename of a symlink)
        .lock/owner                           the deploy lock (a directory: mkdir is atomic)
        .applied/<project>                    digest of the files a project was last brought up from
        releases.log                          one JSON line per deploy / rollback
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..safepath import posix_inside


@dataclass(frozen=True)
class EnvPaths:
    """Paths of one environment under a host's base directory."""

    base_dir: str
    env: str

    @property
    def root(self) -> str:
        """``<base>/<env>``."""
        return posix_inside(self.base_dir, self.env)

    @property
    def releases(self) -> str:
        """Directory holding every release."""
        return posixpath.join(self.root, "releases")

    @property
    def current(self) -> str:
        """The ``current`` symlink."""
        return posixpath.join(self.root, "current")

    @property
    def current_tmp(self) -> str:
        """Scratch name for the atomic switch of ``current``."""
        return posixpath.join(self.root, ".current.tmp")

    @property
    def lock_dir(self) -> str:
        """The lock directory (exists while a deploy runs)."""
        return posixpath.join(self.root, ".lock")

    @property
    def lock_owner(self) -> str:
        """The lock's owner file (JSON)."""
        return posixpath.join(self.lock_dir, "owner")

    @property
    def applied(self) -> str:
        """One file per compose project: the digest of the files it was last brought up from."""
        return posixpath.join(self.root, ".applied")

    @property
    def log(self) -> str:
        """The release log (JSON lines)."""
        return posixpath.join(self.root, "releases.log")

    def release(self, release_id: str) -> str:
        """Directory of one release (an id read back from a host cannot point elsewhere)."""
        return posix_inside(self.releases, release_id)

    def in_current(self, rel: str) -> str:
        """A release-relative path under ``current`` (what Compose is given)."""
        return posix_inside(self.current, rel)
