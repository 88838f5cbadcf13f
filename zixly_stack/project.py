"""The pipeline every command shares: load -> check -> secrets -> render -> write.

``load`` and ``render`` are pure with respect to hosts; ``prepare_secrets`` may write
the encrypted store (only when it generated something); ``write_tree`` replaces an
output directory atomically, and only one it may replace (:mod:`zixly_stack.outdir`).
Bad input raises ConfigError before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog.checks import check_catalog, check_environment, check_stack
from .catalog.stack import Stack, resolve_stack
from .catalog.values import check_catalog_values, check_overrides
from .config.loader import Catalog, EnvConfig, load_catalog, load_environment
from .errors import ConfigError, Location, Problem
from .models.service import Image
from .outdir import check_out, write_tree
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
    problems.extend(check_catalog_values(catalog))
    if cfg is None:
        raise ConfigError(problems)
    problems.extend(check_environment(catalog, cfg))
    problems.extend(check_overrides(catalog, cfg))
    if problems:
        raise ConfigError(problems)
    stack = resolve_stack(catalog, cfg)
    problems.extend(check_stack(catalog, cfg, stack))
    if problems:
        raise ConfigError(problems)
    return Loaded(root, catalog, cfg, stack)


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
    from .images.recipes import RecipeError, list_recipes, normalize_repository

    images_dir = loaded.root / "images"
    allow = settings.allow_standins
    env_file = display(loaded.root, loaded.config.env_source.path)
    try:
        kit = {normalize_repository(r): recipe for recipe in list_recipes(images_dir) for r in recipe.replaces}
    except RecipeError as exc:
        where = loaded.config.env_source.positions.loc(("images", "source"))
        raise ConfigError([Problem(where, "images.source", f"the offline kit cannot be read: {exc}",
                                   "images/ holds one directory per recipe, see images/README.md")]) from None

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
    return PreparedSecrets(values, added, store)


def render_and_write(loaded: Loaded, out: Path, *, create_identity: bool = False) -> tuple[RenderedFile, ...]:
    """Check ``out`` -> secrets -> render -> (only then) save new secrets and replace ``out``.

    ``out`` must be absent, empty or a tree zixly wrote (:mod:`zixly_stack.outdir`); it is checked
    before anything else, so a refused ``--out`` changes nothing (no key, no store, no file).
    """
    check_out(out, loaded.root)
    prepared = prepare_secrets(loaded, create_identity=create_identity)
    files = render(loaded, prepared.values)
    prepared.commit()
    write_tree(files, out, loaded.root)
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
    stand_ins = {name: Secret(f"validate-{i:04d}-" + "0" * 24) for i, name in enumerate(required_secrets(loaded.stack))}
    return render(loaded, stand_ins)


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
