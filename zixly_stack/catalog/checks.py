"""Cross-field checks that a schema alone cannot express, with exact locations.

Pure functions of the loaded catalog/environment returning :class:`Problem` lists.
"""

from __future__ import annotations

from collections import defaultdict

from ..config.loader import Catalog, EnvConfig
from ..config.problems import did_you_mean
from ..config.yamlsrc import dotted
from ..errors import Problem
from ..models.service import Service, tag_is_floating
from .placeholders import PlaceholderSyntaxError, Ref, refs
from .routes import route_host
from .stack import STORE_KINDS, Stack, enabled_names
from .templates import check_template

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


def _svc_problem(cat: Catalog, svc: str, path: tuple[str | int, ...], message: str, hint: str = "") -> Problem:
    pos = cat.sources[svc].positions
    return Problem(pos.loc(path), dotted(path), message, hint)


def _check_ref(cat: Catalog, svc: Service, ref: Ref, where: tuple[str | int, ...], out: list[Problem]) -> None:
    name = svc.name
    if ref.kind in ("secret", "secret_file"):
        owner, _, key = ref.arg.rpartition(".")
        owner = owner or name
        other = cat.services.get(owner)
        if other is None and owner in cat.invalid:
            return
        if other is None:
            out.append(
                _svc_problem(cat, name, where, f"{ref}: unknown service {owner!r}", did_you_mean(owner, cat.services))
            )
        elif key not in other.secrets:
            out.append(
                _svc_problem(
                    cat,
                    name,
                    where,
                    f"{ref}: service {owner!r} declares no secret {key!r}",
                    did_you_mean(key, other.secrets) or "declare it under 'secrets:'",
                )
            )
    elif ref.kind in ("url", "host"):
        target = ref.arg.split(".")[0]
        other = cat.services.get(target)
        if other is None and target in cat.invalid:
            return
        if other is None:
            out.append(
                _svc_problem(cat, name, where, f"{ref}: unknown service {target!r}", did_you_mean(target, cat.services))
            )
        elif not any(c.routes for c in other.containers.values()):
            out.append(_svc_problem(cat, name, where, f"{ref}: service {target!r} has no routes"))
    elif ref.kind == "store":
        kind, _, fld = ref.arg.partition(".")
        bound = {b.kind for b in svc.stores}
        if kind not in bound:
            out.append(
                _svc_problem(cat, name, where, f"{ref}: this service binds no {kind!r} store", "add it under 'stores:'")
            )
        elif fld not in STORE_FIELDS:
            out.append(
                _svc_problem(
                    cat,
                    name,
                    where,
                    f"{ref}: unknown store field {fld!r}",
                    did_you_mean(fld, STORE_FIELDS) or f"expected one of {', '.join(STORE_FIELDS)}",
                )
            )
    elif ref.kind == "setting":
        if ref.arg not in SETTINGS:
            out.append(
                _svc_problem(
                    cat,
                    name,
                    where,
                    f"{ref}: unknown setting {ref.arg!r}",
                    did_you_mean(ref.arg, SETTINGS) or f"expected one of {', '.join(SETTINGS)}",
                )
            )
    elif ref.kind == "container" and ref.arg not in svc.containers:
        out.append(
            _svc_problem(
                cat,
                name,
                where,
                f"{ref}: no container {ref.arg!r} in this service",
                did_you_mean(ref.arg, svc.containers),
            )
        )


def _strings(svc: Service) -> list[tuple[tuple[str | int, ...], str, bool]]:
    """Every placeholder-bearing string with its path and whether secrets may appear there."""
    out: list[tuple[tuple[str | int, ...], str, bool]] = []
    for cname, c in svc.containers.items():
        base: tuple[str | int, ...] = ("containers", cname)
        for k, v in c.env.items():
            out.append(((*base, "env", k), v, True))
        for field in ("command", "entrypoint"):
            for i, v in enumerate(getattr(c, field) or []):
                out.append(((*base, field, i), v, False))
        for k, v in c.labels.items():
            out.append(((*base, "labels", k), v, False))
        if c.healthcheck is not None:
            tests = [c.healthcheck.test] if isinstance(c.healthcheck.test, str) else c.healthcheck.test
            for i, v in enumerate(tests):
                out.append(((*base, "healthcheck", "test", i), v, False))
    return out


