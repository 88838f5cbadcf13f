"""Pruning old releases keeps any release a running container still mounts (a real bind mount
in a mount namespace of its own, as a container's is; the real prune command)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.harness.local_engine import unavailable
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.plan.steps import RecordRelease


def test_a_release_a_container_still_mounts_is_not_pruned(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        unavailable("util-linux unshare, as root (a bind mount in a mount namespace of its own)")
    paths = EnvPaths(str(tmp_path), "t")
    # release ids are unique (a timestamp and random digits): so are these, across runs
    r1, r2, r3, r4, r5 = (f"R{i}-{secrets.token_hex(4)}" for i in range(1, 6))
    for rid in (r1, r2, r3):
        (Path(paths.release(rid)) / "traefik" / "config").mkdir(parents=True)
        (Path(paths.release(rid)) / "traefik" / "config" / "traefik.yml").write_text(f"{rid}\n")
    target = tmp_path / "etc-traefik"
    target.mkdir()
    # R1 is what a Traefik created two deploys ago still has at /etc/traefik
    holder = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               f"mount --bind {paths.release(r1)}/traefik/config {target} && echo up && sleep 60"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
        step = RecordRelease(paths, r4, prune=(r1, r2))
        for argv in step.argvs():
            subprocess.run(argv, check=True, timeout=30)
        assert (Path(paths.release(r1)) / "traefik" / "config" / "traefik.yml").read_text() == f"{r1}\n"
        assert not Path(paths.release(r2)).exists(), "a release nothing mounts is pruned"
        assert Path(paths.release(r3)).exists()
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # sh and its sleep: the namespace's last processes
        holder.wait(10)
    time.sleep(0.2)  # the namespace (and its mount) is gone with them: the next deploy prunes R1
    for argv in RecordRelease(paths, r5, prune=(r1,)).argvs():
        subprocess.run(argv, check=True, timeout=30)
    assert not Path(paths.release(r1)).exists()
