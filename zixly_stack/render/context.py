"""What placeholders mean in one environment: secrets, store endpoints, URLs, settings.

Pure. :class:`RenderContext` answers every ``${kind:arg}`` for a given service; secret
values stay inside :class:`Resolved` objects flagged ``secret=True`` so the compose
renderer can route them to 0600 env files only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..catalog.placeholders import Ref, Resolved
from ..catalog.routes import https_origin, route_host
from ..catalog.stack import Stack
from ..errors import ConfigError, Location, Problem
from ..models.secret_spec import SecretSpec
from ..models.service import Image, Service, StoreBinding
from ..secrets.fingerprint import KEY_SECRET, KEY_SPEC, Fingerprinter, fingerprinter
from ..secrets.value import Secret
from .backup.repo import PASSWORD_SECRET, PASSWORD_SPEC

STORE_PORTS = {"postgres": 5432, "mariadb": 3306, "redis": 6379}
EDGE_SECRETS = {
    "edge.admin_password": SecretSpec(type="password", length=24, description="Traefik dashboard / basic auth"),
    "edge.admin_password_hash": SecretSpec(type="bcrypt", of="admin_password", description="bcrypt of it"),
}

ImageMapper = Callable[[Image], "MappedImage"]


@dataclass(frozen=True)
class MappedImage:
    """The image reference to run, and whether it is a labelled stand-in."""

    ref: str
    standin: bool = False


def upstream_images(image: Image) -> MappedImage:
    """Default mapper: run the pinned upstream image."""
    return MappedImage(image.ref)


def db_identifier(app: str) -> str:
    """Database/user name derived from a service name (``invoice-ninja`` -> ``invoice_ninja``)."""
    return app.replace("-", "_")


@dataclass(frozen=True)
class StoreEndpoint:
    """How an app reaches one of its bound stores."""

    kind: str
    host: str
    port: int
    database: str
    user: str
    password_secret: str


@dataclass
class RenderContext:
    """Everything placeholders resolve against, for one environment."""

    stack: Stack
    secrets: Mapping[str, Secret]
    root: Path
    images: ImageMapper = upstream_images
    problems: list[Problem] = field(default_factory=list)

    @property
    def fingerprint(self) -> Fingerprinter:
        """Keyed hashes for rendered files that must change with a secret (never a plain digest)."""
        return fingerprinter(self.secrets)

    @property
    def dedicated(self) -> bool:
        """True when every app gets its own data-store servers."""
        return self.stack.environment.stores == "dedicated"

    # -- secrets -------------------------------------------------------------------
    def secret(self, full: str) -> str:
        """The revealed value of a secret (render output only; never logged)."""
        value = self.secrets.get(full)
        if value is None:
            raise ConfigError(
                [
                    Problem(
                        Location("secrets"),
                        full,
                        "secret missing from the store",
                        "run `zixly render` (it generates missing secrets) or `zixly secrets set`",
                    )
                ]
            )
        return value.reveal()

    def instance_secret(self, app: str, kind: str, local: str) -> str:
        """Full name of a store instance's own secret (shared: ``postgres.x``, dedicated: ``app.postgres_x``)."""
        return f"{app}.{kind}_{local}" if self.dedicated else f"{kind}.{local}"

    # -- stores --------------------------------------------------------------------
    def endpoint(self, app: Service, b: StoreBinding) -> StoreEndpoint:
        """Connection data of ``app``'s binding ``b`` (host names are the same in both modes)."""
        if b.kind == "redis":
            pw = self.instance_secret(app.name, "redis", "password")
            return StoreEndpoint("redis", "redis", 6379, str(b.redis_db), "", pw)
        ident = db_identifier(app.name)
        return StoreEndpoint(
            b.kind, b.kind, STORE_PORTS[b.kind], b.database or ident, b.user or ident, f"{app.name}.{b.kind}_password"
        )

    def store_field(self, app: Service, kind: str, fld: str, mounts: list[str] | None = None) -> Resolved:
        """``${store:KIND.FIELD}`` for ``app`` (``password_file`` mounts the password as a Compose secret)."""
        b = next(x for x in app.stores if x.kind == kind)
        ep = self.endpoint(app, b)
        if fld == "password_file":
            if mounts is not None:
                mounts.append(ep.password_secret)
            return Resolved(f"/run/secrets/{secret_file_name(ep.password_secret)}", False)
        if fld == "host":
            return Resolved(ep.host, False)
        if fld == "port":
            return Resolved(str(ep.port), False)
        if fld == "database":
            return Resolved(ep.database, False)
        if fld == "user":
            return Resolved(ep.user, False)
        pw = self.secret(ep.password_secret)
        if fld == "password":
            return Resolved(pw, True)
        q = quote(pw, safe="")
        if kind == "postgres":
            return Resolved(f"postgresql://{ep.user}:{q}@{ep.host}:{ep.port}/{ep.database}", True)
        if kind == "mariadb":
            return Resolved(f"mysql://{ep.user}:{q}@{ep.host}:{ep.port}/{ep.database}", True)
        return Resolved(f"redis://:{q}@{ep.host}:{ep.port}/{ep.database}", True)

    # -- routes --------------------------------------------------------------------
    def public_host(self, svc_name: str, route: str | None = None) -> str:
        """``<subdomain>.<domain>`` of a service's first (or named) route."""
        svc = self.stack.services.get(svc_name)
        subdomain = svc_name
        if svc is not None:
            subdomain = next((r.subdomain for c in svc.containers.values() for r in c.routes
                              if route is None or r.name == route), svc_name)
        return route_host(subdomain, self.stack.environment.domain)

    def public_url(self, svc_name: str, route: str | None = None) -> str:
        """``https://<host>`` (plus the edge port when it is not 443)."""
        return https_origin(self.public_host(svc_name, route), self.stack.environment.edge.https_port)

    def setting(self, name: str) -> str:
        """``${setting:NAME}``."""
        env = self.stack.environment
        smtp = env.smtp
        values = {
            "domain": env.domain,
            "env": self.stack.env_name,
            "timezone": env.timezone,
            "admin_email": env.admin_email,
            "smtp_host": smtp.host if smtp else "",
            "smtp_port": str(smtp.port) if smtp else "",
            "smtp_from": smtp.from_address if smtp else "",
            "smtp_starttls": ("true" if smtp.starttls else "false") if smtp else "",
        }
        return values[name]

    def lookup(
        self, svc: Service, secret_ns: Callable[[str], str], mounts: list[str] | None = None
    ) -> Callable[[Ref], Resolved]:
        """A resolver for strings of ``svc`` whose own secrets map through ``secret_ns``.

        Secrets referenced as files are appended to ``mounts`` (full names) so the caller
        mounts them as Compose secrets.
        """

        def resolve(ref: Ref) -> Resolved:
            if ref.kind == "secret":
                full = ref.arg if "." in ref.arg else secret_ns(ref.arg)
                return Resolved(self.secret(full), True)
            if ref.kind == "secret_file":
                full = ref.arg if "." in ref.arg else secret_ns(ref.arg)
                if mounts is not None:
                    mounts.append(full)
                return Resolved(f"/run/secrets/{secret_file_name(full)}", False)
            if ref.kind in ("url", "host"):
                target, _, route = ref.arg.partition(".")
                fn = self.public_url if ref.kind == "url" else self.public_host
                return Resolved(fn(target, route or None), False)
            if ref.kind == "store":
                kind, _, fld = ref.arg.partition(".")
                return self.store_field(svc, kind, fld, mounts)
            if ref.kind == "setting":
                return Resolved(self.setting(ref.arg), False)
            # container: a sibling's project-unique alias (bare compose names also exist on shared
            # networks, where another project's "app" or "web" could answer)
            return Resolved(f"{svc.name}-{ref.arg}" if ref.arg != svc.name else svc.name, False)

        return resolve


