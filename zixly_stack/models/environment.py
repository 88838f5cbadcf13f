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
    """Deploy this service in this environment; `false` keeps the entry but leaves the service out."""
    version: str | None = Field(examples=["2.41.1"], default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    """Run this exact tag instead of the catalog's, in the main container and the containers that share its image."""
    data_major: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+)?$", examples=["16"])
    """The major whose data volume a data store runs on, written by `zixly upgrade` with a new PostgreSQL major
    (its volumes are then `<project>_<volume>-pg<major>`); unset: the original volumes."""
    subdomain: str | None = Field(default=None, pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        examples=["automation"])
    """Move the routes on the service's main subdomain (its first route's) to `<subdomain>.<domain>`."""
    resources: dict[str, Resources] = Field(default={}, examples=[{"n8n": {"memory": "1g", "cpus": 2.0}}])
    """Limits per container of this service, keyed by container name; replace the catalog's."""
    env: dict[str, dict[EnvVarName, EnvValue]] = Field(default={}, examples=[{"n8n": {"N8N_LOG_LEVEL": "debug"}}])
    """Extra or changed environment variables per container (`<container>: {VAR: value}`); placeholders allowed."""
    host: HostName | None = Field(default=None, examples=["vps1"])
    """Place the service on this host of hosts.yaml (otherwise: the first host with the right role)."""
    replicas: int = Field(examples=[2], default=1, ge=0, le=64)
    """Swarm mode: how many copies run (only stateless services replicate; 0 stops it)."""


class Acme(Model):
    """Let's Encrypt settings. ``challenge: dns`` gives wildcard certificates."""

    email: Email = Field(examples=["ops@example.com"])
    """Account e-mail Let's Encrypt sends expiry notices to."""
    challenge: Literal["http", "tls", "dns"] = "http"
    """How Let's Encrypt checks the domain: `http` (port 80), `tls` (port 443) or `dns` (wildcard certificates)."""
    dns_provider: DnsProvider | None = Field(default=None, examples=["cloudflare"])
    """lego DNS provider code for `challenge: dns` (its credentials go in the secrets store)."""
    staging: bool = False
    """Use Let's Encrypt's staging CA (untrusted certificates, generous rate limits) for rehearsals."""

    @model_validator(mode="after")
    def _provider(self) -> Acme:
        if self.challenge == "dns" and self.dns_provider is None:
            raise ValueError("challenge 'dns' needs dns_provider (the lego provider code, such as cloudflare)")
        return self


class Tls(Model):
    """TLS policy rendered into Traefik's file provider."""

    min_version: Literal["VersionTLS12", "VersionTLS13"] = "VersionTLS12"
    """Oldest TLS version Traefik accepts."""
    sni_strict: bool = True
    """Refuse TLS clients that send no or an unknown server name."""
    hsts_seconds: int = Field(default=31536000, ge=0, le=315360000)
    """`Strict-Transport-Security` max-age browsers remember HTTPS-only for (0: no HSTS)."""
    hsts_preload: bool = False
    """Add `preload` to HSTS (only when the domain is submitted to the browsers' preload list)."""


