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

import shlex


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
    hh, mm = drill_time(backup_schedule)
    argv = shlex.join([*zixly, "--root", root, "backup", "verify", env, "--read-data-subset", "1/4"])
    unit = unit_name(env)
    env_line = f"Environment={shlex.quote(f'ZIXLY_AGE_KEY_FILE={key_file}')}\n" if key_file else ""
    cron_env = f"ZIXLY_AGE_KEY_FILE={key_file}\n" if key_file else ""
    return {
        f"{unit}.service": (
            "# Rendered by `zixly backup schedule-drill`: the weekly restore drill.\n"
            "[Unit]\n"
            f"Description=zixly weekly restore drill of {env}\n"
            "Wants=docker.service\nAfter=docker.service\n\n"
            "[Service]\nType=oneshot\nNice=10\nTimeoutStartSec=6h\n"
            f"{env_line}"
            f"ExecStart={argv}\n"
        ),
        f"{unit}.timer": (
            "# Rendered by `zixly backup schedule-drill`.\n"
            "[Unit]\n"
            f"Description=zixly weekly restore drill of {env}\n\n"
            "[Timer]\n"
            f"OnCalendar=Sun *-*-* {hh:02d}:{mm:02d}:00\nPersistent=true\nRandomizedDelaySec=10m\n"
            f"Unit={unit}.service\n\n"
            "[Install]\nWantedBy=timers.target\n"
        ),
        unit: (
            "# Rendered by `zixly backup schedule-drill` (cron.d, for hosts without systemd).\n"
            f"{cron_env}"
            f"{mm} {hh} * * 0 root {argv}\n"
        ),
    }
