"""Environment model: ``inventories/<env>/environment.yaml`` and ``hosts.yaml``."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import Model
from .service import MemSize, Resources

DomainName = Annotated[
    str,
    Field(
        max_length=253,
        pattern=r"^localhost$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$",
    ),
]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]


class ServiceOverride(Model):
    """Per-environment changes to one catalog service."""

    enabled: bool = True
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    subdomain: str | None = Field(default=None, pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    resources: dict[str, Resources] = {}
    env: dict[str, dict[str, str]] = {}
    host: str | None = None
    replicas: int = Field(default=1, ge=0, le=64)


class Acme(Model):
    """Let's Encrypt settings. ``challenge: dns`` gives wildcard certificates."""

    email: Email
    challenge: Literal["http", "tls", "dns"] = "http"
    dns_provider: str | None = None
    staging: bool = False


class Tls(Model):
    """TLS policy rendered into Traefik's file provider."""

    min_version: Literal["VersionTLS12", "VersionTLS13"] = "VersionTLS12"
    sni_strict: bool = True
    hsts_seconds: int = Field(default=31536000, ge=0)
    hsts_preload: bool = False


class RateLimit(Model):
    """One per-client token bucket: ``average`` requests per ``period``, ``burst`` at once.

    Rendered as a Traefik ``rateLimit`` middleware keyed by the client address.
    """

    average: int = Field(ge=1, le=100_000)
    burst: int = Field(ge=1, le=100_000)
    period: str = Field(default="1s", pattern=r"^[1-9][0-9]{0,3}(s|m|h)$")


# Per client address, per router. Sized from a browser's first load of each app
# (docs/rate-limits.md has the measurements and the reasons).
RATE_LIMIT_DEFAULTS: dict[str, dict[str, int | str]] = {
    "static": {"average": 500, "burst": 2000, "period": "1s"},
    "ui": {"average": 100, "burst": 400, "period": "1s"},
    "api": {"average": 20, "burst": 50, "period": "1s"},
    "signin": {"average": 10, "burst": 20, "period": "1m"},
    "webhook": {"average": 50, "burst": 200, "period": "1s"},
}


