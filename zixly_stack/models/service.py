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

    repository: str = Field(examples=["n8nio/n8n"], max_length=255, pattern=r"^[a-z0-9][a-z0-9._/:-]*[a-z0-9]$")
    """Image repository, with its registry when not Docker Hub."""
    tag: str = Field(examples=["2.41.1"], pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    """An exact version (never `latest` or a bare major)."""
    digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$",
        examples=["sha256:0000000000000000000000000000000000000000000000000000000000000000"])
    """The image's content digest, to pin the tag to one build."""

    @property
    def ref(self) -> str:
        """``repository:tag[@digest]``."""
        return f"{self.repository}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


class Healthcheck(Model):
    """A Compose healthcheck. ``test`` is an argv list (``CMD`` form) or one ``CMD-SHELL`` string."""

    test: list[Arg] | Arg = Field(examples=[["curl", "-fsS", "http://127.0.0.1:8080/health"]])
    """Command that exits 0 when healthy: an argv list, or one string run by the image's shell."""
    interval: Duration = "15s"
    """Time between checks."""
    timeout: Duration = "5s"
    """Time one check may take."""
    retries: int = Field(default=5, ge=1, le=100)
    """Failed checks in a row before the container is unhealthy."""
    start_period: Duration = "30s"
    """Start-up time during which failures do not count."""
    start_interval: Duration | None = "2s"
    """Time between checks during `start_period`."""


class Resources(Model):
    """Hard limits per container (memory, CPU share, process count)."""

    memory: MemSize = Field(default="256m", examples=["512m"])
    """Memory limit (`k`, `m` or `g`)."""
    cpus: float = Field(examples=[0.5], default=1.0, gt=0, le=64)
    """CPU limit, in cores."""
    pids: int = Field(examples=[512], default=256, ge=16, le=65536)
    """Process count limit."""


class VolumeMount(Model):
    """A named volume of this service mounted into a container."""

    volume: Name = Field(examples=["data"])
    """A volume the service declares under `volumes`."""
    target: MountTarget = Field(examples=["/var/lib/app"])
    """Absolute path inside the container."""
    read_only: bool = False
    """Mount it read-only."""


class FileMount(Model):
    """A file rendered from ``templates/`` (or a seed) mounted read-only into a container."""

    template: RelPath = Field(examples=["app.conf.j2"])
    """Template file under `services/<svc>/` or `templates/`, rendered with the environment's values."""
    target: MountTarget = Field(examples=["/etc/app/app.conf"])
    """Absolute path of the file inside the container (mounted read-only)."""
    mode: int = Field(examples=["0640"], default=0o644, ge=0, le=0o7777)
    """File mode (octal as a string: `"0640"`)."""

    @field_validator("mode", mode="before")
    @classmethod
    def _octal(cls, value: object) -> object:
        """``0o640`` and ``0640`` (strings: YAML 1.2 has no bare octal) are octal; a plain 640 stays decimal."""
        if isinstance(value, str) and re.fullmatch(r"0o?[0-7]{1,4}", value):
            return int(value.removeprefix("0o"), 8)
        return value


class HostMount(Model):
    """A bind mount of a host path. Needs a hardening exception for sensitive paths."""

    source: AbsPath = Field(examples=["/srv/shared"])
    """Absolute path on the host (sensitive paths need an exception)."""
    target: MountTarget = Field(examples=["/data/shared"])
    """Absolute path inside the container."""
    read_only: bool = True
    """Mount it read-only."""


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

    name: Name | None = Field(default=None, examples=["api"])
    """The route's name, distinct among the container's routes (its Traefik router)."""
    subdomain: str = Field(examples=["n8n"], pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    """Served on `<subdomain>.<domain>`."""
    port: int = Field(examples=[5678], ge=1, le=65535)
    """Container port Traefik forwards to."""
    # Segments of URL-safe characters: no '..', no '//', nothing that could end a Traefik rule.
    path_prefix: str | None = Field(default=None, pattern=r"^/([A-Za-z0-9_~-][A-Za-z0-9._~-]*/?)*$",
        examples=["/webhook"])
    """Only requests under this path."""
    strip_prefix: bool = False
    """Remove `path_prefix` before forwarding."""
    priority: int | None = Field(examples=[100], default=None, ge=1, le=1000000)
    """Traefik router priority (higher wins; default: longer rules win)."""
    # Only these HTTP methods (e.g. [POST] for a sign-in form whose page is GET elsewhere).
    methods: list[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]] = Field(
        default=[], max_length=7, examples=[["POST"]])
    """Only these HTTP methods."""
    middlewares: list[Literal["large-uploads", "auth"]] = Field(default=[], examples=[["auth"]])
    """`auth`: the edge's basic auth in front; `large-uploads`: marks a route taking big uploads (the edge's
    `upload_timeout` applies to every route; nothing more is rendered for it)."""
    rate_limit: RateLimitProfile | None = Field(default=None, examples=["ui"])
    """The edge's per-client rate-limit profile for this route (docs/rate-limits.md); none: no limit."""
    public: bool = True
    """Reserved: not read by the render today (every route is published through the edge)."""

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

    port: int = Field(examples=[8080], ge=1, le=65535)
    """Container port the vendor's health answer is on."""
    path: str = Field(examples=["/healthz"], max_length=2048, pattern=r"^/[A-Za-z0-9._~/%?=&+:-]*$")
    """Its path."""
    status: int = Field(default=200, ge=100, le=599)
    """Its HTTP status."""
    body: Text | None = Field(default=None, examples=["ok"])
    """Its body, when the vendor documents one."""
    content_type: ContentType = "text/plain"
    """Its content type."""


