"""Several hops in one upgrade deploy: the real executor (:class:`~zixly_stack.upgrade.guard.HostUpgrade`)
inside the real health-gated converge, on the fake host of tests/deploy/test_core_data.py. One
checkpoint before anything stops, then each intermediate hop's pin brought up from its own compose
file, health-gated, with its migrations, then the release's own version; a failure at ANY hop
stops the service, restores the checkpoint (the data from before the FIRST hop) and starts the
ORIGINAL images, naming the hop that failed. And the pure part: a hop's pin rendered from the
catalog with the environment's version pinned at the hop (``hop_loaded``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.deploy.test_core_data import FakeHost, ShellRunner, _change
from tests.helpers import REPO
from zixly_stack.backup.site import Site
from zixly_stack.catalog.upgrades import Move, plan_move
from zixly_stack.config.loader import load_catalog
from zixly_stack.deploy.converge import ConvergeOutcome, converge, failure_text, up_from
from zixly_stack.deploy.swarm import refuse_data_moves
from zixly_stack.errors import ConfigError
from zixly_stack.plan.model import ComposeShape, ProjectChange
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.plan.upgrade import UpgradeInputs
from zixly_stack.project import load, render
from zixly_stack.render.backup.plan import BackupPlan
from zixly_stack.render.context import required_secrets
from zixly_stack.render.tree import RenderedFile
from zixly_stack.runner import connect
from zixly_stack.runner.base import Result, RunnerBase, Sink, Source
from zixly_stack.secrets.value import Secret
from zixly_stack.upgrade.guard import HostUpgrade
from zixly_stack.upgrade.hops import HopTools, hop_compose, hop_loaded
from zixly_stack.upgrade.work import HostWork, UpgradeFailed

CATALOG = load_catalog(REPO)
PATHS = EnvPaths("/srv/zx", "t")
DB = {"project": "zixly-t-db", "directory": "db", "stage": 0, "waited": ["server"], "jobs": [],
      "previous_waited": ["server"]}
APP = {"project": "zixly-t-app", "directory": "nextcloud", "stage": 3, "waited": ["web"], "jobs": [],
       "previous_waited": ["web"]}


def nextcloud(src: str, dst: str, path: Sequence[str]) -> Move:
    rules = CATALOG.services["nextcloud"].upgrade
    assert rules is not None
    move = plan_move("nextcloud", rules.model_copy(update={"path": list(path)}), src, dst)
    assert move is not None
    return move


TWO = nextcloud("33.0.9-apache", "35.0.1-apache", ["34.0.5-apache"])
THREE = nextcloud("32.0.1-apache", "35.0.1-apache", ["33.0.9-apache", "34.0.5-apache"])


class HopHost(FakeHost):
    """The fake host, also answering ``compose -f .../compose.hop-N.yaml up``: an intermediate hop."""

    def event(self, command: str) -> str | None:
        if m := re.search(r" -f \S+/current/([^/]+)/compose\.hop-(\d+)\.yaml up --detach --wait", command):
            return f"up {m.group(1)} hop {m.group(2)}"
        return super().event(command)


class SiteRunner(RunnerBase):
    """The executor's own commands on the host (files, docker stop, df), recorded in the host's calls."""

    def __init__(self, host: FakeHost) -> None:
        self.name, self.fake = host.name, host

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:
        out = ""
        if argv[:2] == ["docker", "info"]:
            out = "/var/lib/docker\n"
        elif argv[0] == "df":
            out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 100000000 1 90000000 1% /\n"
        elif argv[0] == "sh" and "cat >" in argv[2]:
            self.fake.calls.append(f"write {argv[4].rsplit('/', 2)[-2]}/{argv[4].rsplit('/', 1)[-1]}")
        elif argv[0] == "rm":
            self.fake.calls.append(f"remove {argv[-1].rsplit('/', 1)[-1]}")
        elif "stop" in argv:
            self.fake.calls.append("stop app")
        elif "ps" in argv:
            out = "zixly-t-app-web-1\n"
        if sink is not None and out:
            sink(out.encode())
        return Result(tuple(argv), 0, out.encode() if sink is None else b"", b"")


@dataclass
class NoBackups:
    """The environment's backup view: no declared data (the restore then has nothing to do)."""

    def plan(self, host: str) -> BackupPlan:
        return BackupPlan("t", host, ())


