"""The registry: every cross-field validation rule, in one place.

A schema (:mod:`zixly_stack.models`) checks each value on its own; these rules check what a
value means next to the others (a volume a container mounts is declared, an override names a
real host, two routes do not collide). :mod:`zixly_stack.catalog.checks` runs exactly the rules
listed here, scope by scope (:mod:`zixly_stack.catalog.rulebase`); ``docs/reference/`` lists them
under the keys they judge; ``tests/render/validation_cases.py`` holds each rule's bad inputs.
The rendered-output hardening rules are another family (``docs/hardening.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from ..models.environment import Acme, BackupTarget
from . import environment_rules as E
from . import reference_rules as R
from . import service_rules as S
from . import stack_rules as K
from . import upgrades as U
from . import values as V
from .rulebase import Rule, Scope

_ENV_TEXT = ("Container.env", "Container.command", "Container.entrypoint", "Container.labels", "Healthcheck.test")


def _rule(name: str, scope: Scope, check: Callable[..., Any], *keys: str, summary: str = "") -> Rule:
    """A registry entry; the summary is the first line of the function's docstring unless given."""
    doc = (check.__doc__ or "").strip().splitlines()
    return Rule(name, summary or (doc[0] if doc else ""), scope, check, keys)


def _validator(model: type[BaseModel], name: str) -> Callable[..., Any]:
    """The function of ``model`` 's ``model_validator`` called ``name`` (KeyError when there is none)."""
    func: Callable[..., Any] = model.__pydantic_decorators__.model_validators[name].func
    return func


RULES: tuple[Rule, ...] = (
    # one service definition (services/<name>/service.yaml)
    _rule("pinned_image", "service", S.pinned_image, "Image.tag"),
    _rule("declared_volumes", "service", S.declared_volumes, "VolumeMount.volume", "Service.volumes"),
    _rule("depends_on_siblings", "service", S.depends_on_siblings, "Container.depends_on"),
    _rule("file_templates", "service", S.file_templates, "FileMount.template"),
    _rule("service_healthcheck", "service", S.service_healthcheck, "Container.healthcheck", "Container.role",
          "Container.exceptions"),
    _rule("distinct_route_names", "service", S.distinct_route_names, "Route.name"),
    _rule("backup_volumes", "service", S.backup_volumes, "BackupSpec.volumes", "Service.volumes"),
    _rule("backup_step_containers", "service", S.backup_step_containers, "BackupStep.container"),
    _rule("backup_database_store", "service", S.backup_database_store, "DatabaseBackup.store",
          "DatabaseBackup.container", "Service.stores"),
    _rule("bcrypt_source", "service", S.bcrypt_source, "SecretSpec.of", "SecretSpec.type"),
    _rule("known_uses", "service", S.known_uses, "Service.uses"),
    _rule("store_server", "service", S.store_server, "Service.containers", "Service.kind"),
    _rule("known_hook_needs", "service", S.known_hook_needs, "Hook.needs"),
    _rule("placeholder_syntax", "service", R.placeholder_syntax, *_ENV_TEXT),
    _rule("secrets_only_in_env", "service", R.secrets_only_in_env, *_ENV_TEXT),
    _rule("secret_references", "service", R.secret_references, *_ENV_TEXT, "Service.secrets"),
    _rule("route_references", "service", R.route_references, *_ENV_TEXT, "Container.routes"),
    _rule("store_references", "service", R.store_references, *_ENV_TEXT, "Service.stores"),
    _rule("setting_references", "service", R.setting_references, *_ENV_TEXT),
    _rule("container_references", "service", R.container_references, *_ENV_TEXT, "Service.containers"),
    _rule("sign_in_user", "service", R.sign_in_user, "SignIn.user"),
    _rule("sign_in_password", "service", R.sign_in_password, "SignIn.password"),
    _rule("upgrade_rules", "service", U.check_service_rules, "Service.upgrade", "UpgradeRules.version",
          "UpgradeRules.path", "UpgradeRules.migrations"),
    # the whole catalog
    _rule("env_file_safe", "catalog", V.check_catalog_values, "Container.env"),
    # one environment (environment.yaml, hosts.yaml) against the catalog
    _rule("known_services", "environment", E.known_services, "Environment.services"),
    _rule("pinned_version", "environment", E.pinned_version, "ServiceOverride.version"),
    _rule("upgrade_version", "environment", U.check_upgrade_overrides, "ServiceOverride.version",
          "ServiceOverride.data_major", "UpgradeRules.version"),
    _rule("known_override_host", "environment", E.known_override_host, "ServiceOverride.host"),
    _rule("known_override_containers", "environment", E.known_override_containers, "ServiceOverride.resources",
          "ServiceOverride.env"),
    _rule("override_placeholders", "environment", V.check_overrides, "ServiceOverride.env"),
    _rule("stores_enabled", "environment", E.stores_enabled, "Environment.services", "Service.stores"),
    _rule("uses_enabled", "environment", E.uses_enabled, "Environment.services", "Service.uses"),
    _rule("host_services", "environment", E.host_services, "Host.services"),
    _rule("distinct_edge_ports", "environment", E.distinct_edge_ports, "Edge.http_port", "Edge.https_port"),
    _rule("standins_local_only", "environment", E.standins_local_only, "Images.allow_standins", "Host.address",
          "Environment.domain"),
    _rule("public_domain_acme", "environment", E.public_domain_acme, "Environment.domain", "Environment.acme"),
    _rule("mirror_set", "environment", E.mirror_set, "Images.source", "Images.mirror"),
    # the resolved stack
    _rule("distinct_subdomains", "stack", K.distinct_subdomains, "Route.subdomain", "ServiceOverride.subdomain",
          "Edge.dashboard_subdomain"),
    _rule("distinct_routes", "stack", K.distinct_routes, "Route.subdomain", "Route.path_prefix", "Route.methods"),
    _rule("stateless_replicas", "stack", K.stateless_replicas, "ServiceOverride.replicas", "Environment.mode"),
    _rule("companions_on_one_host", "stack", K.companions_on_one_host, "ServiceOverride.host", "Host.services",
          "Environment.mode", "Environment.stores"),
    # model validators pydantic runs while loading (located at the model's key)
    _rule("acme_dns_provider", "model", _validator(Acme, "_provider"), "Acme.challenge", "Acme.dns_provider",
          summary="``challenge: dns`` names a ``dns_provider``."),
    _rule("backup_target_complete", "model", _validator(BackupTarget, "_complete"), "BackupTarget.type",
          "BackupTarget.path", "BackupTarget.url",
          summary="A backup target has the ``path`` or the ``url`` its ``type`` needs."),
)


def of_scope(scope: Scope) -> tuple[Rule, ...]:
    """The registered rules of one scope, in registry order."""
    return tuple(r for r in RULES if r.scope == scope)


def applying_to(key: str) -> list[str]:
    """Names of the rules that judge model field ``key`` (``"Model.field"``)."""
    return [r.name for r in RULES if key in r.keys]
