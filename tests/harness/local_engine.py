"""The ``engine`` fixture: this machine's own Docker engine, via :mod:`zixly_stack.engine`.

Contract: a test that asks for ``engine`` runs only when an engine answers now. When none
does, the test is **failed** under CI (``CI`` is ``true``/``1``/``yes``) and **skipped**
elsewhere, with the reason and the command that fixes it (``python -m
zixly_stack.engine``). The fixture never installs or starts anything itself.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import NoReturn

import pytest

FIX_HINT = "run `python -m zixly_stack.engine` to install and start one"


CI_VALUES = {"true", "1", "yes"}


def under_ci() -> bool:
    """True when the ``CI`` environment variable says we run in CI."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def unavailable(reason: str) -> NoReturn:
    """Fail (under CI) or skip (elsewhere) the current test because *reason*."""
    if under_ci():
        pytest.fail(f"required under CI: {reason}", pytrace=False)
    pytest.skip(reason)  # off CI only: a developer's machine without the engine or tool


@dataclass(frozen=True)
class LocalEngine:
    """This machine's engine: the client argv and environment that reach it."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    @property
    def docker_host(self) -> str | None:
        """``DOCKER_HOST`` the client uses (None: the client's default socket)."""
        return dict(self.env).get("DOCKER_HOST")

    def docker(self, *args: str, input: str | None = None, timeout: float = 600.0,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this engine, capturing text output."""
        res = subprocess.run([*self.argv, *args], capture_output=True, text=True, input=input,
                             env=dict(self.env), timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {res.returncode}: "
                                 f"{res.stderr.strip()}")
        return res


def local_engine() -> LocalEngine:
    """The machine's engine, or fail/skip via :func:`unavailable` when none answers."""
    try:
        from zixly_stack import engine as zengine
    except ImportError as exc:
        unavailable(f"zixly_stack.engine cannot be imported ({exc})")
    if not zengine.engine_available():
        unavailable(f"no Docker engine answers on this machine; {FIX_HINT}")
    return LocalEngine(argv=tuple(zengine.docker_argv()),
                       env=tuple(sorted(zengine.docker_env().items())))


@pytest.fixture(scope="session")
def engine() -> LocalEngine:
    """This machine's Docker engine (see the module doc for fail-vs-skip)."""
    return local_engine()
