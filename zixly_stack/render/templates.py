"""Jinja templates for text files services mount (sandboxed, strict undefined).

Lookup order: ``services/<svc>/<template>`` then ``templates/<template>``, never outside them
(:mod:`zixly_stack.catalog.templates`). Variables: ``env`` (environment name), ``domain``,
``service`` (name), ``url(svc)``, ``host(svc)``, ``setting(name)``. Secrets are not available to
templates: files they produce are not secret. Every failure is a located :class:`ConfigError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jinja2 import UndefinedError

from ..catalog.checks import SETTINGS
from ..catalog.templates import TemplateFileError, compile_template, run_template, template_path
from ..config.yamlsrc import display_path
from ..errors import ConfigError, Location, Problem

if TYPE_CHECKING:
    from ..models.service import Service
    from .context import RenderContext


def render_template(ctx: RenderContext, svc: Service, name: str, where: str = "template") -> str:
    """Render a service's template with the environment's public variables."""
    try:
        path = template_path(ctx.root, svc.name, name)
    except TemplateFileError as exc:
        raise ConfigError([Problem(Location(f"services/{svc.name}/service.yaml"), where, str(exc))]) from None
    template = compile_template(ctx.root, path, where)
    return run_template(template, display_path(ctx.root, path), where, _variables(ctx, svc))


def _variables(ctx: RenderContext, svc: Service) -> dict[str, Any]:
    def setting(name: str) -> str:
        if name not in SETTINGS:
            raise UndefinedError(f"setting({name!r}) does not exist; settings: {', '.join(SETTINGS)}")
        return ctx.setting(name)

    return {
        "env": ctx.stack.env_name,
        "domain": ctx.stack.environment.domain,
        "service": svc.name,
        "url": ctx.public_url,
        "host": ctx.public_host,
        "setting": setting,
    }
