"""Rules of the placeholders inside a service definition (``${kind:arg}``, see
:mod:`zixly_stack.catalog.placeholders`): their syntax, where secrets may appear, and that each
reference names something that exists. One rule per placeholder kind, plus ``sign_in``.

Each public ``(catalog, service)`` function is one rule, registered in
:mod:`zixly_stack.catalog.rules`; :func:`check_ref` runs the reference rules on one placeholder
found elsewhere (environment overrides, :mod:`zixly_stack.catalog.values`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..config.loader import Catalog
from ..config.problems import did_you_mean
from ..config.yamlsrc import PathT
from ..errors import Problem
from ..models.service import Service
from .placeholders import PlaceholderSyntaxError, Ref, refs
from .rulebase import svc_problem

SETTINGS = (
    "domain",
    "env",
    "timezone",
    "admin_email",
    "smtp_host",
    "smtp_port",
    "smtp_from",
    "smtp_starttls",
)
STORE_FIELDS = ("host", "port", "database", "user", "password", "password_file", "url")
EDGE_PASSWORD = "edge.admin_password"  # the dashboard's basic-auth password (render/context.py EDGE_SECRETS)

RefCheck = Callable[[Catalog, Service, Ref, PathT], list[Problem]]


def _strings(svc: Service) -> Iterator[tuple[PathT, str, bool]]:
    """Every placeholder-bearing string with its path and whether secrets may appear there."""
    for cname, c in svc.containers.items():
        base: PathT = ("containers", cname)
        for k, v in c.env.items():
            yield (*base, "env", k), v, True
        for field in ("command", "entrypoint"):
            for i, v in enumerate(getattr(c, field) or []):
                yield (*base, field, i), v, False
        for k, v in c.labels.items():
            yield (*base, "labels", k), v, False
        if c.healthcheck is not None:
            tests = [c.healthcheck.test] if isinstance(c.healthcheck.test, str) else c.healthcheck.test
            for i, v in enumerate(tests):
                yield (*base, "healthcheck", "test", i), v, False


def _misplaced_secret(ref: Ref, secrets_ok: bool) -> bool:
    return not secrets_ok and (
        ref.kind == "secret" or (ref.kind == "store" and ref.arg.endswith((".password", ".url"))))


def _refs(svc: Service) -> Iterator[tuple[PathT, Ref, bool]]:
    """Every well-formed placeholder of the service's strings (syntax errors: :func:`placeholder_syntax`)."""
    for path, text, secrets_ok in _strings(svc):
        try:
            found = refs(text)
        except PlaceholderSyntaxError:
            continue
        for ref in found:
            yield path, ref, secrets_ok


def _named_service(cat: Catalog, svc: Service, ref: Ref, name: str, where: PathT) -> Service | list[Problem]:
    """The catalog service a reference names, or its problems (none when that service's own file
    is invalid: it is reported there)."""
    other = cat.services.get(name)
    if other is not None:
        return other
    if name in cat.invalid:
        return []
    return [svc_problem(cat, svc.name, where, f"{ref}: unknown service {name!r}", did_you_mean(name, cat.services))]


def _service_ref(cat: Catalog, svc: Service, ref: Ref, where: PathT) -> list[Problem]:
    """``${secret:[svc.]NAME}`` / ``${secret_file:...}``: the service exists and declares the secret."""
    if ref.kind not in ("secret", "secret_file"):
        return []
    owner, _, key = ref.arg.rpartition(".")
    owner = owner or svc.name
    other = _named_service(cat, svc, ref, owner, where)
    if isinstance(other, list):
        return other
    if key not in other.secrets:
        return [svc_problem(cat, svc.name, where, f"{ref}: service {owner!r} declares no secret {key!r}",
                            did_you_mean(key, other.secrets) or "declare it under 'secrets:'")]
    return []


def _route_ref(cat: Catalog, svc: Service, ref: Ref, where: PathT) -> list[Problem]:
    """``${url:SVC}`` / ``${host:SVC}``: the service exists and has a route."""
    if ref.kind not in ("url", "host"):
        return []
    target = ref.arg.split(".")[0]
    other = _named_service(cat, svc, ref, target, where)
    if isinstance(other, list):
        return other
    if not any(c.routes for c in other.containers.values()):
        return [svc_problem(cat, svc.name, where, f"{ref}: service {target!r} has no routes")]
    return []


def _store_ref(cat: Catalog, svc: Service, ref: Ref, where: PathT) -> list[Problem]:
    """``${store:KIND.FIELD}``: the service binds that store and the field is one of :data:`STORE_FIELDS`."""
    if ref.kind != "store":
        return []
    kind, _, fld = ref.arg.partition(".")
    if kind not in {b.kind for b in svc.stores}:
        return [svc_problem(cat, svc.name, where, f"{ref}: this service binds no {kind!r} store",
                            "add it under 'stores:'")]
    if fld not in STORE_FIELDS:
        return [svc_problem(cat, svc.name, where, f"{ref}: unknown store field {fld!r}",
                            did_you_mean(fld, STORE_FIELDS) or f"expected one of {', '.join(STORE_FIELDS)}")]
    return []


