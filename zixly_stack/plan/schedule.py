"""ONE installer of schedules, planned: what to write and run so a host has a job's timer (or cron line). Pure.

A schedule is rendered as three texts (:func:`zixly_stack.render.schedule.schedule_files`:
``service``/``timer``/``cron``). :func:`schedule_steps` compares them with what a host has (the
sha256 of each file there, ``""`` when absent) and returns the files to write and the commands to
run: with systemd the service + timer in ``/etc/systemd/system`` (``daemon-reload``, ``enable
--now``) and any cron line of an earlier install without systemd removed; without systemd the
``/etc/cron.d`` file. No *units* means remove whatever form is installed. Nothing to do: ``None``.

Two executors run the plan: the deploy's host preparation (:mod:`zixly_stack.plan.prepare`, over
SSH or on ``@local``) and :mod:`zixly_stack.timers` on this machine (``zixly demo schedule
--install``, ``zixly backup schedule-drill --install``, ``zixly down``).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..commands import systemd as sd

UNIT_DIR = "/etc/systemd/system"
CRON_DIR = "/etc/cron.d"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def timer_paths(name: str, cron_dir: str = CRON_DIR) -> dict[str, str]:
    """Where a schedule's units (systemd) or cron line go on a host."""
    return {"service": f"{UNIT_DIR}/{name}.service", "timer": f"{UNIT_DIR}/{name}.timer",
            "cron": posixpath.join(cron_dir, name)}


@dataclass(frozen=True)
class ScheduleSteps:
    """Files (path, text, mode) to write, then commands to run; *how* says which form, for people."""

    how: str
    files: tuple[tuple[str, str, str], ...] = ()
    argvs: tuple[tuple[str, ...], ...] = ()
    removing: bool = False


def schedule_steps(name: str, units: Mapping[str, str], shas: Mapping[str, str], *, systemd: bool,
                   cron_dir: str = CRON_DIR, extra: Sequence[tuple[str, str, str]] = ()) -> ScheduleSteps | None:
    """Install schedule *name* from *units* (``service``/``timer``/``cron`` -> text), or remove it when
    *units* is empty (module contract). *shas*: path on the host -> sha256 of the file there (missing
    or ``""``: absent). *extra*: more files the job needs (path, text, mode), written when changed."""
    paths = timer_paths(name, cron_dir)
    timer = posixpath.basename(paths["timer"])
    installed = [p for p in paths.values() if shas.get(p)]
    if not units:
        if not installed:
            return None
        argvs: list[tuple[str, ...]] = []
        if systemd and paths["timer"] in installed:
            argvs.append(sd.disable_now(timer))
        argvs.append(("rm", "-f", "--", *installed))
        if systemd:
            argvs.append(sd.daemon_reload())
        return ScheduleSteps(f"{timer} (systemd)" if systemd else f"cron line {paths['cron']}",
                             argvs=tuple(argvs), removing=True)
    wanted = ("service", "timer") if systemd else ("cron",)
    files = [f for f in extra if shas.get(f[0]) != sha256(f[1])]
    unit_files = [(paths[k], units[k], "0644") for k in wanted if k in units and shas.get(paths[k]) != sha256(units[k])]
    stale = [paths["cron"]] if systemd and shas.get(paths["cron"]) else []
    if not files and not unit_files and not stale:
        return None
    argvs = [("rm", "-f", "--", *stale)] if stale else []
    if systemd and unit_files:
        argvs += [sd.daemon_reload(), sd.enable_now(timer)]
    how = f"{timer} (systemd)" if systemd else f"cron line {paths['cron']} (no systemd)"
    return ScheduleSteps(how, files=(*files, *unit_files), argvs=tuple(argvs))
