"""Shared test helpers: temp repos, CLI runs, deterministic secrets for golden renders."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from zixly_stack.cli.main import cli
from zixly_stack.project import Loaded, load
from zixly_stack.render.context import required_secrets
from zixly_stack.secrets.value import Secret

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCHEMAS = Path(__file__).resolve().parent / "schemas"


def copy_repo(dest: Path, source: Path = REPO, envs: tuple[str, ...] | None = None) -> Path:
    """Copy ``services/``, ``templates/``, ``images/`` and ``inventories/`` of ``source`` into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in ("services", "templates", "images"):
        if (source / part).is_dir():
            shutil.copytree(source / part, dest / part, ignore=shutil.ignore_patterns("rootfs", "__pycache__"))
    inv = source / "inventories"
    for env_dir in sorted(inv.iterdir()):
        if envs is not None and env_dir.name not in envs:
            continue
        target = dest / "inventories" / env_dir.name
        target.mkdir(parents=True)
        for name in ("environment.yaml", "hosts.yaml"):
            if (env_dir / name).is_file():
                shutil.copy(env_dir / name, target / name)
    return dest


def fake_secrets(loaded: Loaded) -> dict[str, Secret]:
    """Deterministic stand-in secret values (for golden renders only; never real)."""
    out: dict[str, Secret] = {}
    for name in required_secrets(loaded.stack):
        out[name] = Secret("golden" + hashlib.sha256(name.encode()).hexdigest()[:20])
    return out


def load_env(root: Path, env: str) -> Loaded:
    """Load an environment (raises ConfigError)."""
    return load(root, env)


@dataclass
class Run:
    """Result of a CLI run."""

    code: int
    stdout: str
    stderr: str


def zixly(*args: str, root: Path | None = None, env: dict[str, str] | None = None, input: str | None = None) -> Run:
    """Run the CLI in-process (click's runner) with separate stdout/stderr."""
    runner = CliRunner()
    argv = (["--root", str(root)] if root else []) + list(args)
    result = runner.invoke(cli, argv, env=env, input=input, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def zixly_proc(*args: str, root: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> Run:
    """Run the CLI as a real process (for exit codes and tracebacks exactly as users see them)."""
    argv = [sys.executable, "-m", "zixly_stack.cli"] + (["--root", str(root)] if root else []) + list(args)
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def tree_snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove nothing changed)."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
