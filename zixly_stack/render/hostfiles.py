"""Every text file zixly puts on a host, rendered from ``templates/`` by ONE sandboxed Jinja environment.

Contract: :func:`render_host_file` renders ``templates/<name>`` with *variables* and returns the
text; the same name and variables give byte-identical text (no time, no randomness, sorted
inputs are the caller's job). The environment is a :class:`~jinja2.sandbox.SandboxedEnvironment`
with ``StrictUndefined`` (a missing variable is an error, never an empty string),
``keep_trailing_newline`` (a file ends as its template ends), ``trim_blocks`` and
``lstrip_blocks`` (a ``{% ... %}`` line leaves no blank line or indentation behind), no
autoescaping (these are shell, systemd, cron and nft files, not HTML). Filters: ``q`` (one
shell word, :func:`shlex.quote`) and ``shjoin`` (an argv as a shell command, :func:`shlex.join`).

Where the templates are: the package resource ``zixly_stack/templates`` -- in a checkout a
symlink to the top-level ``templates/``, in an installed package (``pip install <checkout>``)
the copy the wheel carries (``[tool.setuptools.package-data]`` in ``pyproject.toml``).
``templates/README.md`` lists every template and its variables.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, Template, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

PACKAGE = "zixly_stack"
FOLDER = "templates"


def templates_root() -> Traversable:
    """The installed ``templates/`` folder (a package resource of :data:`PACKAGE`)."""
    return resources.files(PACKAGE) / FOLDER


def template_names() -> list[str]:
    """Every host template (``*.j2`` under :func:`templates_root`), as ``a/b.j2``, sorted."""
    def walk(node: Traversable, prefix: str) -> Iterator[str]:
        for child in node.iterdir():
            if child.is_dir():
                yield from walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".j2"):
                yield f"{prefix}{child.name}"
    return sorted(walk(templates_root(), ""))


class _ResourceLoader(BaseLoader):
    """Loads ``a/b.j2`` from :func:`templates_root` (works for a directory or a zipped package)."""

    def get_source(self, environment: Any, template: str) -> tuple[str, str | None, Any]:
        node = templates_root()
        for part in template.split("/"):
            if part in ("", ".", ".."):
                raise TemplateNotFound(template)
            node = node / part
        if not node.is_file():
            raise TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), f"templates/{template}", lambda: True


def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(loader=_ResourceLoader(), undefined=StrictUndefined, keep_trailing_newline=True,
                               trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["q"] = lambda value: shlex.quote(str(value))
    env.filters["shjoin"] = lambda argv: shlex.join(str(a) for a in argv)
    return env


ENV = _env()


@cache
def _template(name: str) -> Template:
    return ENV.get_template(name)


def render_host_file(name: str, **variables: Any) -> str:
    """``templates/<name>`` rendered with *variables* (module contract)."""
    return _template(name).render(**variables)
