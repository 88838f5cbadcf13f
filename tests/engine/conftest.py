"""Fixtures for the engine and offline-kit tests: a real engine, the kit's images, containers.

* ``kit_engine`` (session): :func:`zixly_stack.engine.ensure_engine` — installs/starts what
  is missing. When that fails the tests fail under CI (``CI=true``) and skip elsewhere.
* ``kit_images`` (session): builds every recipe once (cached by recipe hash).
* ``containers`` (function): starts containers named ``zx<run>-<hex>-<name>`` and labelled
  ``io.zixly.test.run=<run>`` (the run's one prefix and one label, :mod:`tests.harness.leaks`),
  and removes them (with their anonymous volumes), plus the networks and volumes of the same
  label and name prefix, when the test ends.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.harness.leaks import TEST_LABEL
from tests.harness.local_engine import unavailable
from tests.harness.nsproc import RUN_ID, run_prefix
from zixly_stack.engine import EngineError, EngineInfo, docker_argv, docker_env, ensure_engine

RUN_PREFIX = run_prefix()
LABEL = f"{TEST_LABEL}={RUN_ID}"  # `--label LABEL` on everything a test creates



def docker(
    *args: str, timeout: float = 300.0, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS`` with the engine module's client; raise on failure when *check*."""
    res = subprocess.run(
        [*docker_argv(), *args],
        capture_output=True,
        text=True,
        env=docker_env(),
        timeout=timeout,
        check=False,
        input=input,
    )
    if check and res.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        )
    return res


@pytest.fixture(scope="session")
def kit_engine() -> EngineInfo:
    """The machine's engine, brought up by our module (fail under CI, skip elsewhere)."""
    try:
        return ensure_engine(verbose=False)
    except EngineError as exc:
        unavailable(f"no Docker engine: {exc}")


@pytest.fixture(scope="session")
def kit_images(kit_engine: EngineInfo) -> dict[str, str]:
    """``{name: tag}`` of every kit image, built (or found current) once per session."""
    from zixly_stack.images import build

    return build(verbose=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, method: str = "GET", timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of one request to a loopback *url*; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode(errors="replace")


def wait_http(url: str, want: int = 200, timeout: float = 30.0) -> None:
    """Poll *url* until it answers *want*; fail with the last answer otherwise."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = http_get(url, timeout=2.0)
            if last[0] == want:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{url}: wanted {want}, last answer {last!r}")


@dataclass
class Containers:
    """Starts test containers and remembers them for cleanup."""

    prefix: str
    names: list[str] = field(default_factory=list)

    def name(self, short: str) -> str:
        """The full, run-unique name of the container *short*."""
        return f"{self.prefix}-{short}"

    def run(self, short: str, image: str, *args: str, options: tuple[str, ...] = ()) -> str:
        """``docker run -d`` *image* with *options* and command *args*; returns the name."""
        name = self.name(short)
        self.names.append(name)
        docker(
            "run", "-d", "--name", name, "--label", LABEL, *options, image, *args, timeout=600
        )
        return name

    def wait_health(self, name: str, want: str = "healthy", timeout: float = 240.0) -> None:
        """Wait until *name*'s health status is *want*; fail with its logs otherwise."""
        deadline = time.monotonic() + timeout
        status = ""
        while time.monotonic() < deadline:
            res = docker("inspect", "--format", "{{json .State}}", name, check=False)
            if res.returncode == 0:
                state = json.loads(res.stdout)
                status = (state.get("Health") or {}).get("Status", "none")
                if status == want:
                    return
                if not state.get("Running"):
                    break
            time.sleep(1)
        logs = docker("logs", "--tail", "60", name, check=False)
        health = docker("inspect", "--format", "{{json .State.Health}}", name, check=False)
        raise AssertionError(
            f"{name}: health {status!r}, wanted {want!r}\n{health.stdout[-1500:]}\n"
            f"{logs.stdout[-3000:]}\n{logs.stderr[-3000:]}"
        )

    def exec(
        self, name: str, *argv: str, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``docker exec`` *argv* in *name*."""
        return docker("exec", name, *argv, timeout=timeout, check=check)

    def host_port(self, name: str, container_port: int) -> int:
        """The 127.0.0.1 port published for *container_port*/tcp of *name*."""
        out = docker("port", name, f"{container_port}/tcp").stdout.strip().splitlines()[0]
        return int(out.rsplit(":", 1)[1])

    def cleanup(self) -> None:
        """Remove every container, network and volume of the run's label whose name starts with
        this helper's prefix."""
        names = docker("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}", check=False).stdout.split()
        mine = [n for n in names if n.startswith(self.prefix + "-")]
        if mine:
            docker("rm", "-f", "-v", *mine, check=False, timeout=600)
        for kind in ("network", "volume"):
            listing = docker(kind, "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}", check=False)
            found = listing.stdout.split()
            mine = [n for n in found if n.startswith(self.prefix + "-")]
            if mine:
                docker(kind, "rm", *mine, check=False)


@pytest.fixture
def containers(kit_images: dict[str, str]) -> Iterator[Containers]:
    """A :class:`Containers` whose containers/networks/volumes are removed after the test."""
    helper = Containers(prefix=f"{RUN_PREFIX}-{secrets.token_hex(2)}")
    try:
        yield helper
    finally:
        helper.cleanup()
