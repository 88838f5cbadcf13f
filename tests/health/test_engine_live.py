"""Container checks against this machine's real engine: one container stopped -> that app critical.

Two containers of a tiny ``FROM scratch`` static HTTP server image (built here, no registry),
labelled like a ``zixly`` deployment; one is killed. Names start with the run's
``test_prefix`` so the session leak guard sees them; both and the image are removed.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from tests.harness.local_engine import LocalEngine, unavailable
from tests.health.test_engine_host import _EnvRunner
from tests.vps import tinyimage
from zixly_stack.health.checks import EngineCheck, ExpectedContainer
from zixly_stack.health.model import Status
from zixly_stack.health.probes.engine import DockerCli, probe_engine
from zixly_stack.models.environment import Host


def test_stopped_container_is_critical_the_other_ok(engine: LocalEngine, test_prefix: str, tmp_path: Path) -> None:
    if shutil.which("gcc") is None:
        unavailable("gcc (apt-get install gcc libc6-dev)")
    tag = f"{test_prefix}-health-tiny:1"
    env = f"{test_prefix}-health"
    names = {"app-a": f"{test_prefix}-health-a", "app-b": f"{test_prefix}-health-b"}
    ctx = tinyimage.tinyhttpd_context(tinyimage.compile_tinyhttpd(tmp_path), tmp_path / "ctx")
    tinyimage.build(engine.docker, tag, ctx)
    try:
        for app, name in names.items():
            engine.docker("run", "-d", "--name", name, "--label", f"org.zixly.env={env}",
                          "--label", f"org.zixly.service={app}", "--label", "org.zixly.container=web",
                          tag, "8080", "hello", check=True)
        engine.docker("kill", names["app-b"], check=True)
        engine.docker("wait", names["app-b"], timeout=30)
        expected = tuple(ExpectedContainer(app, "web", tag) for app in names)
        check = EngineCheck("local", Host(address="@local"), env, expected, 3, True)
        cli = DockerCli(_EnvRunner(dict(engine.env)), tuple(engine.argv))
        results = {r.check_id: r for r in asyncio.run(probe_engine(cli, check))}
        assert results["container:app-a:web"].status is Status.OK, results["container:app-a:web"].summary
        assert results["image:app-a:web"].status is Status.OK
        b = results["container:app-b:web"]
        assert b.status is Status.CRITICAL and "exited" in b.summary, b.summary
    finally:
        for name in names.values():
            engine.docker("rm", "-f", name)
        engine.docker("rmi", "-f", tag)
