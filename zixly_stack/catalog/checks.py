"""Run the cross-field rules (:mod:`zixly_stack.catalog.rules`) scope by scope, with exact locations.

Pure functions of the loaded catalog/environment returning :class:`Problem` lists. Each runner
runs every registered rule of its scope and nothing else, so the registry is the list of what
``zixly validate`` checks.
"""

from __future__ import annotations

from ..config.loader import Catalog, EnvConfig
from ..errors import Problem
from ..models.service import Service
from .reference_rules import EDGE_PASSWORD, SETTINGS, STORE_FIELDS
from .rules import of_scope
from .stack import Stack

__all__ = ["EDGE_PASSWORD", "SETTINGS", "STORE_FIELDS", "check_catalog", "check_environment", "check_service",
           "check_stack"]


def check_service(catalog: Catalog, svc: Service) -> list[Problem]:
    """Every ``service`` rule on one service definition."""
    return [p for rule in of_scope("service") for p in rule.check(catalog, svc)]


def check_catalog(catalog: Catalog) -> list[Problem]:
    """Every ``service`` rule on each service definition, then every ``catalog`` rule."""
    out = [p for svc in catalog.services.values() for p in check_service(catalog, svc)]
    return out + [p for rule in of_scope("catalog") for p in rule.check(catalog)]


def check_environment(catalog: Catalog, config: EnvConfig) -> list[Problem]:
    """Every ``environment`` rule: the environment and its hosts against the catalog."""
    return [p for rule in of_scope("environment") for p in rule.check(catalog, config)]


def check_stack(catalog: Catalog, config: EnvConfig, stack: Stack) -> list[Problem]:
    """Every ``stack`` rule on the resolved stack."""
    return [p for rule in of_scope("stack") for p in rule.check(catalog, config, stack)]
