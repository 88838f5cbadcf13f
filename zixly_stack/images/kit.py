"""Build the offline image kit with no registry: debootstrap + ``docker import`` + legacy ``docker build``.

Contract
--------
* Every image is tagged ``zixly-offline/<name>:<version>`` and labelled
  ``org.zixly.recipe-hash=<hash>``, ``org.zixly.offline=true`` (and
  ``org.zixly.standin=true`` for stand-ins).
* :func:`build` rebuilds an image only when the image under its tag lacks the
  recipe's current hash (or ``force``); otherwise it reports ``cached``. The
  label is read from the engine each time, so the cache is never trusted blindly.
* Parents (``build.from``) are built first. Builds are serialised by a lock file,
  so concurrent callers (CI, pytest sessions) never build the same image twice. The lock
  is taken per image (check, then build), so a caller that needs only small images waits
  for the one build under way, not for another caller's whole list.
* ``debootstrap`` recipes: rootfs tarball (cached by recipe hash) -> ``docker import``.
  Other recipes: recipe dir + staged files -> ``docker build`` with the legacy
  builder (``DOCKER_BUILDKIT=0``), ``--build-arg BASE=<parent tag>``, host network
  for Debian's apt archive. The kit inserts the labels right after each
  ``FROM`` (so no extra layer copies a large image under the vfs driver).
  Recipes with ``import_add`` (multi-GB payloads such as n8n's node_modules): the
  Dockerfile builds only the small part, which is exported and streamed together
  with the staged tarballs into ``docker import`` with the recipe's ``changes``: one
  layer, no build context upload, no per-step copy of gigabytes.
* Logs go to ``~/.cache/zixly/logs/<name>.log``; a failure raises
  :class:`BuildError` with the end of the log.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from zixly_stack.commands import docker as dk
from zixly_stack.images.recipes import LABEL_HASH, LABEL_RECIPE, Recipe, RecipeError, list_recipes
from zixly_stack.images.rootfs import CACHE_DIR, BuildError, debootstrap_tarball, remove_tree
from zixly_stack.images.stage import STAGES
from zixly_stack.runner import LocalRunner

Printer = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    """What happened to one recipe in :func:`build_all`."""

    name: str
    tag: str
    cached: bool
    seconds: float


def _printer(verbose: bool) -> Printer:
    def say(line: str) -> None:
        if verbose:
            print(f"images: {line}", flush=True)

    return say


def image_hash(tag: str) -> str | None:
    """The recipe-hash label of the image under *tag*, or None when there is no such image."""
    res = LocalRunner().run(dk.image_labels(tag), timeout=60, read=True)
    if not res.ok:
        return None
    labels = json.loads(res.out.strip() or "null") or {}
    value = labels.get(LABEL_HASH)
    return str(value) if value else None


def is_current(recipe: Recipe) -> bool:
    """True when the engine holds *recipe*'s image built from its current hash."""
    return image_hash(recipe.tag) == recipe.recipe_hash


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "kit.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _label_instruction(recipe: Recipe) -> str:
    pairs = " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in sorted(recipe.labels().items()))
    return f"LABEL {pairs}"


def with_labels(dockerfile: str, recipe: Recipe) -> str:
    """*dockerfile* with the recipe's LABEL instruction inserted after every FROM line.

    Every stage carries the labels, so the dangling images of build stages are found
    (label ``org.zixly.recipe``) and pruned after the build.
    """
    out: list[str] = []
    for line in dockerfile.splitlines():
        out.append(line)
        if re.match(r"\s*FROM\s", line, re.I):
            out.append(_label_instruction(recipe))
    if len(out) == len(dockerfile.splitlines()):
        raise RecipeError(f"{recipe.path}: Dockerfile has no FROM line")
    return "\n".join(out) + "\n"