def check_service(cat: Catalog, svc: Service) -> list[Problem]:
    """References inside one service definition."""
    out: list[Problem] = []
    name = svc.name
    declared = set(svc.volumes)
    for cname, c in svc.containers.items():
        base: tuple[str | int, ...] = ("containers", cname)
        if tag_is_floating(c.image.tag):
            out.append(
                _svc_problem(
                    cat,
                    name,
                    (*base, "image", "tag"),
                    f"image tag {c.image.tag!r} is not pinned",
                    "use an exact version such as 1.2.3",
                )
            )
        for i, m in enumerate(c.volumes):
            if m.volume not in declared:
                out.append(
                    _svc_problem(
                        cat,
                        name,
                        (*base, "volumes", i, "volume"),
                        f"volume {m.volume!r} is not declared in 'volumes'",
                        did_you_mean(m.volume, declared) or "add it to the service's volumes",
                    )
                )
        for i, dep in enumerate(c.depends_on):
            if dep not in svc.containers:
                out.append(
                    _svc_problem(
                        cat,
                        name,
                        (*base, "depends_on", i),
                        f"no container named {dep!r}",
                        did_you_mean(dep, svc.containers),
                    )
                )
        for i, f in enumerate(c.files):
            out.extend(check_template(cat.root, cat.sources[name].positions, name, (*base, "files", i, "template"),
                                      f.template))
        if c.role == "service" and c.healthcheck is None and not any(e.rule == "healthcheck" for e in c.exceptions):
            out.append(
                _svc_problem(
                    cat,
                    name,
                    base,
                    "long-running container has no healthcheck",
                    "add 'healthcheck:' or an exception with a reason",
                )
            )
        seen_routes: set[str] = set()
        for i, r in enumerate(c.routes):
            key = r.name or ""
            if key in seen_routes:
                out.append(
                    _svc_problem(
                        cat,
                        name,
                        (*base, "routes", i),
                        "two routes without distinct names",
                        "give each route a 'name'",
                    )
                )
            seen_routes.add(key)
    for i, vol in enumerate(svc.backup.volumes):
        if vol not in declared:
            out.append(
                _svc_problem(
                    cat,
                    name,
                    ("backup", "volumes", i),
                    f"volume {vol!r} is not declared",
                    did_you_mean(vol, declared),
                )
            )
    for key, step_list in (("pre", svc.backup.pre), ("post", svc.backup.post)):
        for i, step in enumerate(step_list):
            if step.container not in svc.containers:
                out.append(
                    _svc_problem(
                        cat,
                        name,
                        ("backup", key, i, "container"),
                        f"no container named {step.container!r}",
                        did_you_mean(step.container, svc.containers),
                    )
                )
    bound = {b.kind for b in svc.stores}
    for i, db in enumerate(svc.backup.databases):
        if db.container is None and db.store not in bound:
            out.append(
                _svc_problem(
                    cat,
                    name,
                    ("backup", "databases", i, "store"),
                    f"this service binds no {db.store!r} store",
                    "add it under 'stores:'",
                )
            )
    for sname, spec in svc.secrets.items():
        if spec.type == "bcrypt" and (spec.of is None or spec.of not in svc.secrets):
            out.append(
                _svc_problem(
                    cat,
                    name,
                    ("secrets", sname, "of"),
                    "bcrypt secret needs 'of' naming another secret of this service",
                    did_you_mean(spec.of or "", svc.secrets),
                )
            )
    for i, used in enumerate(svc.uses):
        if used not in cat.services and used not in cat.invalid:
            out.append(
                _svc_problem(cat, name, ("uses", i), f"unknown service {used!r}", did_you_mean(used, cat.services))
            )
    if svc.kind == "store" and svc.name in STORE_KINDS and "server" not in svc.containers:
        out.append(_svc_problem(cat, name, ("containers",), "a store needs a container named 'server'"))
    for path, text, secrets_ok in _strings(svc):
        try:
            found = refs(text)
        except PlaceholderSyntaxError as exc:
            out.append(_svc_problem(cat, name, path, str(exc)))
            continue
        for ref in found:
            if not secrets_ok and (
                ref.kind == "secret" or (ref.kind == "store" and ref.arg.endswith((".password", ".url")))
            ):
                out.append(
                    _svc_problem(
                        cat,
                        name,
                        path,
                        f"{ref}: secrets may only appear in 'env'",
                        "read it from an environment variable ($$VAR) instead",
                    )
                )
                continue
            _check_ref(cat, svc, ref, path, out)
    out.extend(_check_sign_in(cat, svc))
    hook_names = {h.name for s in cat.services.values() for h in s.hooks}
    for i, hook in enumerate(svc.hooks):
        for j, need in enumerate(hook.needs):
            if need not in hook_names:
                out.append(
                    _svc_problem(
                        cat,
                        name,
                        ("hooks", i, "needs", j),
                        f"unknown hook {need!r}",
                        did_you_mean(need, hook_names),
                    )
                )
    return out


