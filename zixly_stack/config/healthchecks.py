"""The health suite as data: ``healthchecks/default.yaml`` overlaid by ``healthchecks/<env>.yaml``.

Contract: :func:`load_settings` returns validated :class:`Settings` (unknown keys are errors,
reported as :class:`~zixly_stack.errors.ConfigError` with the file); a missing overlay is fine,
a missing default file means built-in defaults. Overlays merge mappings key by key and
replace lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from ..errors import ConfigError, Location, Problem
from ..models.base import Model
from .yamlsrc import load_yaml

KINDS = ("http", "tls", "container", "host", "backup", "image", "dns", "notify", "drift")  # the report's check kinds


def resolve_path(root: Path, text: str, env: str) -> Path:
    """A settings path (``state_dir``, ``backup.status_file``): ``{env}`` substituted, ``~`` expanded,
    relative to ``root``."""
    path = Path(text.replace("{env}", env)).expanduser()
    return path if path.is_absolute() else root / path


class HttpSettings(Model):
    """Probes through the edge proxy."""

    timeout_s: float = Field(default=10.0, gt=0, le=300)
    """Seconds one probe may take."""
    warn_ms: float = Field(default=2000.0, gt=0)
    """Answers slower than this many milliseconds are a warning."""
    concurrency: int = Field(default=32, ge=1, le=512)
    """Network probes at the same time."""


class TlsSettings(Model):
    """Certificate expiry thresholds (days left)."""

    warn_days: int = Field(default=21, ge=0)
    """A certificate with fewer days left is a warning."""
    critical_days: int = Field(default=3, ge=0)
    """A certificate with fewer days left is critical."""


class ContainerSettings(Model):
    """Engine-side container checks."""

    max_restarts: int = Field(default=3, ge=0)
    """More restarts than this is a warning."""


class HostSettings(Model):
    """Disk and memory thresholds (percent used)."""

    disk_paths: list[str] = Field(default=["/"], examples=[["/", "/var/lib/docker"]])
    """Mount points whose disk use is checked."""
    disk_warn_pct: float = Field(default=85, gt=0, le=100)
    """Disk use (percent) that is a warning."""
    disk_critical_pct: float = Field(default=95, gt=0, le=100)
    """Disk use (percent) that is critical."""
    memory_warn_pct: float = Field(default=90, gt=0, le=100)
    """Memory use (percent) that is a warning."""
    memory_critical_pct: float = Field(default=98, gt=0, le=100)
    """Memory use (percent) that is critical."""


class BackupSettings(Model):
    """Backup freshness: the latest snapshot's age per service.

    By default it is read from the status file the backup script writes on each host
    (``<base_dir>/<env>/backup/status.json``, :mod:`zixly_stack.render.backup.status`). ``status_file``
    names one such file on this machine instead (``{env}`` is replaced by the environment
    name; relative paths are from the repo root); the on-host agent then reads that path too.
    """

    max_age_hours: float = Field(default=26, gt=0)
    """A latest snapshot older than this is a warning (a missed night)."""
    critical_age_hours: float = Field(default=72, gt=0)
    """A latest snapshot older than this is critical."""
    status_file: str = Field(examples=["build/{env}-backup-status.json"], default="", max_length=4096)
    """A backup status file on this machine to read instead of each host's (`{env}` substituted; relative to the
    repository).
    """


class DnsSettings(Model):
    """Resolve each route's host name; names ending in a skipped suffix are not resolved."""

    enabled: bool = True
    """Resolve each route's host name."""
    skip_suffixes: list[str] = Field(default=[".localhost"], examples=[[".localhost", ".internal"]])
    """Host names ending in one of these are not resolved."""


class ExtraHttp(Model):
    """An extra HTTP check through the edge: ``https://<subdomain>.<domain><path>``."""

    app: str = Field(examples=["n8n"])
    """The service the check belongs to (its report section)."""
    name: str = Field(examples=["settings"], pattern=r"^[a-z0-9][a-z0-9._-]*$")
    """The check's name in the report."""
    subdomain: str = Field(examples=["n8n"])
    """Probed at `https://<subdomain>.<domain><path>`."""
    path: str = Field(examples=["/rest/settings"], default="/", pattern=r"^/")
    """The path probed."""
    status: int = Field(default=200, ge=100, le=599)
    """The HTTP status that counts as healthy."""
    body: str | None = Field(default=None, examples=["ok"])
    """Text the answer's body must contain."""


class NotifySettings(Model):
    """When notifications go out: on any status change, plus a daily digest after ``digest_hour`` UTC."""

    digest: bool = True
    """Send a daily digest besides the status changes."""
    digest_hour: int = Field(default=8, ge=0, le=23)
    """Hour (UTC) after which the day's digest goes out."""


class Settings(Model):
    """The whole suite."""

    http: HttpSettings = HttpSettings()
    """Probes through the edge proxy."""
    tls: TlsSettings = TlsSettings()
    """Certificate expiry thresholds."""
    containers: ContainerSettings = ContainerSettings()
    """Engine-side container checks."""
    host: HostSettings = HostSettings()
    """Disk and memory thresholds."""
    backup: BackupSettings = BackupSettings()
    """Backup freshness."""
    dns: DnsSettings = DnsSettings()
    """DNS resolution of route host names."""
    notify: NotifySettings = NotifySettings()
    """When health notifications go out."""
    extra_http: list[ExtraHttp] = Field(default=[],
        examples=[[{"app": "n8n", "name": "settings", "subdomain": "n8n", "path": "/rest/settings"}]])
    """Extra HTTP checks through the edge."""
    skip: list[str] = Field(default=[], examples=[["dns"]])
    """Check kinds to skip: http, tls, container, host, backup, image, dns, notify, drift."""
    state_dir: str = "~/.local/state/zixly/health"
    """Where the history database and notification state live (`~` expanded, relative to the repository)."""


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read(path: Path, root: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data, _ = load_yaml(path, str(path), root)  # bounded: aliases, nesting and size are limited there
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(Location(str(path)), "", "expected a mapping", "")])
    return data


def load_settings(directory: Path, env: str) -> Settings:
    """Validated settings for ``env`` from ``directory`` (``healthchecks/``)."""
    files = [directory / "default.yaml", directory / f"{env}.yaml"]
    data: dict[str, Any] = {}
    for f in files:
        data = _merge(data, _read(f, directory.parent))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        where = ", ".join(str(f) for f in files if f.is_file()) or str(directory)
        raise ConfigError(
            [
                Problem(Location(where), ".".join(str(p) for p in e["loc"]), e["msg"], "")
                for e in exc.errors()
            ]
        ) from None
    bad = [k for k in settings.skip if k not in KINDS]
    if bad:
        raise ConfigError(
            [Problem(Location(str(files[0])), "skip", f"unknown check kind(s) {bad}", f"one of {list(KINDS)}")]
        )
    return settings
