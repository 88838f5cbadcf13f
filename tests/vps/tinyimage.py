"""Small images built with no registry, for the test-host tests.

* the *tinyhttpd* image: ``FROM scratch`` + a static C server (``tinyhttpd.c``, compiled
  here with ``gcc -static``): ``docker run IMAGE PORT BODY`` answers HTTP with BODY;
* a *file-only* image: ``FROM scratch`` + one static file, the smallest thing to move
  between engines.

Builds use the legacy builder (``DOCKER_BUILDKIT=0``: there is no buildx here).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

SOURCE = Path(__file__).with_name("tinyhttpd.c")
TINY_TAG = "zixly-test/tinyhttpd:1"

Docker = Callable[..., subprocess.CompletedProcess[str]]


def compile_tinyhttpd(out_dir: Path) -> Path:
    """Compile ``tinyhttpd.c`` statically into *out_dir*; raise RuntimeError on failure."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc is missing (apt-get install gcc libc6-dev)")
    out = out_dir / "tinyhttpd"
    res = subprocess.run([gcc, "-O2", "-static", "-o", str(out), str(SOURCE)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"gcc -static failed: {res.stderr.strip()}")
    return out


def tinyhttpd_context(binary: Path, ctx: Path) -> Path:
    """Write a build context for the tinyhttpd image into *ctx*."""
    ctx.mkdir(parents=True, exist_ok=True)
    shutil.copy2(binary, ctx / "tinyhttpd")
    (ctx / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY tinyhttpd /tinyhttpd\n"
        'LABEL org.zixly.test="tinyhttpd: static test server, not an upstream image"\n'
        "EXPOSE 8080\n"
        'ENTRYPOINT ["/tinyhttpd"]\n'
        'CMD ["8080", "hello"]\n')
    return ctx


def file_context(ctx: Path, content: str) -> Path:
    """Write a build context for a ``FROM scratch`` image holding ``/zixly-probe.txt``."""
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "zixly-probe.txt").write_text(content)
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY zixly-probe.txt /zixly-probe.txt\n"
                                    'CMD ["/none"]\n')
    return ctx


def build(docker: Docker, tag: str, ctx: Path) -> None:
    """``docker build -t TAG CTX`` with *docker* (a ``docker(*args)`` callable)."""
    res = docker("build", "-q", "-t", tag, str(ctx))
    if res.returncode != 0:
        raise RuntimeError(f"docker build {tag}: {res.stderr.strip()}")


def read_file_from_image(docker: Docker, tag: str, path: str, scratch: Path) -> str:
    """Content of *path* inside image *tag* (copied out of a created, never started
    container into the local directory *scratch*)."""
    cid = docker("create", tag).stdout.strip()
    if not cid:
        raise RuntimeError(f"docker create {tag} failed")
    try:
        dest = scratch / Path(path).name
        res = docker("cp", f"{cid}:{path}", str(dest))
        if res.returncode != 0:
            raise RuntimeError(f"docker cp {path}: {res.stderr.strip()}")
        return dest.read_text()
    finally:
        docker("rm", "-f", cid)
