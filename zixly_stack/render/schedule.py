"""ONE model of a scheduled oneshot job and its three renderings. Pure.

A :class:`Schedule` (name, command argv, :class:`Calendar`, user ...) renders as a systemd
service + timer pair (``templates/schedule/job.service.j2``, ``job.timer.j2``) and as the
equivalent ``/etc/cron.d`` file for hosts without systemd (``job.cron.j2``). Every schedule
zixly installs is one of these: the nightly backup, the on-host health agent, the weekly
restore drill, the demo reaper. :func:`schedule_files` gives the three texts keyed
``service``/``timer``/``cron``; installing or removing them is :mod:`zixly_stack.plan.schedule`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hostfiles import render_host_file

KINDS = ("service", "timer", "cron")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Calendar:
    """When a job runs: daily or weekly at ``hour:minute``, or every *minutes* minutes.

    ``weekday`` (0 = Monday) makes a daily calendar weekly. ``after_boot``: for an every-N-minutes
    job, count from the last run (systemd ``OnBootSec``/``OnUnitActiveSec``) instead of the clock.
    """

    hour: int = 0
    minute: int = 0
    weekday: int | None = None
    every_minutes: int | None = None
    after_boot: str = ""

    @classmethod
    def at(cls, hhmm: str, weekday: int | None = None) -> Calendar:
        """``"HH:MM"`` daily (or weekly on *weekday*)."""
        hh, mm = (int(x) for x in hhmm.split(":"))
        return cls(hour=hh, minute=mm, weekday=weekday)

    def systemd(self) -> list[tuple[str, str]]:
        """The ``[Timer]`` lines that trigger the job."""
        if self.every_minutes and self.after_boot:
            return [("OnBootSec", self.after_boot), ("OnUnitActiveSec", f"{self.every_minutes}min")]
        if self.every_minutes:
            return [("OnCalendar", f"*:0/{self.every_minutes}")]
        day = f"{DAYS[self.weekday]} " if self.weekday is not None else ""
        return [("OnCalendar", f"{day}*-*-* {self.hour:02d}:{self.minute:02d}:00")]

    def cron(self) -> str:
        """The five time fields of the cron line."""
        if self.every_minutes:
            return f"*/{self.every_minutes} * * * *"
        dow = "*" if self.weekday is None else str((self.weekday + 1) % 7)
        return f"{self.minute} {self.hour} * * {dow}"


@dataclass(frozen=True)
class Schedule:
    """A oneshot job run on a :class:`Calendar` (module contract).

    *options*: more ``[Service]`` settings, in order (``Nice``, ``TimeoutStartSec``, hardening).
    *environment*: variables of the job (systemd ``Environment=``, cron.d variable lines); no
    secrets (unit and cron files are world-readable). *log*: where the cron form's output goes
    (``""``: cron mails it, as cron does). *lock*: the cron form skips a run while the previous
    one still runs (``flock -n``; systemd never starts a running oneshot twice).
    """

    name: str
    description: str
    argv: tuple[str, ...]
    calendar: Calendar
    user: str = "root"
    documentation: str = ""
    wants: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    randomized_delay: str = "10m"
    log: str = ""
    lock: bool = False

    def file_names(self) -> dict[str, str]:
        """``service``/``timer``/``cron`` -> the installed file name."""
        return {"service": f"{self.name}.service", "timer": f"{self.name}.timer", "cron": self.name}


def schedule_files(schedule: Schedule) -> dict[str, str]:
    """``service``/``timer``/``cron`` -> the rendered text of *schedule*."""
    return {kind: render_host_file(f"schedule/job.{kind}.j2", s=schedule, calendar=schedule.calendar.systemd(),
                                   cron_time=schedule.calendar.cron())
            for kind in KINDS}


def named_files(schedule: Schedule) -> dict[str, str]:
    """Installed file name -> text (``<name>.service``, ``<name>.timer``, the cron.d file ``<name>``)."""
    texts = schedule_files(schedule)
    return {schedule.file_names()[kind]: texts[kind] for kind in KINDS}
