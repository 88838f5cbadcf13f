"""The pipeline every command shares: load -> check -> secrets -> render -> write.

``load`` and ``render`` are pure with respect to hosts; ``prepare_secrets`` may write
the encrypted store (only when it generated something); ``write_tree`` replaces an
output directory atomically. Bad input raises ConfigError before anything is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog.checks import check_catalog, check_environment, check_stack
from .catalog.stack import Stack, resolve_stack
from .config.loader import Catalog, EnvConfig, load_catalog, load_environment
from .errors import ConfigError, Location, Problem
from .models.service import Image
from .render import RenderContext, RenderedFile, render_stack
from .render.context import ImageMapper, MappedImage, required_secrets, upstream_images
from .render.findings import Finding
from .render.locate import locate_all
from .secrets.value import Secret


@dataclass(frozen=True)
class Loaded:
    """A validated environment resolved against the catalog."""

    root: Path
    catalog: Catalog
    config: EnvConfig
    stack: Stack


def load(root: Path, env: str) -> Loaded:
    """Load and check everything; raise ConfigError with *all* problems."""
    problems: list[Problem] = []
    catalog = load_catalog(root, problems)
    cfg = load_environment(root, env, problems)
    problems.extend(check_catalog(catalog))
    if cfg is None:
        raise ConfigError(problems)
    problems.extend(check_environment(catalog, cfg))
    problems.extend(_notification_problems(cfg))
    if problems:
        raise ConfigError(problems)
    stack = resolve_stack(catalog, cfg)
    problems.extend(check_stack(catalog, cfg, stack))
    if problems:
        raise ConfigError(problems)
    return Loaded(root, catalog, cfg, stack)


def _notification_problems(cfg: EnvConfig) -> list[Problem]:
    """``notifications`` problems (:func:`zixly_stack.notify.channels.check`) at their file:line:col."""
    from .config.problems import dotted
    from .notify.channels import check

    out = []
    for p in check(cfg.environment):
        path = ("notifications", *p.path)
        out.append(Problem(cfg.env_source.positions.loc(path), dotted(path), p.message, p.hint))
    return out


def image_mapper(loaded: Loaded) -> ImageMapper:
    """Where images come from for this environment (upstream, a mirror, or the offline kit)."""
    settings = loaded.config.environment.images
    if settings.source == "upstream":
        return upstream_images
    if settings.source == "mirror":
        mirror = (settings.mirror or "").rstrip("/")

        def via_mirror(image: Image) -> MappedImage:
            repo = image.repository
            first = repo.split("/", 1)[0]
            if "." in first or ":" in first:
                repo = repo.split("/", 1)[1]
            return MappedImage(f"{mirror}/{repo}:{image.tag}" + (f"@{image.digest}" if image.digest else ""))

        return via_mirror
    from .images.recipes import list_recipes, normalize_repository

    images_dir = loaded.root / "images"
    allow = settings.allow_standins
    env_file = display(loaded.root, loaded.config.env_source.path)
    kit = {normalize_repository(r): recipe for recipe in list_recipes(images_dir) for r in recipe.replaces}

    def offline(image: Image) -> MappedImage:
        recipe = kit.get(normalize_repository(image.repository))
        if recipe is None:
            return MappedImage(image.ref)
        if recipe.standin and not allow:
            raise ConfigError([Problem(Location(env_file), "images.source",
                                       f"{image.ref} would run as a stand-in, which this environment refuses",
                                       "stand-ins are for local test environments (images.allow_standins)")])
        return MappedImage(recipe.tag, recipe.standin)

    return offline


def display(root: Path, path: Path) -> str:
    """A path relative to the repo root for messages."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


@dataclass
class PreparedSecrets:
    """Every secret the environment needs; ``commit()`` persists newly generated ones."""

    values: dict[str, Secret]
    added: list[str]
    _store: Any

    def commit(self) -> None:
        """Save the store if anything was generated (call only after a successful render)."""
        if self.added:
            self._store.save()