def _setting_ref(cat: Catalog, svc: Service, ref: Ref, where: PathT) -> list[Problem]:
    """``${setting:NAME}``: one of :data:`SETTINGS`."""
    if ref.kind != "setting" or ref.arg in SETTINGS:
        return []
    return [svc_problem(cat, svc.name, where, f"{ref}: unknown setting {ref.arg!r}",
                        did_you_mean(ref.arg, SETTINGS) or f"expected one of {', '.join(SETTINGS)}")]


def _container_ref(cat: Catalog, svc: Service, ref: Ref, where: PathT) -> list[Problem]:
    """``${container:NAME}``: a container of this service."""
    if ref.kind != "container" or ref.arg in svc.containers:
        return []
    return [svc_problem(cat, svc.name, where, f"{ref}: no container {ref.arg!r} in this service",
                        did_you_mean(ref.arg, svc.containers))]


REF_CHECKS: tuple[RefCheck, ...] = (_service_ref, _route_ref, _store_ref, _setting_ref, _container_ref)


def check_ref(cat: Catalog, svc: Service, ref: Ref, where: PathT) -> list[Problem]:
    """Every reference rule on one placeholder of ``svc`` found at ``where``."""
    return [p for check in REF_CHECKS for p in check(cat, svc, ref, where)]


def _each_ref(check: RefCheck, cat: Catalog, svc: Service) -> list[Problem]:
    return [p for path, ref, ok in _refs(svc) if not _misplaced_secret(ref, ok) for p in check(cat, svc, ref, path)]


def placeholder_syntax(cat: Catalog, svc: Service) -> list[Problem]:
    """Every ``${...}`` in env, command, entrypoint, labels and healthcheck tests is well formed."""
    out: list[Problem] = []
    for path, text, _ in _strings(svc):
        try:
            refs(text)
        except PlaceholderSyntaxError as exc:
            out.append(svc_problem(cat, svc.name, path, str(exc)))
    return out


def secrets_only_in_env(cat: Catalog, svc: Service) -> list[Problem]:
    """Secrets (``${secret:...}``, a store's password or url) appear only in ``env``, never in argv or labels."""
    return [svc_problem(cat, svc.name, path, f"{ref}: secrets may only appear in 'env'",
                        "read it from an environment variable ($$VAR) instead")
            for path, ref, ok in _refs(svc) if _misplaced_secret(ref, ok)]


def secret_references(cat: Catalog, svc: Service) -> list[Problem]:
    """``${secret:[svc.]NAME}`` and ``${secret_file:...}`` name a secret the service declares."""
    return _each_ref(_service_ref, cat, svc)


def route_references(cat: Catalog, svc: Service) -> list[Problem]:
    """``${url:SVC}`` and ``${host:SVC}`` name a catalog service that has a route."""
    return _each_ref(_route_ref, cat, svc)


def store_references(cat: Catalog, svc: Service) -> list[Problem]:
    """``${store:KIND.FIELD}`` names a store the service binds and a known field."""
    return _each_ref(_store_ref, cat, svc)


def setting_references(cat: Catalog, svc: Service) -> list[Problem]:
    """``${setting:NAME}`` names a known environment setting."""
    return _each_ref(_setting_ref, cat, svc)


def container_references(cat: Catalog, svc: Service) -> list[Problem]:
    """``${container:NAME}`` names a container of the same service."""
    return _each_ref(_container_ref, cat, svc)


def sign_in_user(cat: Catalog, svc: Service) -> list[Problem]:
    """``sign_in.user`` is a literal name or ``${setting:...}`` (never a secret or another placeholder)."""
    if svc.sign_in is None:
        return []
    path: PathT = ("sign_in", "user")
    try:
        found = refs(svc.sign_in.user)
    except PlaceholderSyntaxError as exc:
        return [svc_problem(cat, svc.name, path, str(exc))]
    out: list[Problem] = []
    for ref in found:
        if ref.kind != "setting":
            out.append(svc_problem(cat, svc.name, path, f"{ref}: a user name may only use ${{setting:...}}"))
        else:
            out.extend(_setting_ref(cat, svc, ref, path))
    return out


def sign_in_password(cat: Catalog, svc: Service) -> list[Problem]:
    """``sign_in.password`` names a declared secret (this service's, ``svc.name``, or the edge's)."""
    if svc.sign_in is None or svc.sign_in.password == EDGE_PASSWORD:
        return []
    owner, _, key = svc.sign_in.password.rpartition(".")
    other = cat.services.get(owner or svc.name)
    if other is not None and key in other.secrets:
        return []
    where = f"service {owner!r}" if owner else "this service"
    choices = list(other.secrets) if other else []
    return [svc_problem(cat, svc.name, ("sign_in", "password"), f"{where} declares no secret {key!r}",
                        did_you_mean(key, choices) or f"name one of its 'secrets:' (or {EDGE_PASSWORD})")]