class Contract(Model):
    """What the vendor documents about a running container, with its source."""

    source: Text = Field(examples=["https://docs.n8n.io/hosting/logging-monitoring/monitoring/"])
    """Where the vendor documents it (a URL)."""
    http: list[HttpContract] = Field(default=[], examples=[[{"port": 5678, "path": "/healthz"}]])
    """Documented HTTP health answers."""
    processes: list[ShortText] = Field(default=[], examples=[["node"]])
    """Processes the running container has."""


class HardeningException(Model):
    """An explicit, reasoned exception to one hardening rule (listed by ``zixly validate ENV --exceptions``)."""

    rule: HardeningRule = Field(examples=["non_root"])
    """The hardening rule this container is exempted from (docs/hardening.md)."""
    reason: str = Field(examples=["the image's entrypoint chowns its data directory as root"], min_length=10)
    """Why this container needs it (10 characters or more; listed by `zixly validate ENV --exceptions`)."""

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        if len(value.strip()) < 10:
            raise ValueError("a reason says why this container needs the exception (10 characters or more)")
        return value


class Container(Model):
    """One container of a service."""

    image: Image = Field(examples=[{"repository": "n8nio/n8n", "tag": "2.41.1"}])
    """The image, pinned to a version."""
    role: Literal["service", "job"] = "service"
    """`service` runs until stopped (needs a healthcheck); `job` runs once to completion."""
    command: list[Arg] | None = Field(default=None, examples=[["php", "artisan", "queue:work"]])
    """Replaces the image's command (argv list)."""
    entrypoint: list[Arg] | None = Field(default=None, examples=[["/usr/local/bin/start.sh"]])
    """Replaces the image's entrypoint (argv list)."""
    user: ContainerUser | None = Field(default=None, examples=["1000:1000"])
    """User (and group) the container runs as."""
    working_dir: AbsPath | None = Field(default=None, examples=["/app"])
    """Working directory inside the container."""
    env: dict[EnvVarName, EnvValue] = Field(default={}, examples=[{"DB_HOST": "${store:postgres.host}"}])
    """Environment variables; values may use placeholders (`${secret:...}` only here)."""
    volumes: list[VolumeMount] = Field(default=[], examples=[[{"volume": "data", "target": "/var/lib/app"}]])
    """Named volumes of the service mounted here."""
    files: list[FileMount] = Field(default=[], examples=[[{"template": "app.conf.j2", "target": "/etc/app/app.conf"}]])
    """Files rendered from templates and mounted read-only."""
    host_mounts: list[HostMount] = Field(default=[], examples=[[{"source": "/srv/shared", "target": "/data/shared"}]])
    """Bind mounts of host paths."""
    tmpfs: list[Tmpfs] = Field(default=[], examples=[["/tmp"]])
    """In-memory directories (`/path` or `/path:size=64m`)."""
    read_only: bool = False
    """Read-only root filesystem."""
    cap_add: list[str] = Field(default=[], examples=[["CHOWN"]])
    """Linux capabilities added back after `cap_drop: [ALL]` (each needs an exception)."""
    routes: list[Route] = Field(default=[], examples=[[{"subdomain": "n8n", "port": 5678, "rate_limit": "ui"}]])
    """How Traefik sends traffic to this container."""
    healthcheck: Healthcheck | None = Field(default=None,
        examples=[{"test": ["curl", "-fsS", "http://127.0.0.1:8080/health"]}])
    """How Docker tells it is healthy (required for `role: service` unless excepted)."""
    contract: Contract | None = Field(default=None,
        examples=[{"source": "https://docs.n8n.io/", "http": [{"port": 5678, "path": "/healthz"}]}])
    """What the vendor documents about the running container (used by stand-ins and health checks)."""
    resources: Resources = Resources()
    """Memory, CPU and process limits."""
    depends_on: list[str] = Field(default=[], examples=[["db"]])
    """Sibling containers started (and healthy) first."""
    networks: list[Literal["proxy", "internal", "egress", "uses"]] = Field(default=[], examples=[["internal"]])
    """Narrow the networks it joins (default: what its routes, stores and `uses` need)."""
    stop_grace_period: Duration | None = Field(default=None, examples=["60s"])
    """Time between SIGTERM and SIGKILL on stop."""
    exceptions: list[HardeningException] = Field(default=[],
        examples=[[{"rule": "non_root", "reason": "the image's entrypoint chowns its data directory as root"}]])
    """Hardening rules this container is exempted from, each with a reason."""
    labels: dict[str, str] = Field(default={}, examples=[{"com.example.team": "ops"}])
    """Container labels (never `traefik.*`: routes make those)."""


