"""A run that dies without cleaning up (used by test_teardown): ``python -m
tests.vps.crashed_run TINYHTTPD_BINARY`` with ``ZIXLY_TEST_RUN_ID`` set.

It creates one test host, starts a container on it, prints ``ready`` and SIGKILLs itself,
leaving the host's sshd, dockerd, containerd, shim and container running.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

from tests.harness.vps import VpsPool
from tests.vps import tinyimage


def main(binary: str) -> None:
    """Create the host and the container, then die by SIGKILL."""
    pool = VpsPool().open()
    host = pool.hosts(1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = tinyimage.tinyhttpd_context(Path(binary), Path(tmp) / "ctx")
        tinyimage.build(host.docker, tinyimage.TINY_TAG, ctx)
    host.docker("run", "-d", "--name", "orphan", tinyimage.TINY_TAG, check=True)
    print("ready", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1])
