"""Recipes of the offline image kit: reading ``images/<name>/recipe.yaml`` and hashing them.

A recipe directory holds ``recipe.yaml`` and whatever its build needs (a
``Dockerfile``, scripts, a ``rootfs/`` overlay). ``recipe.yaml``::

    name: postgres-16              # must equal the directory name
    image: postgres                # the kit image's name (default: name): zixly-offline/postgres:16
    version: "16"                  # its tag
    description: PostgreSQL 16 with pgvector
    replaces: [postgres, pgvector/pgvector]   # upstream repositories it stands for
    match:                         # optional, per replaced repository: the version a tag names
      postgres: '^(?P<version>[0-9]+)(?:[.-]|$)'              # (the `version` group) must
      pgvector/pgvector: '(?:^|-)pg(?P<version>[0-9]+)(?:-|$)' # equal the recipe's version
    standin: false                 # true: not the real application (labelled so)
    on_demand: false               # true: built only when named (or a deployment uses it), not by
                                   # a plain `build` (an older version only some tests run)
    build:                         # the build steps, in order
      from: base                   # recipe whose image is the Dockerfile's ${BASE} (optional)
      stage: [traefik-binary]      # staging steps that add files to the build context
      debootstrap: {suite: bookworm, variant: minbase}   # rootfs recipes only
      changes: ['CMD ["bash"]']    # Dockerfile instructions applied by `docker import`
      import_add: [n8n.tree]       # big staged payloads (tarballs, or a tree as the last one): the
                                   # Dockerfile's result is exported, these are appended (a tree
                                   # streamed by tar), and the whole is `docker import`ed
      fetch: [{npm: "<spec>", sha256: <hex>, as: <file>}]    # registry files put into the
                                   # build context (see :mod:`.fetch`)
      dockerfile: Dockerfile       # default; built with the legacy builder

Mapping an upstream image to a kit image (:func:`kit_recipe`): the recipes replacing its
repository; a recipe without ``match`` for it serves every tag (Debian's MariaDB stands for
any ``mariadb`` tag); one with ``match`` serves the tags whose ``version`` group equals its
``version`` (``postgres:16.15-bookworm`` -> major 16 -> ``zixly-offline/postgres:16``). A
repository replaced by several recipes has ``match`` in each but at most one: that one serves
the tags no other recipe's ``match`` takes (Debian's MariaDB 10.11 stays the image of every
``mariadb`` tag but 11.8's, which ``mariadb-11.8`` serves). No two recipes may make the same tag.
A replaced repository whose tag no recipe serves is a
:class:`KitVersionError` naming the versions the kit has.

The recipe hash is the sha256 of every file under the recipe directory (path and
bytes), :data:`BUILDER_VERSION` and the hash of the recipe named in ``from``, so a
change to a parent rebuilds its children. Pure: reading files, no side effects.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from zixly_stack.images.fetch import Fetch, parse_fetch

BUILDER_VERSION = "zixly-kit-1"
TAG_PREFIX = "zixly-offline"
LABEL_HASH = "org.zixly.recipe-hash"
LABEL_OFFLINE = "org.zixly.offline"
LABEL_STANDIN = "org.zixly.standin"
LABEL_REPLACES = "org.zixly.replaces"
LABEL_RECIPE = "org.zixly.recipe"
_IGNORED = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_KNOWN_KEYS = {"name", "image", "version", "description", "replaces", "match", "standin", "on_demand", "build"}
_BUILD_KEYS = {"from", "stage", "debootstrap", "changes", "dockerfile", "network", "import_add", "fetch"}


class RecipeError(ValueError):
    """A recipe file is missing, malformed or inconsistent; the message names the file."""


class KitVersionError(RecipeError):
    """The kit replaces an image's repository, but no recipe serves the version its tag names."""