def _logged(argv: Sequence[str], log: Path, env: dict[str, str] | None = None, timeout: float = 3600) -> None:
    """*argv* (docker, through this machine's runner) with its output appended to *log*; BuildError on failure."""
    with open(log, "ab") as fh:
        fh.write(("\n$ " + " ".join(argv) + "\n").encode())
        fh.flush()
        res = LocalRunner({**os.environ, **(env or {})}).stream(argv, sink=fh.write, timeout=timeout)
        fh.write(res.stderr)
    if not res.ok:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise BuildError(f"`{' '.join(argv[:4])} ...` exited {res.code}; log {log}:\n{tail}")


def _prune_dangling(recipe: Recipe, log: Path) -> None:
    _logged(dk.image_prune(f"{LABEL_RECIPE}={recipe.name}"), log)


def _build_import(recipe: Recipe, log: Path) -> None:
    spec = recipe.build.debootstrap or {}
    changes = [*recipe.build.changes, _label_instruction(recipe)]
    for attempt in (1, 2):
        tarball = debootstrap_tarball(recipe.name, recipe.recipe_hash, recipe.path, spec, log)
        try:
            _logged(dk.image_import(changes, str(tarball), recipe.tag), log)
            return
        except BuildError:
            if attempt == 2:
                raise
            tarball.unlink(missing_ok=True)  # a damaged cache entry: make it again


def _docker_build(
    recipe: Recipe,
    parent: Recipe | None,
    force: bool,
    ctx: Path,
    log: Path,
    tag: str | None,
    iidfile: Path | None = None,
) -> None:
    dockerfile = ctx / recipe.build.dockerfile
    argv = dk.image_build(str(ctx), str(dockerfile), recipe.build.network, tag=tag,
                          iidfile=str(iidfile) if iidfile else None,
                          build_args=[f"BASE={parent.tag}"] if parent is not None else (), no_cache=force)
    _logged(argv, log, {"DOCKER_BUILDKIT": "0"})


def _tar_data_end(path: Path) -> int:
    """Byte offset where *path*'s members end (before the tar end-of-archive blocks)."""
    with tarfile.open(path, "r:") as tar:
        for _member in tar:
            pass
        return int(tar.offset)


def _stream_import(parts: list[Path], changes: list[str], tag: str, log: Path) -> None:
    """``docker import`` the concatenation of the tarballs *parts* (read once, never copied)."""
    argv = dk.image_import(changes, "-", tag)

    def chunks() -> Iterator[bytes]:
        for index, part in enumerate(parts):
            remaining = _tar_data_end(part) if index < len(parts) - 1 else part.stat().st_size
            with open(part, "rb") as src:
                while remaining > 0:
                    chunk = src.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    yield chunk
                    remaining -= len(chunk)

    with open(log, "ab") as fh:
        fh.write(("\n$ " + " ".join(argv) + "  < " + " + ".join(map(str, parts)) + "\n").encode())
        fh.flush()
        res = LocalRunner().stream(argv, source=chunks(), sink=fh.write, timeout=3600)
        fh.write(res.stderr)
    code = res.code
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise BuildError(f"docker import of {tag} exited {code}; log {log}:\n{tail}")


def _export_and_import(recipe: Recipe, parent: Recipe | None, force: bool, ctx: Path, scratch: Path, log: Path) -> None:
    """Build the Dockerfile's small image, export it, append the staged tarballs, import all."""
    (ctx / ".dockerignore").write_text("".join(f"{name}\n" for name in recipe.build.import_add))
    iidfile = scratch / "iid"
    _docker_build(recipe, parent, force, ctx, log, tag=None, iidfile=iidfile)
    image_id = iidfile.read_text().strip()
    here = LocalRunner()
    created = here.run(dk.create(image_id), timeout=600)
    if not created.ok:
        raise BuildError(f"docker create {image_id}: {created.err.strip()}")
    container = created.out.strip()
    exported = scratch / "prep.tar"
    try:
        _logged(dk.export(container, str(exported)), log)
    finally:
        here.run(dk.remove(container), timeout=600)
        here.run(dk.image_remove(image_id), timeout=600)
    parts = [exported, *(ctx / name for name in recipe.build.import_add)]
    _stream_import(parts, [*recipe.build.changes, _label_instruction(recipe)], recipe.tag, log)