def secret_file_name(full: str) -> str:
    """File/Compose-secret name for a full secret name (``n8n.key`` -> ``n8n_key``)."""
    return full.replace(".", "_").replace("-", "_")


def required_secrets(stack: Stack) -> dict[str, SecretSpec]:
    """Every secret the environment needs, by full name, with its generator spec."""
    out: dict[str, SecretSpec] = {}
    dedicated = stack.environment.stores == "dedicated"
    stores = {k: stack.services[k] for k in STORE_PORTS if k in stack.services}
    for name, svc in stack.services.items():
        if svc.kind == "store" and name in STORE_PORTS:
            if not dedicated:
                for sname, spec in svc.secrets.items():
                    out[f"{name}.{sname}"] = spec
            continue
        for sname, spec in svc.secrets.items():
            out[f"{name}.{sname}"] = spec
        for b in svc.stores:
            if b.kind != "redis":
                out[f"{name}.{b.kind}_password"] = SecretSpec(
                    type="password", length=32, description=f"{name}'s {b.kind} user"
                )
            if dedicated and b.kind in stores:
                for sname, spec in stores[b.kind].secrets.items():
                    out[f"{name}.{b.kind}_{sname}"] = spec
    if any(s.kind == "edge" for s in stack.services.values()):
        out.update(EDGE_SECRETS)
    if stack.environment.backup.enabled:
        out[PASSWORD_SECRET] = PASSWORD_SPEC
    out[KEY_SECRET] = KEY_SPEC
    return dict(sorted(out.items()))
