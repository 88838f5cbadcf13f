"""Install or remove a rendered schedule on THIS machine: the one installer's plan
(:func:`zixly_stack.plan.schedule.schedule_steps`) run here -- a systemd service + timer when PID 1
is systemd, else the cron.d file (``ZIXLY_CRON_DIR`` overrides ``/etc/cron.d``, for tests).
Idempotent: unchanged files are not rewritten and nothing is reloaded. Used by ``zixly demo
schedule --install`` and ``zixly backup schedule-drill --install``; the nightly backup and the
health agent are installed by the deploy itself (:mod:`zixly_stack.plan.prepare`, the same plan)
and removed by ``zixly down`` (:func:`remove_timer`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from .errors import ApplyError
from .plan.schedule import ScheduleSteps, schedule_steps, timer_paths
from .runner import LocalRunner


def put(path: Path, text: str, mode: int) -> bool:
    """Write *text* atomically unless *path* already holds it; True when written."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def has_systemd() -> bool:
    """PID 1 is systemd (the check systemd's own tools use)."""
    return Path("/run/systemd/system").is_dir()


def cron_dir() -> str:
    return os.environ.get("ZIXLY_CRON_DIR", "/etc/cron.d")


def _shas(name: str) -> dict[str, str]:
    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest()
            for p in timer_paths(name, cron_dir()).values() if Path(p).is_file()}


def _run(steps: ScheduleSteps, *, check: bool) -> None:
    for path, text, mode in steps.files:
        put(Path(path), text, int(mode, 8))
    for argv in steps.argvs:
        res = LocalRunner().run(list(argv), timeout=60)
        if check and not res.ok:
            raise ApplyError(f"{' '.join(argv)}: {res.err.strip()[-300:]}")


def install_timer(name: str, units: Mapping[str, str]) -> list[str]:
    """Install schedule *name* (``service``/``timer``/``cron`` -> text) here; return the changes."""
    steps = schedule_steps(name, units, _shas(name), systemd=has_systemd(), cron_dir=cron_dir())
    if steps is None:
        return []
    _run(steps, check=True)
    return [f"installed {Path(path).name if path.endswith(('.service', '.timer')) else path}"
            + ("" if path.endswith((".service", ".timer")) else " (no systemd here)")
            for path, _, _ in steps.files]


def remove_timer(name: str) -> list[str]:
    """Undo :func:`install_timer` for *name* (whichever form is installed); return the changes."""
    shas = _shas(name)
    steps = schedule_steps(name, {}, shas, systemd=has_systemd(), cron_dir=cron_dir())
    if steps is None:
        return []
    _run(steps, check=False)
    return [f"removed {Path(p).name if p.endswith(('.service', '.timer')) else p}" for p in sorted(shas)]