def prepare_secrets(loaded: Loaded, *, create_identity: bool = False) -> PreparedSecrets:
    """Open the environment's store and generate what is missing, in memory only."""
    from .errors import SecretsError
    from .secrets.identity import ensure_identity
    from .secrets.store import SecretStore

    identity = ensure_identity() if create_identity else None
    store = SecretStore.open(loaded.config.directory, identity)
    if not store.exists and not store.recipients:
        if identity is None:
            env = loaded.config.name
            raise SecretsError(
                f"{display(loaded.root, store.path)}: no secrets store for {env!r}; run `zixly secrets init {env}` "
                "first (it creates the encrypted store and lists your public key as a recipient). Nothing was written."
            )
        store.add_recipient(identity.public_keys[0], "created by zixly for this machine")
    values, added = store.ensure(required_secrets(loaded.stack))
    values.update(notification_secrets(loaded, store))
    return PreparedSecrets(values, added, store)


def notification_secrets(loaded: Loaded, store: Any) -> dict[str, Secret]:
    """The secrets the notification channels' URLs name. They are never generated: a missing one is
    a :class:`SecretsError` that says how to set it (nothing is changed)."""
    from .errors import SecretsError
    from .notify.channels import secret_names

    names = secret_names(loaded.config.environment)
    missing = [n for n in names if store.get(n) is None]
    if missing:
        env = loaded.config.name
        raise SecretsError(
            f"{env}: notification channels use {', '.join(missing)}, not in the secrets store; set "
            + ("each" if len(missing) > 1 else "it") + f" with `zixly secrets set {env} NAME` (the value is read from "
            "stdin or a hidden prompt). Nothing was written."
        )
    return {n: store.get(n) for n in names}


def render_and_write(loaded: Loaded, out: Path, *, create_identity: bool = False) -> tuple[RenderedFile, ...]:
    """Secrets -> render -> (only then) save new secrets and replace ``out``."""
    prepared = prepare_secrets(loaded, create_identity=create_identity)
    files = render(loaded, prepared.values)
    prepared.commit()
    write_tree(files, out)
    return files


def render(loaded: Loaded, secrets: Mapping[str, Secret]) -> tuple[RenderedFile, ...]:
    """Render every host's tree (pure given the inputs)."""
    ctx = RenderContext(loaded.stack, secrets, loaded.root, image_mapper(loaded))
    try:
        return render_stack(ctx)
    except ConfigError as exc:
        own = [_to_source(loaded, p) if not isinstance(p, Finding) else p for p in exc.problems]
        raise ConfigError(locate_all(loaded.catalog, loaded.config, own)) from None


def check_rendered(loaded: Loaded) -> tuple[RenderedFile, ...]:
    """Render with stand-in secret values and judge the output with every rule (hardening,
    Traefik rules, file modes, memory budget), so ``validate`` refuses what ``render`` would.

    No secrets store is opened or written; the stand-in values never leave this function.
    """
    from .notify.channels import stand_in_secrets

    stand_ins = {name: Secret(f"validate-{i:04d}") for i, name in enumerate(required_secrets(loaded.stack))}
    return render(loaded, {**stand_ins, **stand_in_secrets(loaded.config.environment)})


def _to_source(loaded: Loaded, problem: Problem) -> Problem:
    """Point a swarm-check problem (``services.<svc>.containers.<key>``) at the service definition."""
    parts = problem.path.split(".")
    if len(parts) < 2 or parts[0] != "services" or parts[1] not in loaded.catalog.sources:
        return problem
    src = loaded.catalog.sources[parts[1]]
    rest = tuple(parts[2:])
    svc = loaded.catalog.services[parts[1]]
    if len(rest) == 2 and rest[0] == "containers" and rest[1] not in svc.containers:
        rest = ()
    where = f"{problem.path} (rendered {problem.loc.file})" if not rest else ".".join(rest)
    return Problem(src.positions.loc(rest, key=True), where, problem.message, problem.hint)


def write_tree(files: tuple[RenderedFile, ...], out: Path) -> None:
    """Replace ``out`` with exactly ``files``: build beside it, then swap (never half-written).

    Secret files are 0600 (or their declared mode) in 0700 directories.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for f in files:
            target = tmp / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, f.mode)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f.text)
            os.chmod(target, f.mode)
            if f.secret:
                os.chmod(target.parent, 0o700)
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
