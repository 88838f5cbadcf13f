"""The catalog's data model: one :class:`Service` per ``services/<name>/service.yaml``.

A service is a set of containers that deploy together as one Compose project.
Values in ``env``, ``command`` and ``labels`` may contain placeholders, resolved
at render time (see :mod:`zixly_stack.catalog.placeholders`):

``${secret:NAME}``          a generated secret of this service (``${secret:svc.NAME}`` for another's)
``${secret_file:NAME}``     path of that secret mounted as a Compose secret (``/run/secrets/...``)
``${url:SVC}``              public base URL of a routed service, e.g. ``https://n8n.example.com``
``${host:SVC}``             its public host name
``${store:KIND.FIELD}``     connection data of a data store this service binds (host, port,
                            database, user, password, url)
``${setting:NAME}``         an environment setting (domain, timezone, admin_email, smtp_*, ...)
``${container:NAME}``       the DNS name of a sibling container of this service
``$$``                      a literal ``$``
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator

from .base import Model
from .secret_spec import SecretSpec
from .types import (
    AbsPath,
    Arg,
    ContainerUser,
    ContentType,
    Duration,
    EnvValue,
    EnvVarName,
    HttpUrl,
    Identifier,
    MountTarget,
    RelPath,
    ShortText,
    Text,
    Tmpfs,
)
from .upgrade import UpgradeRules

NAME_RE = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
Name = Annotated[str, Field(pattern=NAME_RE)]
MemSize = Annotated[str, Field(pattern=r"^[0-9]+(k|m|g)$")]

FLOATING_TAGS = frozenset({"latest", "stable", "main", "master", "edge", "nightly", "dev", "develop", "preview"})
# Rules a container may be exempted from, with a reason (``exceptions:``). Every other rule
# (privileged, host namespaces, cap_add ALL, security options, devices, limits, Traefik
# labels, router rules, file modes, the memory budget ...) admits no exception.
HardeningRule = Literal[
    "no_ports",
    "internal_only",
    "docker_socket",
    "sensitive_mount",
    "read_only",  # a writable root filesystem: recorded with its reason, not yet enforced
    "no_new_privileges",
    "cap_drop",
    "cap_add",
    "non_root",
    "healthcheck",
    "restart",
    "pinned_image",
]
HARDENING_RULES: tuple[str, ...] = get_args(HardeningRule)


def tag_is_floating(tag: str) -> bool:
    """True for tags that move: ``latest``, ``stable``, bare majors like ``16`` or ``v2``."""
    return tag in FLOATING_TAGS or re.fullmatch(r"v?[0-9]+", tag) is not None


class Image(Model):
    """A container image pinned to a version (and optionally a digest)."""

    repository: str = Field(max_length=255, pattern=r"^[a-z0-9][a-z0-9._/:-]*[a-z0-9]$")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")

    @property
    def ref(self) -> str:
        """``repository:tag[@digest]``."""
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


class Healthcheck(Model):
    """A Compose healthcheck. ``test`` is an argv list (``CMD`` form) or one ``CMD-SHELL`` string."""

    test: list[Arg] | Arg
    interval: Duration = "15s"
    timeout: Duration = "5s"
    retries: int = Field(default=5, ge=1, le=100)
    start_period: Duration = "30s"
    start_interval: Duration | None = "2s"


class Resources(Model):
    """Hard limits per container (memory, CPU share, process count)."""

    memory: MemSize = "256m"
    cpus: float = Field(default=1.0, gt=0, le=64)
    pids: int = Field(default=256, ge=16, le=65536)


class VolumeMount(Model):
    """A named volume of this service mounted into a container."""

    volume: Name
    target: MountTarget
    read_only: bool = False


class FileMount(Model):
    """A file rendered from ``templates/`` (or a seed) mounted read-only into a container."""

    template: RelPath
    target: MountTarget
    mode: int = Field(default=0o644, ge=0, le=0o7777)

    @field_validator("mode", mode="before")
    @classmethod
    def _octal(cls, value: object) -> object:
        """``0o640`` and ``0640`` (strings: YAML 1.2 has no bare octal) are octal; a plain 640 stays decimal."""
        if isinstance(value, str) and re.fullmatch(r"0o?[0-7]{1,4}", value):
            return int(value.removeprefix("0o"), 8)
        return value


class HostMount(Model):
    """A bind mount of a host path. Needs a hardening exception for sensitive paths."""

    source: AbsPath
    target: MountTarget
    read_only: bool = True


RateLimitProfile = Literal["static", "ui", "api", "signin", "webhook"]
RATE_LIMIT_PROFILES: tuple[str, ...] = get_args(RateLimitProfile)


class Route(Model):
    """Traffic Traefik sends to a container: ``https://<subdomain>.<domain><path_prefix>``.

    ``rate_limit`` names the edge's per-client limit for this route (the numbers are the
    environment's ``edge.rate_limits.<profile>``; docs/rate-limits.md): ``static`` for a
    single-page app's assets, ``ui`` for pages and the API a browser UI calls, ``api`` for
    machine clients, ``signin`` for password endpoints, ``webhook`` for callers from other
    services. ``None``: no limit on this route.
    """

    name: Name | None = None
    subdomain: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    port: int = Field(ge=1, le=65535)
    # Segments of URL-safe characters: no '..', no '//', nothing that could end a Traefik rule.
    path_prefix: str | None = Field(default=None, pattern=r"^/([A-Za-z0-9_~-][A-Za-z0-9._~-]*/?)*$")
    strip_prefix: bool = False
    priority: int | None = Field(default=None, ge=1, le=1000000)
    # Only these HTTP methods (e.g. [POST] for a sign-in form whose page is GET elsewhere).
    methods: list[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]] = Field(
        default=[], max_length=7
    )
    middlewares: list[Literal["large-uploads", "auth"]] = []
    rate_limit: RateLimitProfile | None = None
    public: bool = True

    @field_validator("middlewares", mode="before")
    @classmethod
    def _no_shared_ratelimit(cls, value: object) -> object:
        if isinstance(value, list) and "ratelimit" in value:
            raise ValueError(
                "'ratelimit' is no longer a middleware: give the route `rate_limit: <profile>` "
                f"({', '.join(RATE_LIMIT_PROFILES)}), the limit that fits its traffic"
            )
        return value


class HttpContract(Model):
    """A documented HTTP health answer of the vendor's image (used by stand-ins and health checks)."""

    port: int = Field(ge=1, le=65535)
    path: str = Field(max_length=2048, pattern=r"^/[A-Za-z0-9._~/%?=&+:-]*$")
    status: int = Field(default=200, ge=100, le=599)
    body: Text | None = None
    content_type: ContentType = "text/plain"


