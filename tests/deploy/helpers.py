"""Helpers of the deploy tests: throwaway repo roots, the CLI as a subprocess, container snapshots.

The CLI always runs as a subprocess: deploys over SSH monkey-patch the process with
gevent (as pyinfra's own CLI does), which must not happen inside pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def make_root(dest: Path, env: str, environment_yaml: str, hosts_yaml: str) -> Path:
    """A repo root whose catalog, templates and image recipes are this repo's, with one environment."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in ("services", "templates", "images"):
        link = dest / part
        if not link.is_symlink() and (REPO / part).exists():  # a clone has no empty dirs
            link.symlink_to(REPO / part)
    inv = dest / "inventories" / env
    inv.mkdir(parents=True, exist_ok=True)
    (inv / "environment.yaml").write_text(environment_yaml)
    (inv / "hosts.yaml").write_text(hosts_yaml)
    return dest


@dataclass
class Zixly:
    """Runs ``zixly --root ROOT ...`` with a fixed environment (age key, SSH known_hosts)."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)  # every stdout/stderr, for the canary checks

    def environ(self) -> dict[str, str]:
        """The subprocess environment."""
        keep = ("ZIXLY_CRON_DIR",)  # the run's cron directory (tests/conftest.py), never /etc/cron.d
        out = {k: v for k, v in os.environ.items() if not k.startswith("ZIXLY_") or k in keep}
        out.update(self.env)
        out["COLUMNS"] = "200"
        return out

    def argv(self, args: Sequence[str]) -> list[str]:
        """The full command line."""
        return [sys.executable, "-m", "zixly_stack.cli", "--root", str(self.root), *args]

    def run(
        self, *args: str, input: str | None = None, timeout: float = 3600, check: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        """Run and return the completed process; assert its exit code when *check* is not None."""
        res = subprocess.run(
            self.argv(args),
            capture_output=True,
            text=True,
            env=self.environ(),
            input=input,
            timeout=timeout,
            cwd=self.root,
        )
        self.outputs += [res.stdout, res.stderr]
        if check is not None:
            assert res.returncode == check, (
                f"zixly {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
            )
        return res

    def json(self, *args: str, check: int | None = 0) -> Any:
        """Run with ``--json`` and parse stdout."""
        return json.loads(self.run(*args, "--json", check=check).stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start without waiting (stderr line-buffered for progress watching)."""
        return subprocess.Popen(
            self.argv(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environ(),
            cwd=self.root,
            bufsize=1,
        )


def containers(docker: Sequence[str], env: str, docker_env: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """``name -> (id, StartedAt)`` of every container of environment *env*."""
    ids = subprocess.run(
        [*docker, "ps", "-aq", "--no-trunc", "--filter", f"label=org.zixly.env={env}"],
        capture_output=True,
        text=True,
        env=docker_env,
        check=True,
    ).stdout.split()
    if not ids:
        return {}
    out = subprocess.run(
        [*docker, "inspect", "--format", "{{.Name}} {{.Id}} {{.State.StartedAt}}", *ids],
        capture_output=True,
        text=True,
        env=docker_env,
        check=True,
    ).stdout
    return {n.lstrip("/"): (i, s) for n, i, s in (line.split() for line in out.splitlines())}


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> bool:
    """Poll *predicate* until true or *timeout*."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
