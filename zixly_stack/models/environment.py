"""Environment model: ``inventories/<env>/environment.yaml`` and ``hosts.yaml``."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .base import Model
from .notify import Channel
from .service import MemSize, Resources
from .types import (
    DnsProvider,
    Duration,
    Email,
    EnvValue,
    EnvVarName,
    HostDir,
    HostName,
    HostOrIp,
    HttpUrl,
    IpAddress,
    NodeLabelKey,
    NodeLabelValue,
    Registry,
    RepoUrl,
    Seconds,
    Text,
    TimeZone,
    UnixUser,
)

DomainName = Annotated[
    str,
    Field(
        max_length=253,
        pattern=r"^localhost$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$",
    ),
]
Port = Annotated[int, Field(ge=1, le=65535)]


class ServiceOverride(Model):
    """Per-environment changes to one catalog service."""

    enabled: bool = True
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    subdomain: str | None = Field(default=None, pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    resources: dict[str, Resources] = {}
    env: dict[str, dict[EnvVarName, EnvValue]] = {}
    host: HostName | None = None
    replicas: int = Field(default=1, ge=0, le=64)


class Acme(Model):
    """Let's Encrypt settings. ``challenge: dns`` gives wildcard certificates."""

    email: Email
    challenge: Literal["http", "tls", "dns"] = "http"
    dns_provider: DnsProvider | None = None
    staging: bool = False

    @model_validator(mode="after")
    def _provider(self) -> Acme:
        if self.challenge == "dns" and self.dns_provider is None:
            raise ValueError("challenge 'dns' needs dns_provider (the lego provider code, such as cloudflare)")
        return self


class Tls(Model):
    """TLS policy rendered into Traefik's file provider."""

    min_version: Literal["VersionTLS12", "VersionTLS13"] = "VersionTLS12"
    sni_strict: bool = True
    hsts_seconds: int = Field(default=31536000, ge=0, le=315360000)
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

    bind: IpAddress = "0.0.0.0"
    http_port: Port = 80
    https_port: Port = 443
    dashboard: bool = True
    # one DNS label: it is written into a Traefik rule (Host(`<it>.<domain>`))
    dashboard_subdomain: str = Field(default="traefik", pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    upload_timeout: Seconds = "3600s"
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

    daily: int = Field(default=7, ge=0, le=3660)
    weekly: int = Field(default=4, ge=0, le=530)
    monthly: int = Field(default=6, ge=0, le=1200)


class BackupTarget(Model):
    """Where restic stores snapshots: a local path, SFTP or S3-compatible URL."""

    type: Literal["local", "sftp", "s3"] = "local"
    path: HostDir | None = None
    url: RepoUrl | None = None

    @model_validator(mode="after")
    def _complete(self) -> BackupTarget:
        if self.type == "local" and self.path is None:
            raise ValueError("a local target needs 'path' (an absolute directory such as /var/backups/zixly)")
        if self.type == "sftp" and self.url is None:
            raise ValueError("an sftp target needs 'url' (such as sftp:backup@backup.example.com:/srv/restic/zixly)")
        if self.type == "s3" and self.url is None:
            raise ValueError("an s3 target needs 'url' (such as s3:https://s3.eu-central-1.amazonaws.com/bucket/zixly)")
        if self.type == "sftp" and self.url is not None and not self.url.startswith("sftp:"):
            raise ValueError(f"an sftp target needs an sftp: URL, got {self.url!r}")
        if self.type == "s3" and self.url is not None and not self.url.startswith(("s3:", "https://", "http://")):
            raise ValueError(f"an s3 target needs an s3: or http(s):// endpoint URL, got {self.url!r}")
        return self


class Backup(Model):
    """Nightly backup settings."""

    enabled: bool = True
    target: BackupTarget = BackupTarget(type="local", path="/var/backups/zixly")
    schedule: str = Field(default="03:15", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    retention: Retention = Retention()


class Smtp(Model):
    """SMTP settings used by apps and by notifications."""

    host: HostOrIp
    port: Port = 587
    from_address: Email = Field(alias="from")
    starttls: bool = True


class Notifications(Model):
    """Where notifications go: `channels` of Apprise URLs (docs/notifications.md); `webhook`/`email_to` still work.

    The older ``webhook`` (a Slack-compatible incoming webhook) and ``email_to`` (through
    ``smtp``) each become a channel (named ``webhook`` / ``email``) taking every event.
    """

    webhook: HttpUrl | None = None
    email_to: list[Email] = Field(default=[], max_length=50)
    channels: list[Channel] = Field(default=[], max_length=32)


class Images(Model):
    """Where images come from: upstream registries, a mirror, or the offline kit."""

    source: Literal["upstream", "mirror", "offline"] = "upstream"
    mirror: Registry | None = None
    allow_standins: bool = False


class Swarm(Model):
    """Settings of ``mode: swarm`` (Docker Swarm stacks); see docs/swarm.md."""

    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    update_delay: Duration = "5s"
    monitor: Duration = "30s"
    converge_timeout: int = Field(default=600, ge=10, le=7200)


class Environment(Model):
    """One deployment target (local, staging, production, a demo...)."""

    domain: DomainName
    description: Text = ""
    mode: Literal["compose", "swarm"] = "compose"
    swarm: Swarm = Swarm()
    stores: Literal["shared", "dedicated"] = "shared"
    acme: Acme | None = None
    tls: Tls = Tls()
    edge: Edge = Edge()
    timezone: TimeZone = "UTC"
    admin_email: Email = "admin@example.com"
    smtp: Smtp | None = None
    images: Images = Images()
    base_dir: HostDir = "/opt/zixly"
    services: dict[str, ServiceOverride | None] = Field(default={}, description="keys: catalog service names")
    backup: Backup = Backup()
    notifications: Notifications = Notifications()
    # Container memory budget of each host that declares no ``memory`` (and of this
    # machine for client demos, docs/demo.md).
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
    notify: bool = True  # also on @local: the apprise CLI (Debian package) when channels are configured
    demo_reap_schedule: bool = True  # remote hosts running the edge: the client demos' reap job (docs/demo.md)


class Host(Model):
    """A machine the stack runs on. ``address: "@local"`` is this machine."""

    address: str = Field(description='"@local", an IPv4/IPv6 address or a DNS host name')
    user: UnixUser = "root"
    port: Port = 22
    ssh_key: Text | None = None
    roles: list[Literal["edge", "apps", "stores", "manager", "worker"]] = ["edge", "apps", "stores"]
    services: list[str] = []
    labels: dict[NodeLabelKey, NodeLabelValue] = {}
    prepare: HostPrepare = HostPrepare()
    # The machine's RAM. The sum of the memory limits of the containers placed here must
    # fit memory - memory_reserved (render refuses otherwise; docs/data-stores.md "Memory budget").
    memory: MemSize | None = None
    # Left to the kernel, systemd/journald, sshd, dockerd + containerd and one shim per
    # container (~40 here), and restic during the nightly backup.
    memory_reserved: MemSize = "1536m"

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return check_address(value)

    @property
    def is_local(self) -> bool:
        """True for ``address: "@local"`` (this machine, no SSH)."""
        return self.address == "@local"


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

    hosts: dict[HostName, Host] = Field(min_length=1)

    @property
    def all_local(self) -> bool:
        """True when every host is this machine (``@local``)."""
        return all(h.is_local for h in self.hosts.values())