def compose_of(version: str) -> str:
    return f"name: zixly-t-app\nservices:\n  web: {{image: 'nextcloud:{version}'}}\n"


def files_of(version: str, env: str = "A=1\n") -> dict[str, RenderedFile]:
    return {"nextcloud/compose.yaml": RenderedFile("vps1/nextcloud/compose.yaml", compose_of(version)),
            "nextcloud/env/web.env": RenderedFile("vps1/nextcloud/env/web.env", env, 0o600, True)}


@dataclass
class Deploy:
    """One host's upgrade deploy of nextcloud (project zixly-t-app) through the real converge."""

    move: Move
    fail: list[str] = field(default_factory=list)
    env_at: dict[str, str] = field(default_factory=dict)  # version -> its env file (a hop that renders it otherwise)
    provided: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.host = HopHost(self.fail, {"zixly-t-app": ["unhealthy-with-log"]})

        def up(p: ProjectChange, file: str, shape: ComposeShape) -> tuple[bool, str]:
            done = up_from(self.host, PATHS, p, file, shape, lambda s: s, lambda s: None)
            return done.ok, "" if done.ok else failure_text(done)

        tools = HopTools(lambda svc, v: files_of(v, self.env_at.get(v, "A=1\n")),
                         lambda: files_of(self.move.dst), self.provided.extend, up)
        work = HostWork(cast(Any, NoBackups()), Site("vps1", SiteRunner(self.host)), PATHS)
        self.guard = HostUpgrade(work, (self.move,), {"nextcloud": "zixly-t-app"}, hops=tools)

    def run(self, monkeypatch: pytest.MonkeyPatch) -> ConvergeOutcome:
        monkeypatch.setattr(connect, "runner_for", lambda h, name="": ShellRunner(h))
        self.guard.checkpoint()
        self.host.calls.append("checkpoint taken")
        return converge(self.host, PATHS, [_change(DB), _change(APP)], previous_release="r1", switched=True,
                        redact=lambda s: s, say=lambda s: None, guard=self.guard)


HOP1 = ["checkpoint taken", "up db", "write nextcloud/compose.hop-1.yaml", "up nextcloud hop 1",
        "remove compose.hop-1.yaml"]  # one checkpoint, then the first hop from its own file (removed after)
BACK = ["switch r1", "up db", "stop app", "up nextcloud"]  # stopped, restored, the ORIGINAL images (release r1) up