def _check_sign_in(cat: Catalog, svc: Service) -> list[Problem]:
    """``sign_in``: the user is a name or a setting, the password a declared secret."""
    out: list[Problem] = []
    sign_in = svc.sign_in
    if sign_in is None:
        return out
    path: tuple[str | int, ...] = ("sign_in", "user")
    try:
        found = refs(sign_in.user)
    except PlaceholderSyntaxError as exc:
        found = []
        out.append(_svc_problem(cat, svc.name, path, str(exc)))
    for ref in found:
        if ref.kind != "setting":
            out.append(_svc_problem(cat, svc.name, path, f"{ref}: a user name may only use ${{setting:...}}"))
        else:
            _check_ref(cat, svc, ref, path, out)
    owner, _, key = sign_in.password.rpartition(".")
    other = cat.services.get(owner or svc.name)
    if sign_in.password != EDGE_PASSWORD and (other is None or key not in other.secrets):
        where = f"service {owner!r}" if owner else "this service"
        choices = list(other.secrets) if other else []
        out.append(
            _svc_problem(
                cat,
                svc.name,
                ("sign_in", "password"),
                f"{where} declares no secret {key!r}",
                did_you_mean(key, choices) or f"name one of its 'secrets:' (or {EDGE_PASSWORD})",
            )
        )
    return out


def check_catalog(cat: Catalog) -> list[Problem]:
    """Check every service definition and catalog-wide uniqueness."""
    out: list[Problem] = []
    for svc in cat.services.values():
        out.extend(check_service(cat, svc))
    return out


def _env_problem(
    cfg: EnvConfig, path: tuple[str | int, ...], message: str, hint: str = "", key: bool = False
) -> Problem:
    return Problem(cfg.env_source.positions.loc(path, key=key), dotted(path), message, hint)


def _hosts_problem(cfg: EnvConfig, path: tuple[str | int, ...], message: str, hint: str = "") -> Problem:
    return Problem(cfg.hosts_source.positions.loc(path), dotted(path), message, hint)


def check_environment(cat: Catalog, cfg: EnvConfig) -> list[Problem]:
    """Environment-level guards: unknown services/hosts, companions, collisions, pins."""
    out: list[Problem] = []
    env = cfg.environment
    hosts = cfg.hosts.hosts
    enabled = [n for n in enabled_names(env)]
    for name, o in env.services.items():
        path: tuple[str | int, ...] = ("services", name)
        svc = cat.services.get(name)
        if svc is None and name in cat.invalid:
            continue
        if svc is None:
            out.append(
                _env_problem(
                    cfg,
                    path,
                    f"unknown service {name!r}",
                    did_you_mean(name, cat.services) or "see services/ for the catalog",
                    key=True,
                )
            )
            continue
        if o is None:
            continue
        if o.version and tag_is_floating(o.version):
            out.append(
                _env_problem(
                    cfg,
                    (*path, "version"),
                    f"version {o.version!r} is not pinned",
                    "use an exact version such as 1.2.3",
                )
            )
        if o.host and o.host not in hosts:
            out.append(
                _env_problem(
                    cfg,
                    (*path, "host"),
                    f"unknown host {o.host!r}",
                    did_you_mean(o.host, hosts) or f"hosts: {', '.join(hosts)}",
                )
            )
        for key in ("resources", "env"):
            for cname in getattr(o, key):
                if cname not in svc.containers:
                    out.append(
                        _env_problem(
                            cfg,
                            (*path, key, cname),
                            f"service {name!r} has no container {cname!r}",
                            did_you_mean(cname, svc.containers),
                            key=True,
                        )
                    )
    for name in enabled:
        svc = cat.services.get(name)
        if svc is None:
            continue
        for b in svc.stores:
            if b.kind not in enabled:
                out.append(
                    _env_problem(
                        cfg,
                        ("services", name),
                        f"{name} needs the {b.kind!r} data store, which is not enabled",
                        f"add '{b.kind}:' under services",
                        key=True,
                    )
                )
        for used in svc.uses:
            if used not in enabled:
                out.append(
                    _env_problem(
                        cfg,
                        ("services", name),
                        f"{name} uses {used!r}, which is not enabled",
                        f"add '{used}:' under services",
                        key=True,
                    )
                )
    for hname, host in hosts.items():
        for i, sname in enumerate(host.services):
            if sname not in cat.services:
                out.append(
                    _hosts_problem(
                        cfg,
                        ("hosts", hname, "services", i),
                        f"unknown service {sname!r}",
                        did_you_mean(sname, cat.services),
                    )
                )
    if env.edge.http_port == env.edge.https_port:
        out.append(
            _env_problem(
                cfg,
                ("edge", "https_port"),
                "http_port and https_port are the same port",
                "use two different ports",
            )
        )
    # *.localhost never resolves off the machine (RFC 6761): such an environment is a test
    # environment even on remote hosts (the vps test hosts), so stand-ins are allowed there.
    test_domain = env.domain == "localhost" or env.domain.endswith(".localhost")
    only_local = all(h.address == "@local" for h in hosts.values()) or test_domain
    if env.images.allow_standins and not only_local:
        out.append(
            _env_problem(
                cfg,
                ("images", "allow_standins"),
                "stand-in images are for local test environments only",
                "remove allow_standins; real hosts must run the real apps",
            )
        )
    if env.domain != "localhost" and not env.domain.endswith(".localhost") and env.acme is None:
        out.append(
            _env_problem(
                cfg,
                ("domain",),
                "a public domain needs 'acme:' settings for certificates",
                "add acme: {email: you@example.com}",
            )
        )
    if env.images.source == "mirror" and not env.images.mirror:
        out.append(
            _env_problem(
                cfg,
                ("images", "mirror"),
                "images.source is 'mirror' but no mirror is set",
                "set images.mirror: registry.example.com",
            )
        )
    return out


