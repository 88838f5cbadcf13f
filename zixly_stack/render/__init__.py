"""PURE rendering: (stack, secrets) -> tuple of RenderedFile, byte-identical for equal inputs."""

from __future__ import annotations

from ..catalog.stack import STORE_KINDS
from ..errors import ConfigError
from ..models.service import Container
from .compose import render_project
from .context import RenderContext
from .hardening import check_project
from .tree import RenderedFile, manifest
from .units import build_projects

__all__ = ["RenderContext", "RenderedFile", "render_stack"]


def render_stack(ctx: RenderContext) -> tuple[RenderedFile, ...]:
    """Render every host of the stack. Raises ConfigError on hardening violations."""
    files: list[RenderedFile] = []
    problems = []
    for host in ctx.stack.host_names():
        host_files: list[RenderedFile] = []
        projects = build_projects(ctx, host)
        for proj in projects:
            out, doc = render_project(ctx, host, proj)
            host_files.extend(out)
            compose = out[0]
            svc = proj.placed.service
            kind = "store" if svc.kind == "store" and svc.name in STORE_KINDS else svc.kind
            units: dict[str, Container | None] = {u.key: u.container for u in proj.units}
            problems.extend(check_project(svc.name, kind, doc, units, compose.path))
        meta = {
            "environment": ctx.stack.env_name,
            "projects": [p.placed.project for p in projects],
            "networks": [f"{ctx.stack.prefix}-proxy"],
        }
        files.extend(host_files)
        files.append(manifest(host_files, host, meta))
    if problems:
        raise ConfigError(problems)
    return tuple(sorted(files, key=lambda f: f.path))