class RateLimit(Model):
    """One per-client token bucket: ``average`` requests per ``period``, ``burst`` at once.

    Rendered as a Traefik ``rateLimit`` middleware keyed by the client address.
    """

    average: int = Field(examples=[100], ge=1, le=100_000)
    """Requests per `period` one client address may make on average."""
    burst: int = Field(examples=[400], ge=1, le=100_000)
    """Requests one client may make at once before the average applies."""
    period: str = Field(default="1s", pattern=r"^[1-9][0-9]{0,3}(s|m|h)$")
    """The time unit of `average`: seconds (`s`), minutes (`m`) or hours (`h`)."""


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
    """Limit for a single-page app's assets (many small files on first load)."""
    ui: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["ui"])
    """Limit for pages and the API a browser UI calls."""
    api: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["api"])
    """Limit for machine clients of an API."""
    signin: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["signin"])
    """Limit for password endpoints (slows password guessing)."""
    webhook: RateLimit = RateLimit.model_validate(RATE_LIMIT_DEFAULTS["webhook"])
    """Limit for callers from other services (webhooks)."""

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
    """Address Traefik's ports listen on (`127.0.0.1`: only this machine)."""
    http_port: Port = 80
    """Host port for HTTP (redirects to HTTPS, and ACME http challenges)."""
    https_port: Port = 443
    """Host port for HTTPS."""
    dashboard: bool = True
    """Publish Traefik's dashboard (behind basic auth, user `admin`, password `edge.admin_password`)."""
    # one DNS label: it is written into a Traefik rule (Host(`<it>.<domain>`))
    dashboard_subdomain: str = Field(default="traefik", pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    """Subdomain of the dashboard: `<it>.<domain>`."""
    upload_timeout: Seconds = "3600s"
    """How long one request may take to read and write (large uploads)."""
    rate_limits: RateLimits = RateLimits()
    """The per-client rate-limit profiles routes name (docs/rate-limits.md); override single numbers."""
    # Proxies in front of the edge (a CDN, a load balancer), as addresses or CIDRs. Empty: the
    # edge faces clients itself and a client is its TCP peer address. Set: Traefik trusts
    # their X-Forwarded-For and rate limits key on the first address that is not one of them.
    trusted_proxies: list[Cidr] = Field(examples=[["173.245.48.0/20"]], default=[], max_length=64)
    """Proxies in front of the edge (a CDN, a load balancer) as addresses or CIDRs; empty: clients connect directly.
    Set: Traefik trusts their X-Forwarded-For and rate limits key on the first address that is not one of them.
    """

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
    """Daily snapshots restic keeps."""
    weekly: int = Field(default=4, ge=0, le=530)
    """Weekly snapshots restic keeps."""
    monthly: int = Field(default=6, ge=0, le=1200)
    """Monthly snapshots restic keeps."""
    checkpoints: int = Field(default=3, ge=1, le=100)
    """Upgrade checkpoints restic keeps per backed-up item, newest first, apart from the daily/weekly/monthly policy."""


class BackupTarget(Model):
    """Where restic stores snapshots: a local path, SFTP or S3-compatible URL."""

    type: Literal["local", "sftp", "s3"] = "local"
    """Where the restic repository is: a directory on the host (`local`), over SFTP, or S3-compatible storage."""
    path: HostDir | None = Field(default=None, examples=["/var/backups/zixly"])
    """`type: local`: the repository's absolute directory on each host."""
    url: RepoUrl | None = Field(default=None, examples=["sftp:backup@backup.example.com:/srv/restic/zixly"])
    """`type: sftp`/`s3`: the restic repository URL (credentials go in the secrets store)."""

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
    """Install the nightly backup (timer or cron line) on every host."""
    target: BackupTarget = BackupTarget(type="local", path="/var/backups/zixly")
    """Where snapshots go."""
    schedule: str = Field(default="03:15", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    """Time of day (host time, HH:MM) the nightly backup starts."""
    retention: Retention = Retention()
    """How many snapshots are kept (restic forget --prune)."""


class Smtp(Model):
    """SMTP settings used by apps and by notifications."""

    host: HostOrIp = Field(examples=["smtp.example.com"])
    """Mail server apps and notifications send through."""
    port: Port = 587
    """Its port (587: submission with STARTTLS)."""
    from_address: Email = Field(examples=["noreply@example.com"], alias="from")
    """Sender address of every mail (key `from`)."""
    starttls: bool = True
    """Upgrade the connection with STARTTLS."""


class Notifications(Model):
    """Where notifications go: `channels` of Apprise URLs (docs/notifications.md); `webhook`/`email_to` still work.

    The older ``webhook`` (a Slack-compatible incoming webhook) and ``email_to`` (through
    ``smtp``) each become a channel (named ``webhook`` / ``email``) taking every event.
    """

    webhook: HttpUrl | None = Field(default=None, examples=["https://hooks.example.com/services/T000/B000/XXXX"])
    """A Slack-compatible incoming webhook taking every event (older form of a channel)."""
    email_to: list[Email] = Field(examples=[["ops@example.com"]], default=[], max_length=50)
    """Addresses that get every event by e-mail through `smtp` (older form of a channel)."""
    channels: list[Channel] = Field(default=[], max_length=32,
        examples=[[{"name": "ops", "url": "ntfy://ntfy.sh/zixly-example-ops", "events": ["backup.*", "deploy.*"],
                    "min_severity": "warning"}]])
    """Apprise channels with the events each takes (docs/notifications.md)."""


class Images(Model):
    """Where images come from: upstream registries, a mirror, or the offline kit."""

    source: Literal["upstream", "mirror", "offline"] = "upstream"
    """Where images come from: their upstream registries, a `mirror`, or the `offline` kit built on this machine."""
    mirror: Registry | None = Field(default=None, examples=["registry.example.com"])
    """Registry that mirrors every upstream image (`images.source: mirror`)."""
    allow_standins: bool = False
    """Let the offline kit run labelled stand-ins for apps it cannot build (local test environments only)."""


class Swarm(Model):
    """Settings of ``mode: swarm`` (Docker Swarm stacks); see docs/swarm.md."""

    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    """How a swarm service is reached: a virtual IP (`vip`) or DNS round robin (`dnsrr`)."""
    update_delay: Duration = "5s"
    """Pause between updating two replicas."""
    monitor: Duration = "30s"
    """How long an updated task is watched before the update counts as good."""
    converge_timeout: int = Field(default=600, ge=10, le=7200)
    """Seconds a deploy waits for every service to converge before it rolls back."""


class Environment(Model):
    """One deployment target (local, staging, production, a demo...)."""

    domain: DomainName = Field(examples=["example.com"])
    """Apps are served on `<subdomain>.<domain>`; `localhost` (or `*.localhost`) marks a test environment."""
    description: Text = Field(default="", examples=["Production for Example Ltd"])
    """What this environment is for (shown by commands that list environments)."""
    mode: Literal["compose", "swarm"] = "compose"
    """Run the services as Compose projects per host (`compose`) or as Docker Swarm stacks (`swarm`)."""
    swarm: Swarm = Swarm()
    """Settings of `mode: swarm`."""
    stores: Literal["shared", "dedicated"] = "shared"
    """Data stores shared by all apps (`shared`, least RAM) or one server per app (`dedicated`)."""
    acme: Acme | None = Field(default=None, examples=[{"email": "ops@example.com"}])
    """Let's Encrypt certificates; a public domain needs it."""
    tls: Tls = Tls()
    """TLS policy of the edge."""
    edge: Edge = Edge()
    """How Traefik is published on each host."""
    timezone: TimeZone = Field(default="UTC", examples=["Europe/Berlin"])
    """IANA time zone apps run in (`${setting:timezone}`)."""
    admin_email: Email = Field(default="admin@example.com", examples=["admin@example.com"])
    """The administrator's address: apps' first admin user (`${setting:admin_email}`)."""
    smtp: Smtp | None = Field(default=None, examples=[{"host": "smtp.example.com", "from": "noreply@example.com"}])
    """Mail server for apps and notifications."""
    images: Images = Images()
    """Where images come from."""
    base_dir: HostDir = "/opt/zixly"
    """Directory on each host releases, rendered files and state live under."""
    services: dict[str, ServiceOverride | None] = Field(default={}, examples=[
        {"traefik": None, "socket-proxy": None, "postgres": None, "redis": None, "warehouse": None,
         "n8n": {"version": "2.41.1"}}])
    """The catalog services this environment runs, keyed by name; an empty entry runs the catalog's definition."""
    backup: Backup = Backup()
    """Nightly backups."""
    notifications: Notifications = Notifications()
    """Where events (failed deploys, backups, health) are sent."""
    # Container memory budget of each host that declares no ``memory`` (and of this
    # machine for client demos, docs/demo.md).
    memory_budget: MemSize | None = Field(default=None, examples=["8g"])
    """Container memory budget of each host that declares no `memory` (and of this machine for client demos)."""


class HostPrepare(Model):
    """Host preparation steps; each can be switched off per host."""

    docker: bool = True
    """Install the Docker engine (`docker.io`) and the Compose v2 plugin when missing."""
    daemon_json: bool = True
    """Add `live-restore` and json-file log rotation to Docker's `daemon.json` (its other keys kept)."""
    deploy_user: bool = True
    """Create a `deploy` user in the docker group, with the authorized keys of the user zixly connects as."""
    firewall: bool = True
    """Load an nftables table that drops inbound traffic except SSH, 80 and 443 (and swarm's ports in swarm mode)."""
    ssh_hardening: bool = True
    """Key-only SSH: password and keyboard-interactive login, and root login with a password, turned off."""
    unattended_upgrades: bool = True
    """Install `unattended-upgrades` (daily package lists and upgrades)."""
    backup_schedule: bool = True  # also on @local: the nightly backup's timer / cron line
    """Install the nightly backup's timer / cron line (also on `@local`)."""
    health_schedule: bool = True  # also on @local: the health agent every 5 minutes
    """Install the health agent every 5 minutes (also on `@local`)."""
    notify: bool = True  # also on @local: the apprise CLI (Debian package) when channels are configured
    """Install the apprise CLI when channels are configured (also on `@local`)."""
    demo_reap_schedule: bool = True
    """Install the client demos' reap job every 15 minutes on remote hosts running the edge (`docs/demo.md`)."""


class Host(Model):
    """A machine the stack runs on. ``address: "@local"`` is this machine."""

    address: str = Field(examples=["203.0.113.10"])
    """How to reach the machine: `"@local"` (this machine, no SSH), an IPv4/IPv6 address or a DNS host name."""
    user: UnixUser = Field(default="root", examples=["deploy"])
    """SSH user (root, or a user with sudo)."""
    port: Port = 22
    """SSH port."""
    ssh_key: Text | None = Field(default=None, examples=["~/.ssh/id_ed25519"])
    """Private key file for SSH (otherwise the SSH agent's keys and ~/.ssh)."""
    roles: list[Literal["edge", "apps", "stores", "manager", "worker"]] = ["edge", "apps", "stores"]
    """What runs here: the `edge` (Traefik), `apps`, data `stores`; swarm `manager`/`worker`."""
    services: list[str] = Field(default=[], examples=[["n8n"]])
    """Catalog services pinned to this host (besides what its roles place here)."""
    labels: dict[NodeLabelKey, NodeLabelValue] = Field(default={}, examples=[{"zone": "eu-1"}])
    """Swarm node labels set on this host."""
    prepare: HostPrepare = HostPrepare()
    """Which host preparation steps `zixly deploy` runs here."""
    # The machine's RAM. The sum of the memory limits of the containers placed here must
    # fit memory - memory_reserved (render refuses otherwise; docs/data-stores.md "Memory budget").
    memory: MemSize | None = Field(default=None, examples=["16g"])
    """The machine's RAM; the memory limits of the containers placed here must fit `memory - memory_reserved`."""
    # Left to the kernel, systemd/journald, sshd, dockerd + containerd and one shim per
    # container (~40 here), and restic during the nightly backup.
    memory_reserved: MemSize = "1536m"
    """RAM left to the kernel, systemd, sshd, dockerd and the nightly restic."""

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

    hosts: dict[HostName, Host] = Field(min_length=1,
        examples=[{"vps1": {"address": "203.0.113.10", "user": "deploy", "memory": "16g"}}])
    """The machines, keyed by host name."""

    @property
    def all_local(self) -> bool:
        """True when every host is this machine (``@local``)."""
        return all(h.is_local for h in self.hosts.values())
