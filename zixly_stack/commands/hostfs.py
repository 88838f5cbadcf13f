"""argv for file work on a host (temp dirs, private files, trees, checksums, Redis' AOF). Pure.

Every variable part is a positional argument of a fixed script (see :mod:`.shell`); paths
are the caller's, checked there to stay under their roots (:mod:`zixly_stack.safepath`).
"""

from __future__ import annotations

_WRITE_PRIVATE = 'umask 077 && cat >"$1"'
_SHA256_TREE = 'cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum'
_EMPTY = 'find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +'
_MOVE_CONTENTS = 'find "$1" -mindepth 1 -maxdepth 1 -exec mv -t "$2" -- {} +'
_INSTALL_RDB = (
    'rdb=$1 t=$2 d=$2/$3; owner=$(stat -c %u:%g "$t") || exit 1; '
    'find "$t" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + || exit 1; '
    'mkdir -m 0755 "$d" && mv -- "$rdb" "$d/$4" && : >"$d/$5" && printf "%s" "$7" >"$d/$6" '
    '&& chown -R "$owner" "$d" && chmod 0644 "$d/$4" "$d/$5" "$d/$6"'
)
# Move a restored tree (restic restores <root>/<source>) to the root, with the tree's owner/mode.
_RELOCATE = (
    'root=$1 top=$1/$2 tree=$1/$3; [ -d "$tree" ] || exit 0; moved=$root/.zixly-drill-restored; '
    'owner=$(stat -c %u:%g "$tree") && mode=$(stat -c %a "$tree") && mv -- "$top" "$moved" '
    '&& find "$moved/${3#"$2"}" -mindepth 1 -maxdepth 1 -exec mv -t "$root" -- {} + && rm -rf -- "$moved" '
    '&& chown "$owner" "$root" && chmod "$mode" "$root"'
)


def temp_dir(parent: str = "", prefix: str = "zixly-") -> list[str]:
    """A new 0700 directory (its path on stdout); under *parent* when given (same file system)."""
    return ["mktemp", "-d", *(["-p", parent] if parent else ["-t"]), f"{prefix}XXXXXXXX"]


def write_private(path: str) -> list[str]:
    """stdin into a new 0600 file *path* (secrets: the content never appears in an argv)."""
    return ["sh", "-c", _WRITE_PRIVATE, "sh", path]


def remove_tree(path: str) -> list[str]:
    """Remove *path* and everything under it."""
    return ["rm", "-rf", "--", path]


def read(path: str) -> list[str]:
    """A file's bytes on stdout."""
    return ["cat", "--", path]


def head(path: str, size: int) -> list[str]:
    """The first *size* bytes of a file."""
    return ["head", "-c", str(size), "--", path]


def tail(path: str, size: int) -> list[str]:
    """The last *size* bytes of a file."""
    return ["tail", "-c", str(size), "--", path]


def sha256_tree(path: str) -> list[str]:
    """``sha256  ./relative/path`` of every regular file under *path*, sorted."""
    return ["sh", "-c", _SHA256_TREE, "sh", path]


def empty_dir(path: str) -> list[str]:
    """Remove every entry of directory *path* (the directory itself stays, with its owner and mode)."""
    return ["sh", "-c", _EMPTY, "sh", path]


def move_contents(src: str, dst: str) -> list[str]:
    """Move every entry of *src* into *dst* (same file system: renames)."""
    return ["sh", "-c", _MOVE_CONTENTS, "sh", src, dst]


def install_rdb(rdb: str, target: str, aof_dir: str, base: str, incr: str, manifest: str,
                manifest_text: str) -> list[str]:
    """Replace the data dir *target* of a stopped Redis with *rdb* as the base of a new multi-part AOF:
    ``<aof_dir>/<base>``, an empty ``<incr>`` and ``<manifest>``, owned like *target* itself."""
    return ["sh", "-c", _INSTALL_RDB, "sh", rdb, target, aof_dir, base, incr, manifest, manifest_text]


def relocate(root: str, source: str) -> list[str]:
    """Move the tree restic restored at ``<root>/<source>`` to *root* itself (owner and mode kept)."""
    rel = source.strip("/")
    return ["sh", "-c", _RELOCATE, "sh", root, rel.split("/", 1)[0], rel]


def meminfo() -> list[str]:
    """``/proc/meminfo`` of the host."""
    return ["cat", "/proc/meminfo"]


def mkdirs(path: str, mode: str = "0700") -> list[str]:
    """Create *path* and its parents (the last one with *mode*)."""
    return ["mkdir", "-p", "-m", mode, "--", path]


def is_dir(path: str) -> list[str]:
    """Exit 0 when *path* is a directory."""
    return ["test", "-d", path]


def rename(src: str, dst: str) -> list[str]:
    """Rename *src* to *dst* (a directory onto a path that does not exist)."""
    return ["mv", "-T", "--", src, dst]


def readlink(path: str) -> list[str]:
    """The target of symlink *path* (fails when it is none)."""
    return ["readlink", "--", path]


def write_file(path: str, mode: str) -> list[str]:
    """stdin into a new file *path* made in private (0600), then given *mode* (a secret a container user reads)."""
    return ["sh", "-c", 'umask 077 && cat >"$1" && chmod "$2" "$1"', "sh", path, mode]


def untar(dest: str) -> list[str]:
    """A tar stream on stdin unpacked under *dest* (modes kept: root restores them)."""
    return ["tar", "-x", "-f", "-", "-C", dest, "--no-same-owner"]


def free_kib(path: str) -> list[str]:
    """``df -P -k PATH``: the file system holding *path*, sizes in KiB (POSIX columns)."""
    return ["df", "-P", "-k", path]


def available_kib(df_output: str) -> int | None:
    """The ``Available`` column of :func:`free_kib`'s output (KiB), or None. Pure."""
    lines = [ln for ln in df_output.splitlines() if ln.strip()]
    parts = lines[-1].split() if len(lines) >= 2 else []
    return int(parts[3]) if len(parts) >= 6 and parts[3].isdigit() else None
