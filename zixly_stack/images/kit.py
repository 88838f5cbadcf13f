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
import queue
import re
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from zixly_stack.commands import docker as dk
from zixly_stack.images.fetch import fetch_into
from zixly_stack.images.n8n_stage import PATHS_FILE, SIZE_FILE
from zixly_stack.images.recipes import LABEL_HASH, LABEL_RECIPE, Recipe, RecipeError, list_recipes
from zixly_stack.images.rootfs import CACHE_DIR, BuildError, debootstrap_tarball, remove_tree
from zixly_stack.images.stage import PREFETCH, STAGES
from zixly_stack.progress import current_task, reporter
from zixly_stack.runner import LocalRunner
from zixly_stack.runner.base import Result

Printer = Callable[[str], None]
# How trees are archived for `docker import`: numeric root ownership, like the kit's tarballs.
TREE_TAR_ARGV = ("tar", "--numeric-owner", "--owner=0", "--group=0")


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


def _logged(argv: Sequence[str], log: Path, env: dict[str, str] | None = None, timeout: float = 3600, *,
            what: str | None = None, on_line: Callable[[str], None] | None = None) -> None:
    """*argv* (docker, through this machine's runner) with its output appended to *log*; BuildError on failure.

    While it runs, the current progress task (if any) shows *what* (default: the command's first
    two words) and the bytes the process tree writes (the runner's); *on_line* sees each stdout line.
    """
    task = current_task()
    with open(log, "ab") as fh:
        fh.write(("\n$ " + " ".join(argv) + "\n").encode())
        fh.flush()
        partial = [b""]

        def sink(chunk: bytes) -> None:
            fh.write(chunk)
            if on_line is not None:
                *lines, partial[0] = (partial[0] + chunk).split(b"\n")
                for line in lines:
                    on_line(line.decode(errors="replace"))

        stage = what or " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv[:2]))
        with task.step(stage) if task is not None else contextlib.nullcontext():
            res = LocalRunner({**os.environ, **(env or {})}).stream(argv, sink=sink, timeout=timeout)
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
    _logged(argv, log, {"DOCKER_BUILDKIT": "0"}, what="docker build", on_line=_build_step_line)


def _build_step_line(line: str) -> None:
    """``Step 3/7 : RUN apt-get ...`` of the legacy builder becomes the task's stage."""
    task = current_task()
    match = re.match(r"Step (\d+/\d+) : (.*)", line.strip())
    if task is not None and match:
        task.set_stage(f"docker build step {match[1]}: {match[2][:60]}")


def _tar_data_end(path: Path) -> int:
    """Byte offset where *path*'s members end (before the tar end-of-archive blocks)."""
    with tarfile.open(path, "r:") as tar:
        for _member in tar:
            pass
        return int(tar.offset)


def _part_size(part: Path) -> int:
    size_file = part / SIZE_FILE
    if part.is_dir():
        return int(size_file.read_text().strip()) if size_file.is_file() else 0
    return part.stat().st_size


def _part_chunks(part: Path, last: bool) -> Iterator[bytes]:
    """The bytes of *part* for the import: a tarball's members (its end blocks too when *last*),
    or a tree's ``.zixly-paths`` streamed by ``tar -c`` through the runner (never written to disk)."""
    if part.is_dir():
        paths = part.joinpath(PATHS_FILE).read_text().split()
        yield from _output_of([*TREE_TAR_ARGV, "-C", str(part.resolve()), "-cf", "-", *paths], f"tar of {part}")
        return
    remaining = part.stat().st_size if last else _tar_data_end(part)
    with open(part, "rb") as src:
        while remaining > 0:
            chunk = src.read(min(remaining, 1 << 20))
            if not chunk:
                break
            yield chunk
            remaining -= len(chunk)


def _output_of(argv: Sequence[str], what: str) -> Iterator[bytes]:
    """*argv*'s stdout chunk by chunk as it comes (the runner on a side thread, a bounded queue
    between); :class:`BuildError` when it fails. Stopping early ends the command."""
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
    stop = threading.Event()
    done: list[Result] = []

    def put(chunk: bytes) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                chunks.put(chunk, timeout=1)
                return
        raise BrokenPipeError(what)  # the reader went away: the runner's read loop ends, the command is killed

    def run() -> None:
        try:
            done.append(LocalRunner().stream(argv, sink=put, timeout=3600, read=True))
        except BrokenPipeError:
            pass
        finally:
            while not stop.is_set():
                with contextlib.suppress(queue.Full):
                    chunks.put(None, timeout=1)
                    break

    thread = threading.Thread(target=run, name="tar-stream", daemon=True)
    thread.start()
    try:
        while (chunk := chunks.get()) is not None:
            yield chunk
    finally:
        stop.set()
        thread.join(timeout=60)
    if not done or not done[0].ok:
        raise BuildError(f"{what} exited {done[0].code if done else '?'}: {done[0].tail(300) if done else ''}")


def _stream_import(parts: list[Path], changes: list[str], tag: str, log: Path) -> None:
    """``docker import`` the concatenation of *parts* (tarballs, or trees as the last part)."""
    argv = dk.image_import(changes, "-", tag)
    task = current_task()
    total = sum(_part_size(p) for p in parts)
    done = [0]

    def chunks() -> Iterator[bytes]:
        for index, part in enumerate(parts):
            for chunk in _part_chunks(part, index == len(parts) - 1):
                done[0] += len(chunk)
                if task is not None:
                    task.set_bytes(done[0], total or None, "sent")
                yield chunk

    with open(log, "ab") as fh:
        fh.write(("\n$ " + " ".join(argv) + "  < " + " + ".join(map(str, parts)) + "\n").encode())
        fh.flush()
        with task.step("docker import", word="sent") if task is not None else contextlib.nullcontext():
            if task is not None:
                task.set_bytes(0, total or None, "sent")  # the import reports what it was sent, not what it wrote
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
    absent = [p.name for p in parts[1:] if not p.exists()]
    if absent:
        raise RecipeError(f"{recipe.path}/recipe.yaml: build.import_add: no staging step made {', '.join(absent)}")
    if any(p.is_dir() for p in parts[:-1]):
        raise RecipeError(f"{recipe.path}/recipe.yaml: build.import_add: a staged tree must come last")
    _stream_import(parts, [*recipe.build.changes, _label_instruction(recipe)], recipe.tag, log)


