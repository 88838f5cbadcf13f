"""The pipeline every command shares: load -> check -> secrets -> render -> write.

``load`` and ``render`` are pure with respect to hosts; ``prepare_secrets`` opens the
encrypted store and generates missing secrets in memory (never a whole new store over
data made with a lost one, see :mod:`zixly_stack.secrets.guard`); ``PreparedSecrets.commit``
writes them once nothing refuses; ``write_tree`` replaces an output directory
atomically, and only one it may replace (:mod:`zixly_stack.outdir`). Bad input raises
ConfigError before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog.checks import check_catalog, check_environment, check_stack
from .catalog.stack import Stack, resolve_stack
from .config.loader import Catalog, EnvConfig, load_catalog, load_environment
from .config.yamlsrc import dotted
from .errors import ConfigError, Location, Problem, SecretsError
from .images.recipes import KitVersionError, RecipeError, kit_recipe, list_recipes
from .models.service import Image
from .notify.channels import check as check_notifications
from .notify.channels import notification_secrets, stand_in_secrets
from .outdir import check_out, write_tree
from .render import RenderContext, RenderedFile, render_stack
from .render.context import ImageMapper, MappedImage, required_secrets, upstream_images
from .render.findings import Finding
from .render.locate import locate_all
from .secrets.fingerprint import KEY_SECRET, store_id_of
from .secrets.generators import generate, generation_order
from .secrets.guard import Evidence, StoreState, judge, missing_store
from .secrets.identity import ensure_identity
from .secrets.store import SecretStore
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
    out = []
    for p in check_notifications(cfg.environment):
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

    images_dir = loaded.root / "images"
    allow = settings.allow_standins
    env_file = display(loaded.root, loaded.config.env_source.path)
    try:
        kit = list_recipes(images_dir)
    except RecipeError as exc:
        where = loaded.config.env_source.positions.loc(("images", "source"))
        raise ConfigError([Problem(where, "images.source", f"the offline kit cannot be read: {exc}",
                                   "images/ holds one directory per recipe, see images/README.md")]) from None

    def offline(image: Image) -> MappedImage:
        try:
            recipe = kit_recipe(image.repository, image.tag, kit)
        except KitVersionError as exc:
            where = loaded.config.env_source.positions.loc(("images", "source"))
            raise ConfigError([Problem(where, "images.source", str(exc),
                                       "pin a version the kit builds (services.<name>.version), or add a recipe "
                                       "for this one (images/README.md)")]) from None
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
    """Every secret the environment needs, read or generated in memory; ``commit()`` persists generated ones.

    ``state`` is what :func:`~zixly_stack.secrets.guard.judge` weighs against deployed data.
    """

    values: dict[str, Secret]
    added: list[str]
    _store: Any
    state: StoreState
    never_rotate: dict[str, str]

    def commit(self) -> None:
        """Save the store if anything was generated (call only once nothing refuses any more)."""
        if self._store.changed:
            self._store.save()

    def check(self, evidence: Evidence) -> None:
        """Raise the guard's refusal when this store did not make the data *evidence* shows."""
        refusal = judge(self.state, evidence, self.never_rotate)
        if refusal is not None:
            raise refusal


def never_rotate_of(loaded: Loaded) -> dict[str, str]:
    """The environment's never-rotate secrets and what changing each breaks (for messages)."""
    return {n: s.never_rotate for n, s in required_secrets(loaded.stack).items() if s.never_rotate and n != KEY_SECRET}


def prepare_secrets(
    loaded: Loaded, *, create: bool = False, evidence: Callable[[], Evidence] | None = None
) -> PreparedSecrets:
    """Open the environment's store and generate what is missing, in memory only.

    A missing store is an error (:func:`~zixly_stack.secrets.guard.missing_store`) when
    recipients.txt exists, and otherwise unless *create* (``zixly up``: this machine's
    store on first use) and *evidence* shows no data of the environment. With *evidence*,
    an existing store is judged against it too. Nothing is written here: not the store,
    not the age key (created only once the store may be created).
    """
    env = loaded.config.name
    path = display(loaded.root, loaded.config.directory / "secrets.age")
    at_risk = never_rotate_of(loaded)
    store = SecretStore.open(loaded.config.directory, None)
    seen = evidence() if evidence is not None else Evidence()
    if not store.exists:
        if store.recipients:
            why = f"secrets were used before: recipients.txt lists {len(store.recipients)} key(s)"
            raise missing_store(env, path, why, seen, at_risk)
        if not create:
            raise SecretsError(
                f"{path}: no secrets store for {env!r}; run `zixly secrets init {env}` first (it creates the encrypted "
                "store and lists your public key as a recipient)"
                + (" or `zixly up`, which creates this machine's store on first use" if loaded.config.hosts.all_local
                   else "")
                + ". Nothing was written."
            )
        if not seen.empty:
            raise missing_store(env, path, "this machine holds data of it:", seen, at_risk)
        store = SecretStore.open(loaded.config.directory, ensure_identity())
        assert store.identity is not None
        store.add_recipient(store.identity.public_keys[0], "created by zixly for this machine")
    had_key = store.get(KEY_SECRET) is not None
    values, added = store.ensure(required_secrets(loaded.stack))
    values.update(notification_secrets(loaded.config.environment, loaded.config.name, store))
    store_id = store_id_of(values)
    assert store_id is not None
    state = StoreState(env, path, store_id, not had_key, tuple(n for n in added if n != KEY_SECRET))
    prepared = PreparedSecrets(values, added, store, state, at_risk)
    if evidence is not None:
        prepared.check(seen)
    return prepared


def throwaway_secrets(loaded: Loaded) -> dict[str, Secret]:
    """Fresh values for a render whose secret files go nowhere (``down``/``status`` with a lost store).

    Never saved, never written to a host: only names and structure of the render are used.
    """
    specs = required_secrets(loaded.stack)
    pool: dict[str, Secret] = {}
    for name in generation_order(specs, frozenset()):
        pool[name] = generate(name, specs[name], pool)
    return pool


def render_and_write(loaded: Loaded, out: Path) -> tuple[RenderedFile, ...]:
    """Check ``out`` -> secrets -> render -> (only then) save new secrets and replace ``out``.

    ``out`` must be absent, empty or a tree zixly wrote (:mod:`zixly_stack.outdir`); it is checked
    before anything else, so a refused ``--out`` changes nothing (no key, no store, no file).
    """
    check_out(out, loaded.root)
    prepared = prepare_secrets(loaded)
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