def rolled_back(d: Deploy, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run *d*, which fails; the host's calls."""
    out = d.run(monkeypatch)
    assert (out.ok, out.rolled_back, out.rollback_ok) == (False, True, True)
    return d.host.calls


def test_each_hop_comes_up_in_turn_behind_one_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Deploy(TWO)
    out = d.run(monkeypatch)
    assert out.ok
    assert d.host.calls == [*HOP1, "up nextcloud"]  # the last hop is the release's own compose file
    assert d.provided == ["nextcloud:34.0.5-apache"]  # the hop's images, before anything stopped
    [rec] = d.guard.records()
    assert (rec["result"], rec["hops_healthy"], rec["hops"], rec["checkpoint"]["tag"]) == (
        "ok", 2, [["33.0.9-apache", "34.0.5-apache"], ["34.0.5-apache", "35.0.1-apache"]],
        "upgrade:nextcloud:33.0.9-apache->35.0.1-apache")
    assert d.guard.summary() == ""


def test_a_failure_at_the_second_hop_restores_the_data_from_before_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Deploy(TWO, fail=["up nextcloud#1"])
    assert rolled_back(d, monkeypatch) == [*HOP1, "up nextcloud", "inspect zixly-t-app", "logs i23rec-unhealthy",
                                           *BACK]
    summary = d.guard.summary()
    assert summary.startswith("upgrade nextcloud 33.0.9-apache -> 35.0.1-apache FAILED at hop 2/2 "
                              "(34.0.5-apache -> 35.0.1-apache) (hop 1 had come up healthy): "
                              "i23rec-unhealthy: unhealthy; data restored from checkpoint "
                              "upgrade:nextcloud:33.0.9-apache->35.0.1-apache"), summary
    assert summary.endswith("previous images (33.0.9-apache) healthy again")
    [rec] = d.guard.records()
    assert (rec["result"], rec["failed_hop"], rec["hops_healthy"]) == ("failed", 2, 1)


def test_a_failed_intermediate_hop_never_brings_up_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    d = Deploy(THREE, fail=["up nextcloud hop 2"])
    assert rolled_back(d, monkeypatch) == [
        *HOP1, "write nextcloud/compose.hop-2.yaml", "up nextcloud hop 2", "inspect zixly-t-app",
        "logs i23rec-unhealthy", "remove compose.hop-2.yaml",  # no third hop, no release up
        *BACK]
    assert d.provided == ["nextcloud:33.0.9-apache", "nextcloud:34.0.5-apache"]
    assert "FAILED at hop 2/3 (33.0.9-apache -> 34.0.5-apache) (hop 1 had come up healthy)" \
        in d.guard.summary()


def test_a_hop_that_renders_other_files_differently_is_refused_before_anything_stops(
        monkeypatch: pytest.MonkeyPatch) -> None:
    d = Deploy(TWO, env_at={"34.0.5-apache": "A=2\n"})
    with pytest.raises(UpgradeFailed, match=r"nextcloud: hop 1/2 33.0.9-apache -> 34.0.5-apache: the hop renders "
                                            r"nextcloud/env/web.env differently .* nothing was stopped"):
        d.run(monkeypatch)
    assert d.host.calls == [] and d.provided == []


def test_without_hop_tools_several_hops_are_still_refused() -> None:
    host = HopHost([], {})
    work = HostWork(cast(Any, NoBackups()), Site("vps1", SiteRunner(host)), PATHS)
    with pytest.raises(UpgradeFailed, match="2 hops: deploy them one at a time"):
        HostUpgrade(work, (TWO,), {"nextcloud": "zixly-t-app"}).checkpoint()


def test_a_hop_renders_the_catalog_with_its_version_pinned() -> None:
    loaded = load(REPO, "production")
    secrets = {name: Secret(f"t-{i:04d}-" + "0" * 24) for i, name in enumerate(required_secrets(loaded.stack))}
    [host] = {p.host for p in loaded.stack.placements if p.name == "nextcloud"}

    def host_files(files: Sequence[RenderedFile]) -> dict[str, RenderedFile]:
        return {f.path.split("/", 1)[1]: f for f in files if f.path.startswith(host + "/")}

    release = host_files(render(loaded, secrets))
    at = hop_loaded(loaded, "nextcloud", "34.0.5-apache")
    assert loaded.stack.services["nextcloud"].containers["app"].image.tag != "34.0.5-apache"  # untouched
    text = hop_compose(release, host_files(render(at, secrets)), "nextcloud", "nextcloud: hop 1/2")
    assert "nextcloud:34.0.5-apache" in text and text != release["nextcloud/compose.yaml"].text
    others = {p for p in release if p != "nextcloud/compose.yaml"}
    assert host_files(render(at, secrets)).keys() - {"nextcloud/compose.yaml"} == others


def test_swarm_mode_refuses_several_hops_a_rolling_update_would_skip() -> None:
    with pytest.raises(ConfigError, match=r"33.0.9-apache: upgrade to 35.0.1-apache: 2 hops, which swarm mode does "
                                          r"not deploy in turn"):
        refuse_data_moves(cast(Any, SimpleNamespace(upgrades=(TWO,))), UpgradeInputs())
    one = nextcloud("34.0.5-apache", "35.0.1-apache", [])
    refuse_data_moves(cast(Any, SimpleNamespace(upgrades=(one,))), UpgradeInputs())  # one hop: a rolling update
