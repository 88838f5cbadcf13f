"""PURE: the weekly restore drill on the machine that runs zixly (``zixly backup schedule-drill``).

The nightly backup is a bash script on the host; the drill needs zixly itself (it restores into a
scratch project, starts the apps, compares), so it is scheduled where zixly and the environment's
repo live -- this machine for ``@local`` environments. A systemd service + timer and an equivalent
cron.d entry, Sundays two hours after the nightly backup, reading a quarter of the pack data
(``--read-data-subset``, a different quarter each week as restic picks it). The age key the
secrets store needs comes from ``ZIXLY_AGE_KEY_FILE`` (written into the unit) or the per-user
default file; a key only in ``ZIXLY_AGE_KEY`` cannot be scheduled (it would land in a unit file).
"""

from __future__ import annotations

from ..render.schedule import Calendar, Schedule, named_files


def drill_time(backup_schedule: str) -> tuple[int, int]:
    """Two hours after the nightly backup's ``HH:MM`` (wrapping past midnight)."""
    hh, mm = (int(x) for x in backup_schedule.split(":"))
    return (hh + 2) % 24, mm


def unit_name(env: str) -> str:
    """``zixly-drill-<env>``."""
    return f"zixly-drill-{env}"


def drill_schedule(zixly: list[str], root: str, env: str, backup_schedule: str,
                   key_file: str | None) -> dict[str, str]:
    """``<unit>.service``, ``<unit>.timer`` and the cron.d file ``<unit>``."""
    return named_files(drill_job(zixly, root, env, backup_schedule, key_file))


def drill_job(zixly: list[str], root: str, env: str, backup_schedule: str, key_file: str | None) -> Schedule:
    """The weekly drill as a :class:`~zixly_stack.render.schedule.Schedule`."""
    hh, mm = drill_time(backup_schedule)
    return (Schedule(
        name=unit_name(env), description=f"zixly weekly restore drill of {env}",
        argv=(*zixly, "--root", root, "backup", "verify", env, "--read-data-subset", "1/4"),
        calendar=Calendar(hour=hh, minute=mm, weekday=6),
        wants=("docker.service",), after=("docker.service",),
        options=(("Nice", "10"), ("TimeoutStartSec", "6h")),
        environment=(("ZIXLY_AGE_KEY_FILE", key_file),) if key_file else (),
    ))