def check_stack(cat: Catalog, cfg: EnvConfig, stack: Stack) -> list[Problem]:
    """Checks on the resolved stack: route and subdomain collisions, same-host companions."""
    out: list[Problem] = []
    env = cfg.environment
    seen: dict[tuple[str, str, tuple[str, ...]], str] = {}
    sub_owner: dict[str, str] = {}
    if env.edge.dashboard:
        sub_owner[env.edge.dashboard_subdomain] = "traefik dashboard"
    for name, svc in stack.services.items():
        for cname, c in svc.containers.items():
            for r in c.routes:
                key = (r.subdomain, r.path_prefix or "/", tuple(r.methods))
                where = f"{name}.{cname}"
                owner = sub_owner.get(r.subdomain)
                if owner is not None and not owner.startswith(f"{name}."):
                    out.append(
                        _env_problem(
                            cfg,
                            ("services", name),
                            f"subdomain {r.subdomain!r} is used by {owner} and {where}",
                            "set a different 'subdomain' for one of them",
                            key=True,
                        )
                    )
                sub_owner.setdefault(r.subdomain, where)
                if key in seen:
                    out.append(
                        _env_problem(
                            cfg,
                            ("services", name),
                            f"route {route_host(r.subdomain, env.domain)}{key[1]} is claimed by {seen[key]} "
                            f"and {where}",
                            "give one route a distinct path_prefix or subdomain",
                            key=True,
                        )
                    )
                seen[key] = where
    if env.mode == "swarm":
        for name, o in env.services.items():
            found = stack.services.get(name)
            stateful = found is not None and (
                found.kind == "store" or any(c.volumes for c in found.containers.values()))
            if o is not None and o.replicas > 1 and stateful:
                out.append(_env_problem(cfg, ("services", name, "replicas"),
                                        f"{name} holds volumes (or is a data store): it runs once, pinned to the "
                                        f"node labelled zixly.{name}; {o.replicas} replicas would not share its data",
                                        "remove replicas: (only stateless services replicate)"))
    if env.mode == "compose":
        homes: dict[str, set[str]] = defaultdict(set)
        for p in stack.placements:
            homes[p.name].add(p.host)
        for name, svc in stack.services.items():
            needs = [b.kind for b in svc.stores] if env.stores == "shared" else []
            for dep in [*needs, *svc.uses]:
                if dep in homes and not homes[name] <= homes[dep]:
                    out.append(
                        _env_problem(
                            cfg,
                            ("services", name),
                            f"{name} runs on {', '.join(sorted(homes[name]))} but {dep} on "
                            f"{', '.join(sorted(homes[dep]))}; compose mode has no cross-host network",
                            "place them on one host, use stores: dedicated, or mode: swarm",
                            key=True,
                        )
                    )
    return out
