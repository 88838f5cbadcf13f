"""Atomic, compare-before-swap file writes for the store and its recipients file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..errors import SecretsError


def read_or_none(path: Path) -> bytes | None:
    """The file's bytes, or ``None`` if it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise SecretsError(f"{path}: is a directory, not a file. Nothing was generated or written. Move it aside "
                           f"and restore the file from git (`git log -- {path.name}`) or a backup") from None
    except PermissionError as exc:
        raise SecretsError(f"{path}: cannot be read ({exc.strerror}). Nothing was generated or written.") from None


def atomic_write(path: Path, data: bytes, mode: int, expect: bytes | None) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same dir, fsync, rename).

    ``expect`` is what the file must still contain right before the swap (``None``: it
    must not exist). If somebody changed it meanwhile, nothing is written and
    :class:`SecretsError` says so — a store is never overwritten with a stale copy,
    and a new store never replaces one that appeared concurrently.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if read_or_none(path) != expect:
            raise SecretsError(
                f"{path}: changed on disk while zixly was working (another zixly, an editor or git?); "
                "nothing was written, run the command again"
            )
        if expect is None:
            _create_exclusive(tmp, path)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _create_exclusive(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # fails if path exists: never clobbers a store that just appeared
    except FileExistsError:
        raise SecretsError(f"{path}: appeared while zixly was working; nothing was written") from None
    except OSError:  # filesystem without hard links
        os.replace(tmp, path)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
