"""The client demos' reap job on the hosts that may carry demos. Pure.

A host may carry demos when it runs the environment's edge (Traefik) in compose mode. Every
deploy installs there (host preparation step ``demo_reap_schedule``, :mod:`zixly_stack.plan.prepare`)
the demo host tool (:mod:`zixly_stack.demo.hostside`, shipped verbatim: standard library
only, no zixly package on the host) in ``<base_dir>/<env>/demo/`` and a timer -- or, without
systemd, a cron line -- running its ``reap`` every 15 minutes with the host's ``python3``: an
expired demo disappears with no operator machine on.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from ..catalog.stack import Stack
from .schedule import Calendar, Schedule, schedule_files

# Read as data, not imported: the tool belongs to the demo package, which renders nothing.
TOOL_SOURCE = Path(__file__).resolve().parents[1] / "demo" / "hostside.py"
TOOL_NAME = "zixly-demo-host.py"
INTERVAL_MIN = 15


def demo_hosts(stack: Stack) -> list[str]:
    """The hosts that may carry demos: those running the environment's edge (Traefik), in compose mode."""
    if stack.environment.mode == "swarm":
        return []
    return [h for h in stack.host_names() if any(p.name == "traefik" for p in stack.on_host(h))]


def demos_dir(base_dir: str) -> str:
    """``<base_dir>/demos``: the demos' registry and state on the host."""
    return posixpath.join(base_dir, "demos")


def tool_path(base_dir: str, env: str) -> str:
    """``<base_dir>/<env>/demo/zixly-demo-host.py``."""
    return posixpath.join(base_dir, env, "demo", TOOL_NAME)


def schedule(env: str, base_dir: str, interval_min: int = INTERVAL_MIN) -> Schedule:
    """The reap job of *env*'s demos: the host tool's ``reap`` every *interval_min* minutes."""
    return Schedule(
        name=f"zixly-demo-reap-{env}",
        description=f"zixly: remove the expired client demos of {env}",
        argv=("/usr/bin/python3", tool_path(base_dir, env), "reap", demos_dir(base_dir), env),
        calendar=Calendar(every_minutes=interval_min),
        wants=("docker.service",), after=("docker.service",),
        randomized_delay="60", log="/dev/null", lock=True,
    )


def units(env: str, base_dir: str, interval_min: int = INTERVAL_MIN) -> dict[str, str]:
    """``service``/``timer``/``cron`` -> text of the reap job (:mod:`zixly_stack.render.schedule`)."""
    return schedule_files(schedule(env, base_dir, interval_min))


def install(stack: Stack, base_dir: str, host: str) -> tuple[tuple[tuple[str, str, str], ...], dict[str, str]]:
    """(files (path, text, mode), units) of the reap job on *host*; nothing for a host that carries no demos."""
    if host not in demo_hosts(stack):
        return (), {}
    tool = ((tool_path(base_dir, stack.env_name), TOOL_SOURCE.read_text(encoding="utf-8"), "0755"),)
    return tool, units(stack.env_name, base_dir)