class Contract(Model):
    """What the vendor documents about a running container, with its source."""

    source: Text
    http: list[HttpContract] = []
    processes: list[ShortText] = []


class HardeningException(Model):
    """An explicit, reasoned exception to one hardening rule (listed by ``zixly validate ENV --exceptions``)."""

    rule: HardeningRule
    reason: str = Field(min_length=10)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if len(value.strip()) < 10:
            raise ValueError("a reason says why this container needs the exception (10 characters or more)")
        return value


class Container(Model):
    """One container of a service."""

    image: Image
    role: Literal["service", "job"] = "service"
    command: list[Arg] | None = None
    entrypoint: list[Arg] | None = None
    user: ContainerUser | None = None
    working_dir: AbsPath | None = None
    env: dict[EnvVarName, EnvValue] = {}
    volumes: list[VolumeMount] = []
    files: list[FileMount] = []
    host_mounts: list[HostMount] = []
    tmpfs: list[Tmpfs] = []
    read_only: bool = False
    cap_add: list[str] = []
    routes: list[Route] = []
    healthcheck: Healthcheck | None = None
    contract: Contract | None = None
    resources: Resources = Resources()
    depends_on: list[str] = []
    networks: list[Literal["proxy", "internal", "egress", "uses"]] = []
    stop_grace_period: Duration | None = None
    exceptions: list[HardeningException] = []
    labels: dict[str, str] = {}


class StoreBinding(Model):
    """A data store a service needs: its own database/user on a PostgreSQL, MariaDB or Redis."""

    kind: Literal["postgres", "mariadb", "redis"]
    database: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    user: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    extensions: list[Identifier] = []
    redis_db: int = Field(default=0, ge=0, le=15)


class DatabaseBackup(Model):
    """A database dumped at backup time (store kind + database name)."""

    store: Literal["postgres", "mariadb", "redis"]
    database: Identifier | None = None
    container: Name | None = None


class BackupStep(Model):
    """A command run inside a container before or after the backup (e.g. maintenance mode)."""

    container: Name
    command: list[Arg]


class BackupSpec(Model):
    """What to back up and how to make it consistent."""

    databases: list[DatabaseBackup] = []
    volumes: list[Name] = []
    pre: list[BackupStep] = []
    post: list[BackupStep] = []
    stop: list[Name] = []


class Hook(Model):
    """A post-deploy hook: idempotent by design, recorded so a rerun is a no-op."""

    name: Name
    run: str = Field(pattern=r"^zixly_stack\.hooks\.[a-z_][a-z0-9_.]*:[a-z_][a-z0-9_]*$")  # only our hooks
    needs: list[Name] = []
    timeout: Duration = "300s"
    retries: int = Field(default=3, ge=0, le=20)
    on_failure: Literal["degrade", "fail"] = "degrade"


class SignIn(Model):
    """How a person signs in to the app: shown after a deploy and by ``zixly credentials``.

    ``user`` is a literal name or ``${setting:admin_email}``; ``password`` names the secret
    holding the password (one of this service's, or a full ``svc.name`` / ``edge.admin_password``);
    ``path`` is the sign-in page under the app's URL. ``first_admin`` says how the vendor's
    real image creates its first administrator (shown for stand-ins, which cannot sign anyone
    in), with ``source`` the vendor's documentation of it.
    """

    user: str = Field(min_length=1, max_length=200)
    password: str = Field(pattern=r"^([a-z][a-z0-9-]*\.)?[a-z][a-z0-9_]*$")
    path: str = Field(default="/", pattern=r"^/[A-Za-z0-9._~/#-]*$")
    first_admin: str = Field(min_length=10, max_length=600)
    source: str = Field(pattern=r"^https://")


class Service(Model):
    """A catalog entry: ``services/<name>/service.yaml``."""

    name: Name
    description: Text
    kind: Literal["edge", "store", "app", "infra"] = "app"
    sources: list[HttpUrl] = Field(min_length=1)
    containers: dict[Name, Container] = Field(min_length=1)
    volumes: list[Name] = []
    secrets: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], SecretSpec] = {}
    stores: list[StoreBinding] = []
    uses: list[Name] = []
    backup: BackupSpec = BackupSpec()
    hooks: list[Hook] = []
    wait_timeout: Duration = "180s"
    memory_budget: MemSize | None = None
    sign_in: SignIn | None = None
    upgrade: UpgradeRules | None = None  # how the version may move (models/upgrade.py, docs/upgrades.md)
