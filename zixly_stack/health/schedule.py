"""The host-side health schedule, rendered per host. Pure.

Contract: :func:`render_schedule` turns a loaded environment and the health settings into,
per host, under ``<host>/health/``:

* ``checks.json`` -- what the on-host agent (:mod:`.agent`) checks there: every route of
  the host's edge (connecting to the edge's own bind address, loopback for ``0.0.0.0``),
  the containers the host should run, disk/memory thresholds, the backup status file, and
  where notifications go (webhook, email through the environment's SMTP relay). No secret:
  the agent needs none.
* ``zixly-health-agent.py`` -- the agent itself, verbatim (standard-library Python 3).
* ``zixly-health-<env>.service`` + ``zixly-health-<env>.timer`` -- a oneshot run every
  ``interval_min`` minutes (``Persistent=``, randomised delay), hardened; warnings and
  criticals are not unit failures (exit 1/2 are the report's verdict).
* ``zixly-health-<env>.cron`` -- the same schedule for hosts without systemd
  (``/etc/cron.d`` format, ``flock`` against overlapping runs).

Paths on the host: the files are installed in ``<base_dir>/<env>/health`` (beside the
releases, not inside them: a rollback must not roll the monitoring back), the units in
``/etc/systemd/system`` or the cron file in ``/etc/cron.d``; state in
``/var/lib/zixly/<env>/health``. Same inputs, byte-identical files.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from ..config.healthchecks import Settings
from ..notify.channels import declared
from ..notify.events import get
from ..project import Loaded
from ..render import NOTIFY_CONFIG
from ..render.backup.status import state_dir, status_path
from ..render.demo_reap import demo_hosts, demos_dir
from ..render.schedule import Calendar, Schedule, schedule_files
from ..render.tree import RenderedFile
from .checks import derive

AGENT = Path(__file__).with_name("agent.py")
INTERVAL_MIN = 5
AGENT_STATE = "/var/lib/zixly/{env}/health"  # the agent's state directory on every host (last.json, outbox)
# the events the agent emits (zixly_stack/notify/events.py has them all)
AGENT_EVENTS = ("backup.missing", "cert.expiring", "host.disk", "host.memory", "health.changed", "digest.daily",
                "demo.expiring")
DEMO_WARN_HOURS = 24


def _config(loaded: Loaded, settings: Settings, host: str) -> dict[str, Any]:
    env = loaded.config.environment
    stack = loaded.stack
    suite = derive(loaded, settings, offline=True)
    bind = env.edge.bind
    local_edge = "127.0.0.1" if bind in ("0.0.0.0", "") else bind.strip("[]")
    http = [
        {"id": c.check_id, "app": c.app, "address": local_edge, "port": c.edge.port, "vhost": c.vhost,
         "path": c.path, "status": c.status, "body": c.body, "warn_ms": c.warn_ms, "timeout_s": c.timeout_s}
        for c in suite.http if c.edge.host == host
    ]
    containers = [
        {"app": e.app, "container": e.container}
        for engine in suite.engines if engine.host == host for e in engine.expected
    ]
    certs = [{"id": c.check_id, "app": c.app, "address": local_edge, "port": c.edge.port, "vhost": c.server_name}
             for c in suite.tls if c.edge.host == host]
    on_host = {p.name for p in stack.on_host(host)}
    backups = [b.app for b in suite.backups if b.app in on_host]
    return {
        "version": 1,
        "environment": stack.env_name,
        "host_name": host,
        "state_dir": AGENT_STATE.format(env=stack.env_name),
        "concurrency": settings.http.concurrency,
        "http": http,
        "containers": containers,
        "host": settings.host.model_dump(),
        "backup": {
            "status_file": settings.backup.status_file.replace("{env}", stack.env_name)
            or status_path(env.base_dir, stack.env_name),
            "max_age_hours": settings.backup.max_age_hours,
            "critical_age_hours": settings.backup.critical_age_hours,
            "services": backups,
        } if "backup" not in suite.skipped else None,
        "tls": {"warn_days": settings.tls.warn_days, "critical_days": settings.tls.critical_days,
                "timeout_s": settings.http.timeout_s, "checks": certs} if "tls" not in suite.skipped else None,
        "notify": _notify(loaded, settings),
        "demos": {"dir": demos_dir(env.base_dir), "warn_hours": DEMO_WARN_HOURS} if host in demo_hosts(stack) else None,
    }


def _notify(loaded: Loaded, settings: Settings) -> dict[str, Any]:
    """Where the agent's notifications go: channel names and filters only; the URLs are in the
    release's ``notify/apprise.txt`` (secret, 0600), read by the ``apprise`` CLI."""
    env = loaded.config.environment
    name = loaded.stack.env_name
    base = posixpath.join(env.base_dir, name)
    return {
        "digest": settings.notify.digest,
        "digest_hour": settings.notify.digest_hour,
        "apprise": ["apprise"],
        "config": posixpath.join(base, "current", NOTIFY_CONFIG),
        "outboxes": [posixpath.join(state_dir(env.base_dir, name), "outbox")],  # the backup script's
        "channels": [{"name": c.name, "events": list(c.events), "min_severity": c.min_severity,
                      "timeout_s": c.timeout_s} for c in declared(env)],
        "events": {e: {"severity": get(e).severity, "title": get(e).title} for e in AGENT_EVENTS},
    }


