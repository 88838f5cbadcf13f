"""The session's ONE deployed local stack, shared by every end-to-end test of a run.

``local_stack`` (session): the whole ``local`` environment's services, renamed ``e2e``,
brought up by ``zixly up --env e2e`` on this machine's engine -- post-deploy hooks included
(warehouse schema and roles, n8n owner and seed workflows; the stand-in apps' hooks are
``n/a``) -- with its own base directory (a temp dir) and Traefik on 127.0.0.3 so it never
collides with a developer's own ``zixly up`` (127.0.0.1, /opt/zixly). Torn down (volumes
too) at the end of the session, checked: ``zixly down --volumes`` must succeed and leave no
container, network or volume of the environment (and the session's leak guard, to which the
environment is registered, fails the run on anything left).

Developer knobs (never set by CI):

* ``ZIXLY_E2E_ENV`` / ``ZIXLY_E2E_BIND``: another environment name and loopback address, so
  two pytest sessions can each have their own stack on one engine (project names are
  ``zixly-<env>-<app>``).
* ``ZIXLY_E2E_KEEP=DIR``: keep the stack (and its repo root, base dir and age key) in DIR
  after the session and reuse it in the next one: ``zixly up`` on an up-to-date stack is a
  no-op, so iterating on an end-to-end test takes seconds, not a full bring-up.

Tests that change the environment restore it before they end, so test order does not matter.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest

from tests.deploy.helpers import REPO, Zixly, make_root
from tests.harness.leaks import register_env
from tests.harness.local_engine import LocalEngine
from tests.harness.local_engine import local_engine as _local_engine

E2E_ENV = os.environ.get("ZIXLY_E2E_ENV", "e2e")
E2E_BIND = os.environ.get("ZIXLY_E2E_BIND", "127.0.0.3")


def _keep_dir() -> Path | None:
    keep = os.environ.get("ZIXLY_E2E_KEEP")
    return Path(keep).resolve() if keep else None


@pytest.fixture(scope="session")
def age_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One age identity for every environment of the session (ZIXLY_AGE_KEY_FILE)."""
    keep = _keep_dir()
    path = (keep / "age.key") if keep else tmp_path_factory.mktemp("age") / "key.txt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
        path.chmod(0o600)
    return path


def local_environment_yaml(base_dir: Path, overrides: str = "") -> str:
    """The repo's ``local`` environment with its own base dir and edge address (see module doc)."""
    text = (REPO / "inventories" / "local" / "environment.yaml").read_text()
    text = re.sub(r"(?m)^base_dir: .*$", f"base_dir: {base_dir}", text)
    text = re.sub(r"(?m)^(\s+bind: ).*$", rf"\g<1>{E2E_BIND}", text)
    text = re.sub(r"(?m)^(\s+target: ).*$", rf"\g<1>{{type: local, path: {base_dir}/backups}}", text)
    return text + overrides


@dataclass
class LocalStack:
    """The session's local stack."""

    zixly: Zixly
    env: str
    base_dir: Path
    engine: LocalEngine
    up_stdout: str
    up_stderr: str

    @property
    def up_projects(self) -> set[str]:
        """Compose projects the fixture's ``zixly up`` brought up (all when fresh; a kept stack: maybe none)."""
        return set(re.findall(r" up (zixly-[a-z0-9-]+) \.\.\.", self.up_stderr))

    @property
    def bind(self) -> str:
        """The loopback address Traefik publishes 80/443 on."""
        return E2E_BIND

    @property
    def env_file(self) -> Path:
        """``inventories/<env>/environment.yaml`` of the test root."""
        return self.zixly.root / "inventories" / self.env / "environment.yaml"

    def container(self, app: str, service: str, index: int = 1) -> str:
        """The Compose container name of *service* in *app*'s project."""
        return f"zixly-{self.env}-{app}-{service}-{index}"

    def wait_healthy(self, timeout: float = 300) -> None:
        """Until no container of the stack is starting or unhealthy (a test that restarted an
        app leaves the shared stack as it found it); the failure names what is not."""
        deadline = time.monotonic() + timeout
        while True:
            busy = [n for health in ("starting", "unhealthy") for n in self.engine.docker(
                "ps", "--filter", f"name=zixly-{self.env}-", "--filter", f"health={health}",
                "--format", "{{.Names}}").stdout.split()]
            if not busy:
                return
            assert time.monotonic() < deadline, f"not healthy after {timeout:g}s: {busy}\n{self.unhealthy()}"
            time.sleep(2)

    def unhealthy(self) -> str:
        """Each unhealthy container of the stack with its last health-check outputs, memory and
        PIDs: what a failure message needs to say why (CI cannot be inspected afterwards)."""
        names = self.engine.docker("ps", "--filter", f"name=zixly-{self.env}-", "--filter", "health=unhealthy",
                                   "--format", "{{.Names}}").stdout.split()
        out = []
        for name in names:
            fmt = ("{{.State.StartedAt}} streak {{.State.Health.FailingStreak}}"
                   "{{range .State.Health.Log}} | {{.ExitCode}}: {{.Output}}{{end}}")
            log = self.engine.docker("inspect", "--format", fmt, name).stdout
            stats = self.engine.docker("stats", "--no-stream", "--format", "{{.MemUsage}} pids {{.PIDs}}", name).stdout
            out.append(f"{name}: {stats.strip()}; started {' '.join(log.split())[:900]}")
        return "\n".join(out)

    def set_overrides(self, overrides: str) -> None:
        """Rewrite the environment file: the repo's local environment plus *overrides* (YAML under services)."""
        self.env_file.write_text(local_environment_yaml(self.base_dir) if not overrides else _with(self, overrides))


