"""Planner inputs derived from a loaded environment: targets and project specs. Pure."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from ..catalog.stack import KIND_ORDER, STORE_KINDS, Stack
from ..notify.channels import declared
from ..render import demo_reap
from ..render.tree import RenderedFile
from .compute import ImageSource, ProjectSpec, Target
from .prepare import PrepareSpec

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> int:
    """``"180s"`` -> 180, ``"10m"`` -> 600 (catalog Duration strings); at least 1."""
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h)", duration.strip())
    if not m:
        raise ValueError(f"not a duration: {duration!r}")
    return max(1, int(int(m.group(1)) * _UNITS[m.group(2)]))


def project_specs(stack: Stack, host: str) -> dict[str, ProjectSpec]:
    """Per service directory on *host*: deploy stage, wait timeout and hooks.

    Stages follow the catalog's kind order (stores 0, infra 1, edge 2, apps 3); in
    dedicated store mode an app's project also starts its store, which its own
    ``depends_on`` orders.
    """
    out: dict[str, ProjectSpec] = {}
    for placed in stack.on_host(host):
        svc = placed.service
        stage = KIND_ORDER.get(svc.kind, 3)
        if svc.kind == "store" and svc.name not in STORE_KINDS:
            stage = KIND_ORDER["store"]
        out[svc.name] = ProjectSpec(
            directory=svc.name,
            stage=stage,
            wait_timeout=seconds(svc.wait_timeout),
            hooks=tuple(h.name for h in svc.hooks),
        )
    return out


HealthFiles = tuple[tuple[tuple[str, str, str], ...], dict[str, str]]  # (agent files, units)


def health_install(files: Sequence[RenderedFile], host: str, env: str) -> HealthFiles:
    """*host*'s health agent from :func:`zixly_stack.health.schedule.render_schedule` output:
    the files for ``<base_dir>/<env>/health`` (absolute paths) and the units by suffix."""
    agent: list[tuple[str, str, str]] = []
    units: dict[str, str] = {}
    for f in files:
        parts = f.path.split("/")
        if len(parts) != 3 or parts[0] != host or parts[1] != "health":
            continue
        stem, _, suffix = parts[2].rpartition(".")
        if stem == f"zixly-health-{env}" and suffix in ("service", "timer", "cron"):
            units[suffix] = f.text
        else:
            agent.append((parts[2], f.text, f"{f.mode:04o}"))
    return tuple(agent), units


def targets(stack: Stack, image_source: ImageSource, base_dir: str, *,
            compose_plugin: str | None = None, local_cron_dir: str = "/etc/cron.d",
            health: Sequence[RenderedFile] = ()) -> list[Target]:
    """One :class:`Target` per host that runs something, in declaration order.

    Remote hosts carry their preparation (:mod:`.prepare`); ``@local`` only its backup
    schedule: this machine's engine is set up by ``python -m zixly_stack.engine`` / ``zixly up``.
    """
    out = []
    for name in stack.host_names():
        host = stack.hosts[name]
        local = host.address == "@local"
        agent, units = health_install(health, name, stack.env_name)
        health_dir = posixpath.join(base_dir, stack.env_name, "health")
        files = tuple((posixpath.join(health_dir, f), text, mode) for f, text, mode in agent)
        swarm = stack.environment.mode == "swarm"
        peers = tuple(h.address for n, h in stack.hosts.items() if n != name)
        on = frozenset(k for k, v in host.prepare.model_dump().items() if v)
        if local:  # this machine's engine is set up by `zixly up`: only the schedules and the apprise CLI
            on &= {"backup_schedule", "health_schedule", "notify"}
        demo_files, demo_units = ((), {}) if local else demo_reap.install(stack, base_dir, name)
        prep = PrepareSpec(name, stack.env_name, on, host.port, swarm, peers, None if local else compose_plugin,
                           cron_dir=local_cron_dir if local else "/etc/cron.d", health_files=files,
                           health_units=units, channels=bool(declared(stack.environment)),
                           demo_files=demo_files, demo_units=demo_units)
        out.append(Target(name, stack.env_name, base_dir, image_source, local=local, prepare=prep))
    return out
