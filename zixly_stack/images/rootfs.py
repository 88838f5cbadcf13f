"""Root filesystems for the kit: debootstrap into a scratch dir and tar it, mount-safely.

Contract: :func:`debootstrap_tarball` returns a tarball of a fresh
``debootstrap --variant=<variant> <suite>`` tree with the recipe's ``rootfs/``
overlay copied on top and apt caches removed. The tarball is cached as
``~/.cache/zixly/rootfs-<name>-<hash>.tar`` (written to a temp name, then renamed,
so a half-written file is never taken for a cached one). Scratch trees are
removed only after every mount below them (debootstrap mounts /proc, /sys and
may bind /dev) is unmounted: we never ``rm -rf`` through a mount.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from ..progress import watching

CACHE_DIR = Path(os.environ.get("ZIXLY_CACHE_DIR", str(Path.home() / ".cache" / "zixly")))
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class BuildError(RuntimeError):
    """A build step failed; the message says which and shows the end of its output."""


def run_logged(
    argv: Sequence[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 3600,
    what: str | None = None,
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Run *argv* appending its output to *log*; raise :class:`BuildError` on failure.

    While it runs, the current progress task (if any) shows *what* (default: the command's
    first two words) and the bytes the process tree writes; *on_line* sees each output line.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        fh.write(("\n$ " + " ".join(argv) + "\n").encode())
        fh.flush()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE if on_line else fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
            )
        except OSError as exc:
            raise BuildError(f"{argv[0]}: {exc} (log: {log})") from exc
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        killer = threading.Timer(timeout, kill)
        killer.start()
        try:
            with watching(proc.pid, what or " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv[:2]))):
                if on_line and proc.stdout is not None:
                    for raw in proc.stdout:
                        fh.write(raw)
                        on_line(raw.decode(errors="replace"))
                code = proc.wait()
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if timed_out.is_set():
        raise BuildError(f"{argv[0]}: timed out after {timeout:.0f}s (log: {log})")
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BuildError(f"`{' '.join(argv[:4])} ...` exited {code}; log {log}:\n{tail}")


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below *path*, deepest first."""
    target = os.path.realpath(path)
    found: list[str] = []
    with open("/proc/self/mounts") as fh:
        for line in fh:
            mnt = line.split()[1].replace("\\040", " ")
            if mnt == target or mnt.startswith(target + "/"):
                found.append(mnt)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """Unmount everything below *path*, then delete it; refuse if a mount remains."""
    if not path.exists():
        return
    for mnt in mounts_under(path):
        subprocess.run(["umount", "-l", mnt], check=False, capture_output=True)
    left = mounts_under(path)
    if left:
        raise BuildError(f"refusing to delete {path}: still mounted: {left}")
    shutil.rmtree(path, ignore_errors=True)


def ensure_debootstrap(log: Path) -> str:
    """Path of ``debootstrap``, installing Debian's package when missing."""
    found = shutil.which("debootstrap")
    if found:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run_logged(["apt-get", "update"], log, env=env)
    run_logged(
        ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", "debootstrap"],
        log,
        env=env,
    )
    found = shutil.which("debootstrap")
    if not found:
        raise BuildError("debootstrap still missing after apt-get install")
    return found


def tar_tree(tree: Path, out: Path, log: Path) -> None:
    """Tar the contents of *tree* (numeric owners, xattrs off) atomically into *out*."""
    tmp = out.with_name(out.name + ".part")
    run_logged(["tar", "--numeric-owner", "-C", str(tree), "-cf", str(tmp), "."], log)
    tmp.replace(out)


def cached_file(name: str, build: Callable[[Path], None], *, log: Path) -> Path:
    """``CACHE_DIR/name``; when absent, ``build(tmp_path)`` makes it and it is renamed in."""
    out = CACHE_DIR / name
    if out.is_file() and out.stat().st_size > 0:
        return out
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.unlink(missing_ok=True)
    build(tmp)
    tmp.replace(out)
    return out


def debootstrap_tarball(name: str, recipe_hash: str, recipe_dir: Path, spec: dict[str, str], log: Path) -> Path:
    """The cached rootfs tarball of a debootstrap recipe (see module doc)."""
    out = CACHE_DIR / f"rootfs-{name}-{recipe_hash[:16]}.tar"
    if out.is_file() and out.stat().st_size > 0:
        return out
    debootstrap = ensure_debootstrap(log)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"rootfs-{name}-", dir=CACHE_DIR))
    tree = scratch / "root"
    try:
        argv = [debootstrap, f"--variant={spec.get('variant', 'minbase')}"]
        if spec.get("include"):
            argv.append(f"--include={spec['include']}")
        argv += [
            spec.get("suite", "bookworm"),
            str(tree),
            os.environ.get("ZIXLY_DEBIAN_MIRROR", spec.get("mirror", DEFAULT_MIRROR)),
        ]
        run_logged(argv, log, timeout=1800)
        for mnt in mounts_under(tree):
            subprocess.run(["umount", "-l", mnt], check=False, capture_output=True)
        overlay = recipe_dir / "rootfs"
        if overlay.is_dir():
            shutil.copytree(overlay, tree, symlinks=True, dirs_exist_ok=True)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (tree / junk).glob("*"):
                if entry.is_file() and entry.name != "lock":
                    entry.unlink()
        for entry in (tree / "var/cache/apt").glob("*.bin"):
            entry.unlink()
        for sub in ("proc", "sys", "dev/pts"):
            if mounts_under(tree / sub):
                raise BuildError(f"{tree / sub} is still mounted; not archiving it")
        tar_tree(tree, out, log)
    finally:
        remove_tree(scratch)
    return out
