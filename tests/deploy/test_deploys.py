"""The pyinfra deploys of a host (zixly_stack/deploy/deploys.py) through pyinfra's API, on this machine.

Real pyinfra (``@local`` connector): the deploys add the operations of a host's steps, each step
exactly once and in the steps' order (host preparation, stack apply, schedules, hooks), and the
schedules and hooks of a release that did not converge are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zixly_stack.deploy.apply import ApplyContext, HostJob, HostRun
from zixly_stack.deploy.converge import ConvergeOutcome
from zixly_stack.deploy.deploys import add_host_deploys
from zixly_stack.deploy.runner import run_hosts
from zixly_stack.models.environment import Host
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.plan.prepare import PrepareChange
from zixly_stack.plan.steps import HostSteps, PrepareHost, RecordRelease, RunHooks
from zixly_stack.runner.connect import open_session


def _change(step: str, word: str, tmp: Path) -> PrepareChange:
    """A preparation change writing ``<word>.txt`` and appending *word* to ``order.log``."""
    log = tmp / "order.log"
    return PrepareChange(step, word, files=((str(tmp / f"{word}.txt"), word + "\n", "0644"),),
                         argvs=(("sh", "-c", f'echo {word} >> "$0"', str(log)),))


def _deploy(tmp: Path, converge: ConvergeOutcome | None = None) -> tuple[HostRun, list[str]]:
    paths = EnvPaths(str(tmp / "base"), "t")
    Path(paths.root).mkdir(parents=True)
    # as host_steps orders them: early preparation, the release, the schedules, the hooks
    steps = HostSteps("me", (
        PrepareHost((_change("firewall", "firewall", tmp), _change("daemon_json", "daemon", tmp))),
        RecordRelease(paths, None),
        PrepareHost((_change("health_schedule", "health", tmp),), if_converged=True),
        RunHooks(("n8n-workflows",)),
    ))

    def hooks(host: str, names: Any, connection: Any) -> list[tuple[str, bool, str]]:
        with (tmp / "order.log").open("a") as f:
            f.write("hooks\n")
        return [(n, True, "ok: done") for n in names]

    session = open_session({"me": Host(address="@local")})
    try:
        host = session.hosts["me"]
        run_ = HostRun("me", True, host=host, steps=steps, converge=converge)
        said: list[str] = []
        ctx = ApplyContext(redact=lambda s: s, say=lambda h, t: said.append(t), command="deploy", hook_runner=hooks)
        add_host_deploys(session.state, HostJob(run_, {}, ctx))
        run_hosts(session.state, [host])
    finally:
        session.close()
    log = tmp / "order.log"
    return run_, log.read_text().split() if log.exists() else []


def test_the_deploys_run_every_step_once_in_the_steps_order(tmp_path: Path) -> None:
    run_, order = _deploy(tmp_path)
    assert order == ["firewall", "daemon", "health", "hooks"]
    assert all(meta.did_succeed() for _, meta in run_.ops), run_.ops
    assert [name for name, _ in run_.ops] == [
        f"prepare firewall: firewall: {tmp_path}/firewall.txt", "prepare firewall: firewall",
        f"prepare daemon_json: daemon: {tmp_path}/daemon.txt", "prepare daemon_json: daemon",
        "record release (same files)",
        f"prepare health_schedule: health: {tmp_path}/health.txt", "prepare health_schedule: health",
        "hooks: n8n-workflows",
    ]
    assert (tmp_path / "health.txt").read_text() == "health\n"
    record = json.loads((tmp_path / "base" / "t" / "releases.log").read_text())
    assert record["result"] == "ok" and record["command"] == "deploy"
    assert run_.hooks == [("n8n-workflows", True, "ok: done")]


def test_schedules_and_hooks_of_a_release_that_did_not_converge_are_skipped(tmp_path: Path) -> None:
    _, order = _deploy(tmp_path, ConvergeOutcome(ok=False, rolled_back=True))
    assert order == ["firewall", "daemon"]
    assert not (tmp_path / "health.txt").exists()
    record = json.loads((tmp_path / "base" / "t" / "releases.log").read_text())
    assert record["result"] == "rolled back"