def _with(stack: LocalStack, overrides: str) -> str:
    text = local_environment_yaml(stack.base_dir)
    for line in overrides.strip().splitlines():
        service = line.split(":", 1)[0].strip()
        text = re.sub(rf"(?m)^  {re.escape(service)}:\s*$", f"  {line.strip()}", text)
    return text


def health_settings(root: Path, env: str) -> None:
    """The repo's ``healthchecks/``: the shipped defaults (a copy: configuration files are read
    only from inside the repository) and, for *env*, ``http.warn_ms`` raised to 30 s (a loaded
    2-core machine answers in seconds; slow -> warning is pinned in tests/health/test_report.py).
    Written before the first deploy, so the agent the stack runs has them and no test's change
    of them is left for a later test's plan to find."""
    checks = root / "healthchecks"
    checks.mkdir(exist_ok=True)
    if not (checks / "default.yaml").exists():
        shutil.copyfile(REPO / "healthchecks" / "default.yaml", checks / "default.yaml")
    if not (checks / "templates").exists():
        (checks / "templates").symlink_to(REPO / "healthchecks" / "templates")
    (checks / f"{env}.yaml").write_text(HEALTH_SETTINGS)


HEALTH_SETTINGS = "http:\n  warn_ms: 30000\n"


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory, age_key_file: Path) -> Iterator[LocalStack]:
    """The whole stack up on this machine (``zixly up``), once per session; torn down at the end."""
    engine = _local_engine()
    keep = _keep_dir()
    if keep is None:  # a kept stack outlives the session on purpose; otherwise nothing of it may
        register_env(E2E_ENV)
    work = keep if keep else tmp_path_factory.mktemp("e2e")
    base = work / "opt"
    hosts = (REPO / "inventories" / "local" / "hosts.yaml").read_text()
    root = make_root(work / "repo", E2E_ENV, local_environment_yaml(base), hosts)
    health_settings(root, E2E_ENV)
    zixly = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(age_key_file)})
    res = zixly.run("up", "--env", E2E_ENV, check=None, timeout=5400)
    stack = LocalStack(zixly, E2E_ENV, base, engine, res.stdout, res.stderr)
    try:
        hint = ""
        if "non-overlapping IPv4 address pool" in res.stderr:
            hint = (
                "\nthe engine ran out of network address pools (the stack needs ~24 networks; Docker's defaults"
                " give ~30): stop other stacks (`zixly down`) or give dockerd --default-address-pool"
            )
        assert res.returncode == 0, f"zixly up failed:{hint}\n{res.stdout}\n{res.stderr}"
        yield stack
    finally:
        stack.set_overrides("")
        if keep is None:
            down = zixly.run("down", "--env", E2E_ENV, "--volumes", check=None, timeout=900)
            shutil.rmtree(work, ignore_errors=True)
            assert down.returncode == 0, f"zixly down of the session's stack failed:\n{down.stdout}\n{down.stderr}"
            left = env_resources(engine, E2E_ENV)
            assert not any(left.values()), f"zixly down --volumes left {left}:\n{(down.stdout + down.stderr)[-2000:]}"


def env_resources(engine: LocalEngine, env: str) -> dict[str, list[str]]:
    """Containers, networks and volumes of zixly environment *env* on *engine*: containers by the
    ``org.zixly.env`` label zixly sets, networks and volumes by their ``zixly-<env>-`` names."""
    def names(*argv: str) -> list[str]:
        return engine.docker(*argv, "--format", "{{.Name}}" if argv[0] != "ps" else "{{.Names}}",
                             check=True).stdout.split()

    prefix = f"zixly-{env}-"
    return {
        "containers": names("ps", "-a", "--filter", f"label=org.zixly.env={env}"),
        "networks": [n for n in names("network", "ls") if n.startswith(prefix)],
        "volumes": [n for n in names("volume", "ls") if n.startswith(prefix)],
    }
