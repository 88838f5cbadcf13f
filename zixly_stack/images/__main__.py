"""``python -m zixly_stack.images``: list or build the offline image kit.

``list``                    every recipe: tag, state (current/outdated/missing), stand-in, replaces
                            (at which version of the tag, for recipes with ``match``; on demand)
``build [NAME ...] [--force]``  build the named images (default all) and their parents;
                            prints ``cached`` for images whose recipe hash is unchanged
Exit status 0 on success, 1 with ``images: error: ...`` on a failure.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from zixly_stack.engine import EngineError, engine_available
from zixly_stack.images.kit import build_all, image_hash
from zixly_stack.images.recipes import RecipeError, list_recipes
from zixly_stack.images.rootfs import BuildError


def _list() -> int:
    live = engine_available()
    for recipe in list_recipes():
        state = "unknown (no engine)"
        if live:
            got = image_hash(recipe.tag)
            state = "current" if got == recipe.recipe_hash else ("outdated" if got else "missing")
        kind = "stand-in" if recipe.standin else "real"
        which = f" at version {recipe.version} of the tag" if recipe.match else ""
        demand = ", on demand" if recipe.on_demand else ""
        print(f"{recipe.tag:40} {state:9} {kind:8} replaces: {', '.join(recipe.replaces)}{which}{demand}")
    return 0


def _build(names: list[str], force: bool) -> int:
    start = time.monotonic()
    results = build_all(names or None, force=force)
    built = [r for r in results if not r.cached]
    print(
        f"images: {len(results)} images, {len(built)} built, {len(results) - len(built)} cached, "
        f"{time.monotonic() - start:.0f}s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse *argv* and run ``list`` or ``build``; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m zixly_stack.images")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="show recipes and whether their images are current")
    p_build = sub.add_parser("build", help="build images (default: all)")
    p_build.add_argument("names", nargs="*", metavar="NAME")
    p_build.add_argument("--force", action="store_true", help="rebuild even when current")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so scratch directories are removed on the way out.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
    try:
        if args.cmd == "list":
            return _list()
        return _build(args.names, args.force)
    except (BuildError, RecipeError, EngineError) as exc:
        print(f"images: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