def _build_dockerfile(recipe: Recipe, parent: Recipe | None, force: bool, log: Path) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"ctx-{recipe.name}-", dir=CACHE_DIR))
    ctx = scratch / "ctx"
    try:
        shutil.copytree(recipe.path, ctx, symlinks=False)
        for step in recipe.build.stage:
            if step not in STAGES:
                raise RecipeError(f"{recipe.path}/recipe.yaml: unknown stage step {step!r}")
            STAGES[step](recipe, ctx, log)
        dockerfile = ctx / recipe.build.dockerfile
        dockerfile.write_text(with_labels(dockerfile.read_text(), recipe))
        if recipe.build.import_add:
            _export_and_import(recipe, parent, force, ctx, scratch, log)
        else:
            _docker_build(recipe, parent, force, ctx, log, tag=recipe.tag)
    finally:
        remove_tree(scratch)


def _build_one(recipe: Recipe, parent: Recipe | None, force: bool) -> None:
    log = CACHE_DIR / "logs" / f"{recipe.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"# build of {recipe.tag} hash {recipe.recipe_hash}\n")
    if recipe.build.debootstrap is not None:
        _build_import(recipe, log)
    else:
        _build_dockerfile(recipe, parent, force, log)
    got = image_hash(recipe.tag)
    if got != recipe.recipe_hash:
        raise BuildError(f"{recipe.tag}: built image carries hash {got}, expected {recipe.recipe_hash}")
    _prune_dangling(recipe, log)


def _remove_stale_scratch() -> None:
    """Delete scratch dirs and partial files a killed build left (call only under the lock)."""
    if not CACHE_DIR.is_dir():
        return
    for entry in CACHE_DIR.iterdir():
        if entry.is_dir() and entry.name.startswith(("ctx-", "n8n-", "rootfs-")):
            remove_tree(entry)
        elif entry.is_file() and entry.name.endswith(".part"):
            entry.unlink(missing_ok=True)


def _closure(recipes: dict[str, Recipe], names: Sequence[str]) -> list[str]:
    wanted: list[str] = []

    def add(name: str) -> None:
        if name not in recipes:
            raise RecipeError(f"unknown image {name!r}; known: {', '.join(sorted(recipes))}")
        parent = recipes[name].build.base
        if parent:
            add(parent)
        if name not in wanted:
            wanted.append(name)

    for name in names:
        add(name)
    return wanted


def build_all(
    names: Iterable[str] | None = None, force: bool = False, verbose: bool = True, root: Path | None = None
) -> list[BuildResult]:
    """Build *names* (default: every recipe) and their parents; see module doc.

    ``force`` rebuilds the named images (all, when *names* is None) even when current;
    parents that are current stay cached.
    """
    say = _printer(verbose)
    recipes = {r.name: r for r in list_recipes(root)}
    requested = list(names) if names else list(recipes)
    forced = set(requested) if force else set()
    results: list[BuildResult] = []
    for name in _closure(recipes, requested):
        recipe = recipes[name]
        parent = recipes[recipe.build.base] if recipe.build.base else None
        start = time.monotonic()
        with _lock():  # per image: a caller that needs a small image never waits for a whole batch
            if name not in forced and is_current(recipe):
                say(f"{recipe.tag} cached ({recipe.recipe_hash[:12]})")
                results.append(BuildResult(name, recipe.tag, True, time.monotonic() - start))
                continue
            _remove_stale_scratch()
            say(f"{recipe.tag} building ({recipe.recipe_hash[:12]}) ...")
            _build_one(recipe, parent, name in forced)
        took = time.monotonic() - start
        say(f"{recipe.tag} built in {took:.0f}s")
        results.append(BuildResult(name, recipe.tag, False, took))
    return results


def build(names: Iterable[str] | None = None, force: bool = False, verbose: bool = True) -> dict[str, str]:
    """Build the kit (or *names*); return ``{name: tag}`` of every image built or cached."""
    return {r.name: r.tag for r in build_all(names, force=force, verbose=verbose)}