class RateLimits(Model):
    """The edge's rate-limit profiles (docs/rate-limits.md); a route names one: ``rate_limit: ui``.

    An environment overrides any number of a profile (``edge.rate_limits.ui.burst: 800``);
    the rest keep their defaults (:data:`RATE_LIMIT_DEFAULTS`).
    """

    static: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["static"])
    ui: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["ui"])
    api: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["api"])
    signin: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["signin"])
    webhook: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["webhook"])

    @model_validator(mode="before")
    @classmethod
    def _fill_from_defaults(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        return {
            k: ({**RATE_LIMIT_DEFAULTS[k], **v} if k in RATE_LIMIT_DEFAULTS and isinstance(v, dict) else v)
            for k, v in data.items()
        }

    def profile(self, name: str) -> RateLimit:
        """The limit of profile *name* (one of :data:`~zixly_stack.models.service.RATE_LIMIT_PROFILES`)."""
        limit = getattr(self, name)
        assert isinstance(limit, RateLimit)
        return limit


Cidr = Annotated[str, Field(pattern=r"^[0-9a-fA-F.:]+(/[0-9]{1,3})?$")]


class Edge(Model):
    """How Traefik is published on each host."""

    bind: str = Field(default="0.0.0.0", pattern=r"^[0-9.]+$|^\[[0-9a-f:]+\]$")
    http_port: int = Field(default=80, ge=1, le=65535)
    https_port: int = Field(default=443, ge=1, le=65535)
    dashboard: bool = True
    dashboard_subdomain: str = "traefik"
    upload_timeout: str = Field(default="3600s", pattern=r"^[0-9]+s$")
    rate_limits: RateLimits = RateLimits()
    # Proxies in front of the edge (a CDN, a load balancer), as addresses or CIDRs. Empty: the
    # edge faces clients itself and a client is its TCP peer address. Set: Traefik trusts
    # their X-Forwarded-For and rate limits key on the first address that is not one of them.
    trusted_proxies: list[Cidr] = Field(default=[], max_length=64)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network such as 173.245.48.0/20") from None
        return value


class Retention(Model):
    """restic forget policy."""

    daily: int = Field(default=7, ge=0)
    weekly: int = Field(default=4, ge=0)
    monthly: int = Field(default=6, ge=0)


class BackupTarget(Model):
    """Where restic stores snapshots: a local path, SFTP or S3-compatible URL."""

    type: Literal["local", "sftp", "s3"] = "local"
    path: str | None = None
    url: str | None = None


class Backup(Model):
    """Nightly backup settings."""

    enabled: bool = True
    target: BackupTarget = BackupTarget(type="local", path="/var/backups/zixly")
    schedule: str = Field(default="03:15", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    retention: Retention = Retention()


class Smtp(Model):
    """SMTP settings used by apps and by notifications."""

    host: str
    port: int = 587
    from_address: str = Field(alias="from")
    starttls: bool = True


class Notifications(Model):
    """Where health and backup alerts go."""

    webhook: str | None = Field(default=None, pattern=r"^https?://")
    email_to: list[str] = []


class Images(Model):
    """Where images come from: upstream registries, a mirror, or the offline kit."""

    source: Literal["upstream", "mirror", "offline"] = "upstream"
    mirror: str | None = None
    allow_standins: bool = False


class Swarm(Model):
    """Settings of ``mode: swarm`` (Docker Swarm stacks); see docs/swarm.md."""

    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    update_delay: str = Field(default="5s", pattern=r"^[0-9]+(ms|s|m)$")
    monitor: str = Field(default="30s", pattern=r"^[0-9]+(ms|s|m)$")
    converge_timeout: int = Field(default=600, ge=10, le=7200)


class Environment(Model):
    """One deployment target (local, staging, production, a demo...)."""

    domain: DomainName
    description: str = ""
    mode: Literal["compose", "swarm"] = "compose"
    swarm: Swarm = Swarm()
    stores: Literal["shared", "dedicated"] = "shared"
    acme: Acme | None = None
    tls: Tls = Tls()
    edge: Edge = Edge()
    timezone: str = "UTC"
    admin_email: Email = "admin@example.com"
    smtp: Smtp | None = None
    images: Images = Images()
    base_dir: str = Field(default="/opt/zixly", pattern=r"^/")
    services: dict[str, ServiceOverride | None] = {}
    backup: Backup = Backup()
    notifications: Notifications = Notifications()
    memory_budget: MemSize | None = None


class HostPrepare(Model):
    """Host preparation steps; each can be switched off per host."""

    docker: bool = True
    daemon_json: bool = True
    deploy_user: bool = True
    firewall: bool = True
    ssh_hardening: bool = True
    unattended_upgrades: bool = True
    backup_schedule: bool = True  # also on @local: the nightly backup's timer / cron line
    health_schedule: bool = True  # also on @local: the health agent every 5 minutes


class Host(Model):
    """A machine the stack runs on. ``address: "@local"`` is this machine."""

    address: str
    user: str = "root"
    port: int = Field(default=22, ge=1, le=65535)
    ssh_key: str | None = None
    roles: list[Literal["edge", "apps", "stores", "manager", "worker"]] = ["edge", "apps", "stores"]
    services: list[str] = []
    labels: dict[str, str] = {}
    prepare: HostPrepare = HostPrepare()

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_address(value)


_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_address(value: str) -> str:
    """``@local``, an IPv4/IPv6 address or a DNS host name; anything else is a typo."""
    if value == "@local":
        return value
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if re.fullmatch(r"[0-9.]+", value):
        raise ValueError(f"{value!r} is not a valid IPv4 address (four numbers 0-255, such as 203.0.113.10)")
    if ":" in value:
        raise ValueError(f"{value!r} is not a valid IPv6 address (and a host name has no ':'; set port: separately)")
    if len(value) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{value!r} is not a host name, an IP address or \"@local\"")
    return value


class Hosts(Model):
    """``hosts.yaml``."""

    hosts: dict[str, Host] = Field(min_length=1)
