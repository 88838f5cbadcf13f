"""The offline image kit: images built here, with no registry, for the stack's upstream images.

Recipes live in the repository's ``images/<name>/`` (see :mod:`.recipes`); the
builder is :mod:`.kit`. Public API:

* :func:`list_recipes` -> ``list[Recipe]`` (name, version, tag, replaces, standin, recipe_hash)
* :func:`build` ``(names=None, force=False) -> dict[name, tag]``
* :func:`image_for` ``(upstream_repository) -> Recipe | None``
* :func:`is_current` ``(recipe) -> bool``

CLI: ``python -m zixly_stack.images list`` and
``python -m zixly_stack.images build [NAME ...] [--force]``.
"""

from zixly_stack.images.kit import BuildResult, build, build_all, image_hash, is_current
from zixly_stack.images.recipes import (
    LABEL_HASH,
    LABEL_OFFLINE,
    LABEL_STANDIN,
    TAG_PREFIX,
    Recipe,
    RecipeError,
    image_for,
    list_recipes,
    normalize_repository,
)
from zixly_stack.images.rootfs import BuildError

__all__ = [
    "LABEL_HASH",
    "LABEL_OFFLINE",
    "LABEL_STANDIN",
    "TAG_PREFIX",
    "BuildError",
    "BuildResult",
    "Recipe",
    "RecipeError",
    "build",
    "build_all",
    "image_for",
    "image_hash",
    "is_current",
    "list_recipes",
    "normalize_repository",
]