def units(env: str, health_dir: str, interval_min: int = INTERVAL_MIN, backup_outbox: str = "") -> dict[str, str]:
    """``{file name: text}`` of the systemd service + timer and the cron fallback (*backup_outbox*:
    the backup script's undelivered notifications, which the agent retries)."""
    texts = schedule_files(agent_schedule(env, health_dir, interval_min, backup_outbox))
    return {f"zixly-health-{env}.{kind}": text for kind, text in texts.items()}


def agent_schedule(env: str, health_dir: str, interval_min: int = INTERVAL_MIN, backup_outbox: str = "") -> Schedule:
    """The agent every *interval_min* minutes from boot, hardened: it writes only its state and the
    backup outbox; exit 1/2 (warning/critical, the report's verdict) are not unit failures."""
    state = AGENT_STATE.format(env=env)
    writable = state + (f" -{backup_outbox}" if backup_outbox else "")
    return Schedule(
        name=f"zixly-health-{env}",
        description=f"zixly health checks of {env} (on-host probes; notifies on change, daily digest)",
        argv=("/usr/bin/python3", posixpath.join(health_dir, "zixly-health-agent.py"),
              "--config", posixpath.join(health_dir, "checks.json")),
        calendar=Calendar(every_minutes=interval_min, after_boot="2min"),
        documentation=f"file://{health_dir}/checks.json",
        wants=("docker.service",), after=("docker.service", "network-online.target"),
        options=(("SuccessExitStatus", "1 2"), ("TimeoutStartSec", "300"), ("StateDirectory", f"zixly/{env}/health"),
                 ("StateDirectoryMode", "0700"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                 ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("ReadWritePaths", writable)),
        randomized_delay="30", log="/dev/null", lock=True,
    )


def render_schedule(loaded: Loaded, settings: Settings) -> tuple[RenderedFile, ...]:
    """Every host's ``health/`` files (module contract)."""
    env = loaded.config.environment
    stack = loaded.stack
    agent = AGENT.read_text(encoding="utf-8")
    out: list[RenderedFile] = []
    for host in stack.host_names():
        health_dir = posixpath.join(env.base_dir, stack.env_name, "health")
        config = json.dumps(_config(loaded, settings, host), indent=2, sort_keys=True) + "\n"
        out.append(RenderedFile(f"{host}/health/checks.json", config, 0o644))
        out.append(RenderedFile(f"{host}/health/zixly-health-agent.py", agent, 0o755))
        outbox = posixpath.join(state_dir(env.base_dir, stack.env_name), "outbox")
        for fname, text in units(stack.env_name, health_dir, backup_outbox=outbox).items():
            out.append(RenderedFile(f"{host}/health/{fname}", text, 0o644))
    return tuple(out)
