"""The Debian packages ``zixly up`` needs on this machine: found, installed (root on Debian) or named.

Contract
--------
* :data:`NEEDS` lists each tool (or file) the local environment needs, the Debian package
  that provides it and why. :func:`missing` checks them (``PATH`` and the file system only).
* :func:`ensure_packages` installs the missing packages with ``apt-get`` in one go when this
  process is root and ``apt-get`` exists, printing what it installs and a progress line at
  least every 10 s; otherwise it raises :class:`~.setup.EngineError` whose message is the
  exact command to run. When nothing is missing it changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..progress import current_task, reporter
from ..runner.local import LocalRunner


class PackagesError(RuntimeError):
    """Packages are missing and cannot be installed from here; the message says what to run."""


@dataclass(frozen=True)
class Need:
    """A tool on ``PATH`` (or an absolute file) and the Debian package that provides it."""

    tool: str
    package: str
    why: str

    def present(self) -> bool:
        """True when the tool is on ``PATH`` (or the file exists)."""
        return os.path.isfile(self.tool) if self.tool.startswith("/") else shutil.which(self.tool) is not None


NEEDS: tuple[Need, ...] = (
    Need("dockerd", "docker.io", "the Docker engine"),
    Need("debootstrap", "debootstrap", "builds the offline image kit's Debian base image"),
    Need("restic", "restic", "backups: `zixly backup` and the nightly schedule"),
    Need("npm", "npm", "builds the offline image kit's n8n image from the npm registry"),
    Need("/etc/ssl/certs/ca-certificates.crt", "ca-certificates", "TLS to the package registries; Traefik's CA bundle"),
)
APT_TIMEOUT_S = 1800.0


def missing(needs: Sequence[Need] = NEEDS) -> list[Need]:
    """The needs that are not met on this machine, in :data:`NEEDS` order."""
    return [n for n in needs if not n.present()]


def install_argv(needs: Sequence[Need]) -> list[str]:
    """``apt-get install`` of the packages behind *needs* (deduplicated, in order)."""
    packages = list(dict.fromkeys(n.package for n in needs))
    return ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", *packages]


def instruction(needs: Sequence[Need]) -> str:
    """What a person runs to install *needs* by hand."""
    packages = " ".join(dict.fromkeys(n.package for n in needs))
    return f"as root: apt-get update && apt-get install -y --no-install-recommends {packages}"


def _run_apt(argv: list[str], stage: str) -> None:
    """Run apt-get through the local runner; within the current task its stage is *stage* and the
    runner shows the bytes apt-get's process tree writes (:func:`~zixly_stack.runner.base.reporting`)."""
    task = current_task()
    with task.step(stage) if task else contextlib.nullcontext():
        res = LocalRunner(dict(os.environ, DEBIAN_FRONTEND="noninteractive")).run(argv, timeout=APT_TIMEOUT_S)
    if not res.ok:
        out = (res.out + res.err).strip()
        raise PackagesError(f"`{' '.join(argv)}` failed (exit {res.code}):\n{out[-800:]}")


def ensure_packages(say: Callable[[str], None], needs: Sequence[Need] = NEEDS) -> list[str]:
    """Install the missing packages (see module doc); return the packages installed."""
    lacking = missing(needs)
    if not lacking:
        say("Debian packages present: " + ", ".join(dict.fromkeys(n.package for n in needs)))
        return []
    listing = "; ".join(f"{n.tool} ({n.package}: {n.why})" for n in lacking)
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PackagesError(f"missing on this machine: {listing}\ninstall them {instruction(lacking)}")
    packages = list(dict.fromkeys(n.package for n in lacking))
    say(f"installing Debian packages {' '.join(packages)} (apt-get update + install; a minute or two)")
    with reporter().task("engine: Debian packages"):
        _run_apt(["apt-get", "update"], "apt-get update")
        _run_apt(install_argv(lacking), "apt-get install " + " ".join(packages))
    still = missing(lacking)
    if still:
        raise PackagesError("installed but still missing: " + ", ".join(n.tool for n in still))
    say("installed " + " ".join(packages))
    return packages