def _build_dockerfile(recipe: Recipe, parent: Recipe | None, force: bool, log: Path) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"ctx-{recipe.name}-", dir=CACHE_DIR))
    ctx = scratch / "ctx"
    try:
        shutil.copytree(recipe.path, ctx, symlinks=False)
        task = current_task()
        if recipe.build.fetch:
            if task is not None:
                task.set_stage("fetching registry files")
            fetch_into(recipe.build.fetch, ctx, log)
        for step in recipe.build.stage:
            if step not in STAGES:
                raise RecipeError(f"{recipe.path}/recipe.yaml: unknown stage step {step!r}")
            if task is not None:
                task.set_stage(f"staging {step}")
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
        if entry.name.startswith("stage-"):
            continue  # staged trees (and their .part) belong to their builder, which holds its own lock
        if entry.is_dir() and (entry.name.startswith(("ctx-", "n8n-", "rootfs-")) or entry.name.endswith(".part")):
            remove_tree(entry)
        elif entry.is_file() and entry.name.endswith(".part"):
            entry.unlink(missing_ok=True)


def _slow_last(recipes: dict[str, Recipe], order: list[str]) -> list[str]:
    """*order* with the images that wait for a prefetched stage (and their children) last, so
    the small images are done (and their locks free for other callers) while npm still runs."""

    def slow(name: str) -> bool:
        recipe = recipes[name]
        own = any(step in PREFETCH for step in recipe.build.stage)
        return own or (recipe.build.base is not None and slow(recipe.build.base))

    return [n for n in order if not slow(n)] + [n for n in order if slow(n)]


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


def _prefetch(recipes: Sequence[Recipe], say: Printer) -> list[threading.Thread]:
    """Start the :data:`~.stage.PREFETCH` steps of *recipes* on side threads (errors resurface
    when the recipe's own build runs the step)."""
    threads = []
    for recipe in recipes:
        for step in recipe.build.stage:
            fn = PREFETCH.get(step)
            if fn is None:
                continue

            def run(fn: Callable[[Recipe], None] = fn, recipe: Recipe = recipe, step: str = step) -> None:
                with contextlib.suppress(BuildError, RecipeError), \
                        reporter().task(f"images: {recipe.name}: {step} (ahead of its image)"):
                    fn(recipe)

            say(f"{recipe.tag}: {step} started ahead, beside the other builds")
            thread = threading.Thread(target=run, name=f"prefetch-{recipe.name}", daemon=True)
            thread.start()
            threads.append(thread)
    return threads


def _build_timed(recipe: Recipe, parent: Recipe | None, force: bool, say: Printer) -> BuildResult:
    start = time.monotonic()
    say(f"{recipe.tag} building ({recipe.recipe_hash[:12]}) ...")
    with reporter().task(f"images: {recipe.tag}"):
        _build_one(recipe, parent, force)
    took = time.monotonic() - start
    say(f"{recipe.tag} built in {took:.0f}s")
    return BuildResult(recipe.name, recipe.tag, False, took)


def build_all(
    names: Iterable[str] | None = None, force: bool = False, verbose: bool = True, root: Path | None = None
) -> list[BuildResult]:
    """Build *names* (default: every recipe but the ``on_demand`` ones) and their parents; see module doc.

    ``force`` rebuilds the named images (all, when *names* is None) even when current;
    parents that are current stay cached. Slow staging steps that need no engine (npm) start
    first on side threads, so they overlap the other images' builds; while an image builds,
    progress shows its stage, elapsed time and bytes (:mod:`zixly_stack.progress`).
    """
    say = _printer(verbose)
    recipes = {r.name: r for r in list_recipes(root)}
    requested = list(names) if names else [n for n, r in recipes.items() if not r.on_demand]
    forced = set(requested) if force else set()
    results: list[BuildResult] = []
    order = _slow_last(recipes, _closure(recipes, requested))
    todo = {n for n in order if n in forced or not is_current(recipes[n])}
    side = _prefetch([recipes[n] for n in order if n in todo], say)  # cross-process safe (n8n_stage lock)
    for name in order:
        recipe = recipes[name]
        parent = recipes[recipe.build.base] if recipe.build.base else None
        with _lock():  # per image: a caller that needs a small image never waits for a whole batch
            if name not in forced and is_current(recipe):
                say(f"{recipe.tag} cached ({recipe.recipe_hash[:12]})")
                results.append(BuildResult(name, recipe.tag, True, 0.0))
                continue
            _remove_stale_scratch()
            results.append(_build_timed(recipe, parent, name in forced, say))
    for thread in side:
        thread.join()
    return results


def build(
    names: Iterable[str] | None = None, force: bool = False, verbose: bool = True, root: Path | None = None
) -> dict[str, str]:
    """Build the kit (or *names*) from the recipes under *root* (default: :func:`.recipes.recipes_dir`);
    return ``{name: tag}`` of every image built or cached."""
    return {r.name: r.tag for r in build_all(names, force=force, verbose=verbose, root=root)}
