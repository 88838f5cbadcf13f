"""What a validation rule is, and how its findings are located.

A rule is one small, named, pure function of the loaded configuration that returns located
:class:`Problem` s. Its *scope* says what it is handed:

* ``service``: ``(catalog, service)``, once per catalog service (``services/<name>/service.yaml``);
* ``catalog``: ``(catalog)``, once (rules that need every service at once);
* ``environment``: ``(catalog, env_config)``, once (``environment.yaml`` and ``hosts.yaml``);
* ``stack``: ``(catalog, env_config, stack)``, once the environment is resolved to a stack
  (placements, overrides applied);
* ``model``: a pydantic ``model_validator`` of :mod:`zixly_stack.models` (pydantic runs it while
  loading; listed so the registry names every cross-field rule).

``keys`` names the model fields a rule judges (``"Model.field"``): the configuration reference
(``docs/reference/``) lists under each key the rules that apply to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..config.loader import Catalog, EnvConfig
from ..config.yamlsrc import PathT, dotted
from ..errors import Problem

Scope = Literal["service", "catalog", "environment", "stack", "model"]
SCOPES: tuple[Scope, ...] = ("service", "catalog", "environment", "stack", "model")


@dataclass(frozen=True)
class Rule:
    """One named cross-field rule: ``check`` is its function (see the module docstring for scopes)."""

    name: str
    summary: str
    scope: Scope
    check: Callable[..., Any]
    keys: tuple[str, ...]


def svc_problem(cat: Catalog, svc: str, path: PathT, message: str, hint: str = "") -> Problem:
    """A problem at ``path`` of ``services/<svc>/service.yaml``."""
    pos = cat.sources[svc].positions
    return Problem(pos.loc(path), dotted(path), message, hint)


def env_problem(cfg: EnvConfig, path: PathT, message: str, hint: str = "", key: bool = False) -> Problem:
    """A problem at ``path`` of ``environment.yaml`` (``key``: at the key, not its value)."""
    return Problem(cfg.env_source.positions.loc(path, key=key), dotted(path), message, hint)


def hosts_problem(cfg: EnvConfig, path: PathT, message: str, hint: str = "") -> Problem:
    """A problem at ``path`` of ``hosts.yaml``."""
    return Problem(cfg.hosts_source.positions.loc(path), dotted(path), message, hint)