class StoreBinding(Model):
    """A data store a service needs: its own database/user on a PostgreSQL, MariaDB or Redis."""

    kind: Literal["postgres", "mariadb", "redis"] = Field(examples=["postgres"])
    """The data store: PostgreSQL, MariaDB or Redis."""
    database: str | None = Field(examples=["n8n"], default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    """Database name (default: the service's name)."""
    user: str | None = Field(examples=["n8n"], default=None, pattern=r"^[a-z][a-z0-9_]{0,62}$")
    """Database user (default: the service's name)."""
    extensions: list[Identifier] = Field(default=[], examples=[["vector"]])
    """PostgreSQL extensions created in the database."""
    redis_db: int = Field(examples=[1], default=0, ge=0, le=15)
    """Redis database number."""


class DatabaseBackup(Model):
    """A database dumped at backup time (store kind + database name)."""

    store: Literal["postgres", "mariadb", "redis"] = Field(examples=["postgres"])
    """Kind of store the database is in."""
    database: Identifier | None = Field(default=None, examples=["n8n"])
    """Database to dump (default: the service's binding)."""
    container: Name | None = Field(default=None, examples=["db"])
    """A container of this service that runs the database itself (instead of a shared store)."""


class BackupStep(Model):
    """A command run inside a container before or after the backup (e.g. maintenance mode)."""

    container: Name = Field(examples=["web"])
    """Container of this service the command runs in."""
    command: list[Arg] = Field(examples=[["php", "artisan", "down"]])
    """The command (argv list)."""


class BackupSpec(Model):
    """What to back up and how to make it consistent."""

    databases: list[DatabaseBackup] = Field(default=[], examples=[[{"store": "postgres"}]])
    """Databases dumped at backup time."""
    volumes: list[Name] = Field(default=[], examples=[["data"]])
    """Volumes of the service copied at backup time."""
    pre: list[BackupStep] = Field(default=[], examples=[[{"container": "web", "command": ["php", "artisan", "down"]}]])
    """Commands run before the backup (e.g. maintenance mode on)."""
    post: list[BackupStep] = Field(default=[], examples=[[{"container": "web", "command": ["php", "artisan", "up"]}]])
    """Commands run after the backup."""
    stop: list[Name] = Field(default=[], examples=[["worker"]])
    """Containers stopped during the backup."""


class Hook(Model):
    """A post-deploy hook: idempotent by design, recorded so a rerun is a no-op."""

    name: Name = Field(examples=["seed-workflows"])
    """The hook's name (what other hooks' `needs` name)."""
    run: str = Field(pattern=r"^zixly_stack\.hooks\.[a-z_][a-z0-9_.]*:[a-z_][a-z0-9_]*$",
        examples=["zixly_stack.hooks.n8n:seed_workflows"])  # only our hooks
    """The Python function to run: `zixly_stack.hooks.<module>:<function>`."""
    needs: list[Name] = Field(default=[], examples=[["create-owner"]])
    """Hooks that run first."""
    timeout: Duration = "300s"
    """Time one run may take."""
    retries: int = Field(default=3, ge=0, le=20)
    """Retries after a failure."""
    on_failure: Literal["degrade", "fail"] = "degrade"
    """`degrade`: report and carry on; `fail`: fail the deploy."""


class SignIn(Model):
    """How a person signs in to the app: shown after a deploy and by ``zixly credentials``.

    ``user`` is a literal name or ``${setting:admin_email}``; ``password`` names the secret
    holding the password (one of this service's, or a full ``svc.name`` / ``edge.admin_password``);
    ``path`` is the sign-in page under the app's URL. ``first_admin`` says how the vendor's
    real image creates its first administrator (shown for stand-ins, which cannot sign anyone
    in), with ``source`` the vendor's documentation of it.
    """

    user: str = Field(examples=["${setting:admin_email}"], min_length=1, max_length=200)
    """User name: literal, or `${setting:admin_email}`."""
    password: str = Field(examples=["owner_password"], pattern=r"^([a-z][a-z0-9-]*\.)?[a-z][a-z0-9_]*$")
    """Secret holding the password: this service's, `svc.name`, or `edge.admin_password`."""
    path: str = Field(examples=["/signin"], default="/", pattern=r"^/[A-Za-z0-9._~/#-]*$")
    """Sign-in page under the app's URL."""
    first_admin: str = Field(min_length=10, max_length=600,
        examples=["the image creates the owner from N8N_INSTANCE_OWNER_EMAIL on first start"])
    """How the vendor's real image creates its first administrator."""
    source: str = Field(examples=["https://docs.n8n.io/"], pattern=r"^https://")
    """The vendor's documentation of it."""


class Service(Model):
    """A catalog entry: ``services/<name>/service.yaml``."""

    name: Name = Field(examples=["n8n"])
    """The service's name: its directory under `services/`."""
    description: Text = Field(examples=["Workflow automation"])
    """What the service is."""
    kind: Literal["edge", "store", "app", "infra"] = "app"
    """`app`, a data `store`, `infra`structure or the `edge`."""
    sources: list[HttpUrl] = Field(examples=[["https://docs.n8n.io/hosting/"]], min_length=1)
    """The vendor documentation the definition follows."""
    containers: dict[Name, Container] = Field(min_length=1, examples=[
        {"n8n": {"image": {"repository": "n8nio/n8n", "tag": "2.41.1"},
                 "healthcheck": {"test": ["n8n", "--version"]}}}])
    """The containers, keyed by name (the first is the service's main one)."""
    volumes: list[Name] = Field(default=[], examples=[["data"]])
    """Named volumes the containers mount."""
    secrets: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], SecretSpec] = Field(default={},
        examples=[{"encryption_key": {"type": "hex", "length": 32}}])
    """Secrets generated for the service, keyed by name (`${secret:NAME}`)."""
    stores: list[StoreBinding] = Field(default=[], examples=[[{"kind": "postgres"}]])
    """Data stores it needs: its own database and user on each."""
    uses: list[Name] = Field(default=[], examples=[["warehouse"]])
    """Other services it talks to (same host in compose mode)."""
    backup: BackupSpec = BackupSpec()
    """What to back up and how."""
    hooks: list[Hook] = []
    """Post-deploy hooks (idempotent; recorded so a rerun is a no-op)."""
    wait_timeout: Duration = "180s"
    """Time a deploy waits for the containers to be healthy."""
    memory_budget: MemSize | None = Field(default=None, examples=["2496m"])
    """Sum of the long-running containers' memory limits, for people sizing hosts."""
    sign_in: SignIn | None = Field(default=None, examples=[
        {"user": "${setting:admin_email}", "password": "owner_password", "path": "/signin",
         "first_admin": "the image creates the owner from N8N_INSTANCE_OWNER_EMAIL on first start",
         "source": "https://docs.n8n.io/"}])
    """How a person signs in (shown after a deploy and by `zixly credentials`)."""
    upgrade: UpgradeRules | None = Field(default=None, examples=[{
        "version": r"^(?P<major>[0-9]+)\.(?P<minor>[0-9]+\.[0-9]+)$", "max_major_step": 1,
        "downgrade": {"needs": "restore", "why": "a newer schema",
                      "source": "https://docs.nextcloud.com/server/latest/admin_manual/"},
        "sources": ["https://docs.nextcloud.com/server/latest/admin_manual/"]}])
    """How the version may move: hops, migrations, what a downgrade needs (docs/upgrades.md)."""