@dataclass(frozen=True)
class BuildSpec:
    """How a recipe is built (see module doc)."""

    base: str | None = None
    stage: tuple[str, ...] = ()
    debootstrap: dict[str, str] | None = None
    changes: tuple[str, ...] = ()
    import_add: tuple[str, ...] = ()
    dockerfile: str = "Dockerfile"
    network: str = "host"
    fetch: tuple[Fetch, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """One image of the kit; ``tag`` is ``zixly-offline/<name>:<version>``."""

    name: str
    version: str
    replaces: tuple[str, ...]
    standin: bool
    recipe_hash: str
    path: Path
    description: str = ""
    build: BuildSpec = field(default_factory=BuildSpec)
    image: str = ""
    match: tuple[tuple[str, str], ...] = ()  # (normalized repository, regex): hashable, like the rest
    on_demand: bool = False

    @property
    def tag(self) -> str:
        """The image reference every build of this recipe is tagged with."""
        return f"{TAG_PREFIX}/{self.image or self.name}:{self.version}"

    def serves(self, repository: str, tag: str) -> bool:
        """True when this recipe stands for *repository* (normalized) at *tag* (see module doc)."""
        if repository not in {normalize_repository(r) for r in self.replaces}:
            return False
        pattern = self.pattern(repository)
        if pattern is None:
            return True
        found = re.search(pattern, tag)
        return found is not None and found.group("version") == self.version

    def pattern(self, repository: str) -> str | None:
        """The ``match`` regex for *repository* (normalized), or None (every tag)."""
        return dict(self.match).get(repository)

    def labels(self) -> dict[str, str]:
        """The labels every image of this recipe carries."""
        labels = {
            LABEL_HASH: self.recipe_hash,
            LABEL_OFFLINE: "true",
            LABEL_RECIPE: self.name,
            LABEL_REPLACES: ",".join(self.replaces),
        }
        if self.standin:
            labels[LABEL_STANDIN] = "true"
        return labels


def recipes_dir() -> Path:
    """The directory of recipes: ``$ZIXLY_IMAGES_DIR``, else the repository's ``images/``.

    The repository is the one this package sits in (an editable install), else — for a
    package installed with ``pip install <checkout>`` — the checkout the command runs in
    (the nearest parent of the working directory with ``images/`` and ``services/``).
    """
    env = os.environ.get("ZIXLY_IMAGES_DIR")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[2] / "images"
    if beside.is_dir():
        return beside
    cwd = Path.cwd()
    for cand in (cwd, *cwd.parents):
        if (cand / "images").is_dir() and (cand / "services").is_dir():
            return cand / "images"
    return beside


def dir_digest(path: Path) -> str:
    """sha256 over the relative paths, modes (x bit) and bytes of every file under *path*.

    Symlinks to files are hashed by content (a recipe may share a file with another).
    """
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED)
        for name in sorted(files):
            full = Path(root) / name
            rel = full.relative_to(path).as_posix()
            digest.update(rel.encode() + b"\0")
            if full.is_symlink() and not full.is_file():
                digest.update(b"L" + os.readlink(full).encode() + b"\0")
                continue
            digest.update(b"X" if os.access(full, os.X_OK) else b"F")
            digest.update(full.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecipeError(f"{where}: expected a list of strings")
    return tuple(value)


def _parse_build(raw: Any, where: str) -> BuildSpec:
    if raw is None:
        return BuildSpec()
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: build: expected a mapping")
    unknown = set(raw) - _BUILD_KEYS
    if unknown:
        raise RecipeError(f"{where}: build: unknown keys {sorted(unknown)}")
    deb = raw.get("debootstrap")
    if deb is not None and not isinstance(deb, dict):
        raise RecipeError(f"{where}: build.debootstrap: expected a mapping")
    try:
        fetch = parse_fetch(raw.get("fetch"), where)
    except ValueError as exc:
        raise RecipeError(str(exc)) from None
    return BuildSpec(
        fetch=fetch,
        base=str(raw["from"]) if raw.get("from") else None,
        stage=_str_list(raw.get("stage"), f"{where}: build.stage"),
        debootstrap={str(k): str(v) for k, v in deb.items()} if deb else None,
        changes=_str_list(raw.get("changes"), f"{where}: build.changes"),
        import_add=_str_list(raw.get("import_add"), f"{where}: build.import_add"),
        dockerfile=str(raw.get("dockerfile", "Dockerfile")),
        network=str(raw.get("network", "host")),
    )


def _load_raw(recipe_dir: Path) -> dict[str, Any]:
    path = recipe_dir / "recipe.yaml"
    try:
        data = YAML(typ="safe").load(path.read_text())
    except OSError as exc:
        raise RecipeError(f"{path}: cannot read: {exc}") from exc
    except Exception as exc:  # ruamel raises many YAMLError subclasses
        raise RecipeError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: expected a mapping")
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise RecipeError(f"{path}: unknown keys {sorted(unknown)}")
    for key in ("name", "version"):
        if not data.get(key):
            raise RecipeError(f"{path}: '{key}' is required")
    if data["name"] != recipe_dir.name:
        raise RecipeError(f"{path}: name {data['name']!r} differs from directory {recipe_dir.name!r}")
    return data


def list_recipes(root: Path | None = None) -> list[Recipe]:
    """Every recipe under *root* (default :func:`recipes_dir`), parents before children."""
    base_dir = root or recipes_dir()
    if not base_dir.is_dir():
        raise RecipeError(f"{base_dir}: recipe directory not found")
    raw = {d.name: _load_raw(d) for d in sorted(base_dir.iterdir()) if (d / "recipe.yaml").is_file()}
    specs = {name: _parse_build(data.get("build"), f"{base_dir / name}/recipe.yaml") for name, data in raw.items()}
    hashes: dict[str, str] = {}
    ordered: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> str:
        if name in hashes:
            return hashes[name]
        if name in chain:
            raise RecipeError(f"recipe cycle: {' -> '.join((*chain, name))}")
        if name not in raw:
            raise RecipeError(f"{chain[-1] if chain else '?'}: build.from names unknown recipe {name!r}")
        parent = specs[name].base
        parent_hash = visit(parent, (*chain, name)) if parent else ""
        digest = hashlib.sha256(f"{BUILDER_VERSION}\0{parent_hash}\0{dir_digest(base_dir / name)}".encode()).hexdigest()
        hashes[name] = digest
        ordered.append(name)
        return digest

    for name in raw:
        visit(name, ())
    recipes = [
        Recipe(
            name=name,
            version=str(raw[name]["version"]),
            replaces=_str_list(raw[name].get("replaces"), f"{name}: replaces"),
            standin=bool(raw[name].get("standin", False)),
            recipe_hash=hashes[name],
            path=base_dir / name,
            description=str(raw[name].get("description", "")),
            build=specs[name],
            image=str(raw[name].get("image") or ""),
            match=_parse_match(raw[name], f"{base_dir / name}/recipe.yaml"),
            on_demand=bool(raw[name].get("on_demand", False)),
        )
        for name in ordered
    ]
    _check_kit(recipes)
    return recipes


def _parse_match(data: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    raw = data.get("match")
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: match: expected a mapping of repository -> regex")
    replaced = {normalize_repository(r) for r in _str_list(data.get("replaces"), f"{where}: replaces")}
    out = {}
    for repo, pattern in raw.items():
        key = normalize_repository(str(repo))
        if key not in replaced:
            raise RecipeError(f"{where}: match.{repo}: not a repository this recipe replaces")
        try:
            compiled = re.compile(str(pattern))
        except re.error as exc:
            raise RecipeError(f"{where}: match.{repo}: invalid regex: {exc}") from None
        if "version" not in compiled.groupindex:
            raise RecipeError(f"{where}: match.{repo}: the regex needs a named group 'version'")
        out[key] = str(pattern)
    return tuple(sorted(out.items()))


def _check_kit(recipes: list[Recipe]) -> None:
    """No two recipes make one tag; a repository replaced twice is matched by version in each."""
    tags: dict[str, str] = {}
    by_repo: dict[str, list[Recipe]] = {}
    for recipe in recipes:
        if recipe.tag in tags:
            raise RecipeError(f"{recipe.path}/recipe.yaml: tag {recipe.tag} is also made by recipe "
                              f"{tags[recipe.tag]!r}")
        tags[recipe.tag] = recipe.name
        for repo in {normalize_repository(r) for r in recipe.replaces}:
            by_repo.setdefault(repo, []).append(recipe)
    for repo, several in sorted(by_repo.items()):  # sorted: the same message on every run
        unmatched = [r.name for r in several if r.pattern(repo) is None]
        if len(unmatched) > 1:
            raise RecipeError(f"{several[0].path.parent}: {repo} is replaced by recipes "
                              f"{', '.join(r.name for r in several)}; all but one need match.{repo} "
                              f"(missing in {', '.join(unmatched)})")


def normalize_repository(reference: str) -> str:
    """``docker.io/library/postgres:16@sha256:..`` -> ``postgres``; keeps other registries' hosts."""
    ref = reference.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref = ref[: len(ref) - len(last)] + last.split(":", 1)[0]
    for prefix in (
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
        "library/",
    ):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    return ref.lower()


def split_reference(reference: str) -> tuple[str, str]:
    """``docker.io/library/postgres:16.15-bookworm@sha256:..`` -> ``("postgres", "16.15-bookworm")``
    (tag ``""`` when the reference has none)."""
    ref = reference.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return normalize_repository(ref), tag


def kit_recipe(repository: str, tag: str, recipes: list[Recipe]) -> Recipe | None:
    """The recipe standing for *repository* at *tag* (see module doc); None when the kit does not
    replace *repository*; :class:`KitVersionError` when it does, but not at that version."""
    repo = normalize_repository(repository)
    candidates = [r for r in recipes if repo in {normalize_repository(x) for x in r.replaces}]
    if not candidates:
        return None
    # a recipe whose ``match`` takes the tag first, then the one without ``match`` (every other tag)
    for recipe in sorted(candidates, key=lambda r: r.pattern(repo) is None):
        if recipe.serves(repo, tag):
            return recipe
    have = ", ".join(f"{r.version} ({r.tag})" for r in candidates)
    read = ""
    pattern = next((p for p in (r.pattern(repo) for r in candidates) if p), None)
    found = re.search(pattern, tag) if pattern else None
    if found is not None:
        read = f" (version {found.group('version')} read from the tag)"
    raise KitVersionError(f"the offline kit has no image for {repository}:{tag or '<no tag>'}{read}; "
                          f"it has {repo} {have}")


def image_for(upstream: str, root: Path | None = None) -> Recipe | None:
    """The recipe replacing the image reference *upstream* (``repo:tag``; registry prefixes and
    digest ignored), or None when no recipe replaces its repository (see :func:`kit_recipe`)."""
    repo, tag = split_reference(upstream)
    return kit_recipe(repo, tag, list_recipes(root))
