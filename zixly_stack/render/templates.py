"""Jinja templates for text files services mount (sandboxed, strict undefined).

Lookup order: ``services/<svc>/<template>`` then ``templates/<template>``. Variables:
``env`` (environment name), ``domain``, ``service`` (name), ``url(svc)``, ``host(svc)``,
``setting(name)``. Secrets are not available to templates: files they produce are not secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

if TYPE_CHECKING:
    from ..models.service import Service
    from .context import RenderContext

_ENV = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def find_template(root: Path, svc: str, name: str) -> Path:
    """Path of a template (raises FileNotFoundError if neither location has it)."""
    for cand in (root / "services" / svc / name, root / "templates" / name):
        if cand.is_file():
            return cand
    raise FileNotFoundError(name)


def render_template(ctx: RenderContext, svc: Service, name: str) -> str:
    """Render a service's template with the environment's public variables."""
    text = find_template(ctx.root, svc.name, name).read_text(encoding="utf-8")
    return render_text(ctx, svc, text)


def render_text(ctx: RenderContext, svc: Service, text: str) -> str:
    """Render template ``text`` (also used for templates/ files of the edge)."""
    tmpl = _ENV.from_string(text)
    return tmpl.render(
        env=ctx.stack.env_name,
        domain=ctx.stack.environment.domain,
        service=svc.name,
        url=ctx.public_url,
        host=ctx.public_host,
        setting=ctx.setting,
    )
