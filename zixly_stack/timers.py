"""Install a rendered oneshot job on THIS machine: a systemd service + timer when PID 1 is
systemd, else the equivalent cron.d line (``ZIXLY_CRON_DIR`` overrides ``/etc/cron.d``, for
tests). Idempotent: unchanged files are not rewritten and nothing is reloaded. Used by
``zixly demo schedule --install`` and ``zixly backup schedule-drill --install``; the nightly
backup is installed by the deploy itself (:mod:`zixly_stack.plan.prepare`) and removed by
``zixly down`` (:func:`remove_timer`).
"""

from __future__ import annotations

import os
from pathlib import Path

from .commands import systemd as sd
from .errors import ApplyError
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


def install_timer(name: str, service: str, timer: str, cron: str) -> list[str]:
    """Install ``<name>.service`` + ``<name>.timer`` (systemd) or ``/etc/cron.d/<name>``; return the changes."""
    changes: list[str] = []
    if has_systemd():
        units = Path("/etc/systemd/system")
        for suffix, text in (("service", service), ("timer", timer)):
            if put(units / f"{name}.{suffix}", text, 0o644):
                changes.append(f"installed {name}.{suffix}")
        if changes:
            for argv in (sd.daemon_reload(), sd.enable_now(f"{name}.timer")):
                res = LocalRunner().run(argv, timeout=60)
                if not res.ok:
                    raise ApplyError(f"{' '.join(argv)}: {res.err.strip()[-300:]}")
    else:
        path = Path(os.environ.get("ZIXLY_CRON_DIR", "/etc/cron.d")) / name
        if put(path, cron, 0o644):
            changes.append(f"installed {path} (no systemd here)")
    return changes


def remove_timer(name: str) -> list[str]:
    """Undo :func:`install_timer` for *name* (whichever form is installed); return the changes."""
    changes: list[str] = []
    units = [Path("/etc/systemd/system") / f"{name}.{suffix}" for suffix in ("service", "timer")]
    if any(u.exists() for u in units):
        if has_systemd():
            LocalRunner().run(sd.disable_now(f"{name}.timer"), timeout=60)
        for unit in units:
            unit.unlink(missing_ok=True)
        if has_systemd():
            LocalRunner().run(sd.daemon_reload(), timeout=60)
        changes.append(f"removed {name}.timer")
    cron = Path(os.environ.get("ZIXLY_CRON_DIR", "/etc/cron.d")) / name
    if cron.exists():
        cron.unlink()
        changes.append(f"removed {cron}")
    return changes
