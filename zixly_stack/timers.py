"""Install a rendered oneshot job on THIS machine: a systemd service + timer when PID 1 is
systemd, else the equivalent cron.d line (``ZIXLY_CRON_DIR`` overrides ``/etc/cron.d``, for
tests). Idempotent: unchanged files are not rewritten and nothing is reloaded. Used by the
``backup-schedule`` hook and ``zixly demo schedule --install``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .errors import ApplyError


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
            for argv in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", f"{name}.timer"]):
                res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                if res.returncode != 0:
                    raise ApplyError(f"{' '.join(argv)}: {res.stderr.strip()[-300:]}")
    else:
        path = Path(os.environ.get("ZIXLY_CRON_DIR", "/etc/cron.d")) / name
        if put(path, cron, 0o644):
            changes.append(f"installed {path} (no systemd here)")
    return changes
