"""``zixly demo`` decisions around the bring-up (``zixly_stack/demo/run.py``), without a stack:
the memory budget, the host-edge checks, expiry (extend/reap: only expired demos go, with their
route files and state), ``demo down`` of an unknown client, and the health verdict read from
this machine's REAL engine (a few labelled containers of the run, removed afterwards). The
demo bring-up itself runs end to end in test_demo_e2e.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.deploy.helpers import REPO, make_root
from tests.harness.leaks import label_args, run_name
from tests.harness.local_engine import LocalEngine
from zixly_stack.clock import fmt_time
from zixly_stack.demo import registry as reg
from zixly_stack.demo import run
from zixly_stack.demo.build import memory_of
from zixly_stack.demo.spec import DemoError, human_mem
from zixly_stack.project import load

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HOSTS = (REPO / "inventories" / "local" / "hosts.yaml").read_text()


def _root(tmp: Path, env: str = "hostenv", budget: str = "", hosts: str = HOSTS, services: str = "") -> Path:
    text = (REPO / "inventories" / "local" / "environment.yaml").read_text()
    text = re.sub(r"(?m)^base_dir: .*$", f"base_dir: {tmp}/opt", text)
    if services:
        text = text.split("services:\n")[0] + "services:\n" + services
    return make_root(tmp / "repo", env, text + budget, hosts)


def _record(client: str, expires: datetime, route: Path, memory: int = 0) -> reg.DemoRecord:
    return reg.DemoRecord(client=client, env=f"demo-{client}", host_env="hostenv", host="local",
                          services=["metabase"], stack=["metabase"], projects=[f"zixly-demo-{client}-metabase"],
                          created=fmt_time(NOW - timedelta(days=1)), expires=fmt_time(expires),
                          memory=memory, route_file=str(route), status="ready")


def test_the_memory_budget_counts_the_stack_other_demos_and_the_new_one(tmp_path: Path) -> None:
    loaded = load(_root(tmp_path, budget="memory_budget: 40g\n"), "hostenv")
    edge = run.HostEdge(loaded, "local", "zixly-hostenv-proxy", tmp_path / "dynamic")
    budget, source = run.memory_budget(edge)
    assert budget == 40 * 1024**3 and source == "memory_budget of environment 'hostenv'"
    main = memory_of(loaded.stack)
    reg.save(edge.base_dir, _record("other", NOW, tmp_path / "r.yml", memory=2 * 1024**3))
    room = budget - main - 2 * 1024**3
    run.check_memory(edge, room, "acme")  # exactly fits
    with pytest.raises(DemoError) as err:
        run.check_memory(edge, room + 1, "acme")
    assert (f"the host already has {human_mem(main)} for environment 'hostenv' and {human_mem(2 * 1024**3)} for "
            "other demos") in str(err.value) and "nothing was changed" in str(err.value)
    assert run.check_memory(edge, room + 2 * 1024**3, "other") is None, "a demo's own old record does not count"
    unbudgeted = run.HostEdge(load(_root(tmp_path / "b"), "hostenv"), "local", "p", tmp_path)
    assert run.memory_budget(unbudgeted)[1] == "this machine's MemTotal"


def test_host_edge_refuses_remote_hosts_missing_edges_and_stopped_edges(tmp_path: Path, engine: LocalEngine) -> None:
    remote = _root(tmp_path / "r", hosts="hosts:\n  vps1:\n    address: 203.0.113.10\n")
    with pytest.raises(DemoError, match=r"demos run on this machine's engine only .* vps1 is 203\.0\.113\.10"):
        run.host_edge(remote, "hostenv", None)
    with pytest.raises(DemoError, match="--host 'nope': not a host of environment 'hostenv'"):
        run.host_edge(remote, "hostenv", "nope")
    edgeless = _root(tmp_path / "e", services="  postgres:\n  warehouse:\n")
    with pytest.raises(DemoError, match="has no edge"):
        run.host_edge(edgeless, "hostenv", None)
    stopped = _root(tmp_path / "s", env=run_name("edge").replace("-", ""))
    with pytest.raises(DemoError, match=r"is not running on this machine; bring the environment up first"):
        run.host_edge(stopped, run_name("edge").replace("-", ""), None)


def test_extend_and_reap_remove_only_expired_demos(tmp_path: Path) -> None:
    root = _root(tmp_path)
    base = load(root, "hostenv").config.environment.base_dir
    routes = tmp_path / "dynamic"
    routes.mkdir()
    for client, expires in (("old", NOW - timedelta(minutes=1)), ("fresh", NOW + timedelta(hours=1))):
        (routes / f"demo-{client}.yml").write_text("http: {}\n")
        reg.save(base, _record(client, expires, routes / f"demo-{client}.yml"))
    extended = run.extend(root, "hostenv", "fresh", timedelta(hours=2), clock=lambda: NOW)
    assert extended.expires == fmt_time(NOW + timedelta(hours=3)), "from the later of expiry and now"
    said: list[str] = []
    gone = run.reap(root, "hostenv", say=said.append, clock=lambda: NOW)
    assert [r.client for r in gone] == ["old"] and said == ["removing zixly-demo-old-metabase"]
    assert [r.client for r in run.records(root, "hostenv")] == ["fresh"]
    assert sorted(p.name for p in routes.iterdir()) == ["demo-fresh.yml"]
    assert not (reg.demos_dir(base) / "old").exists()
    with pytest.raises(DemoError, match="no demo 'nobody' on environment 'hostenv' \\(demos: fresh\\)"):
        run.down(root, "hostenv", "nobody")


@pytest.fixture
def demo_containers(engine: LocalEngine) -> Iterator[tuple[str, LocalEngine]]:
    """Containers of a demo environment of this run on the real engine (removed afterwards)."""
    env = f"demo-{run_name('h')}"
    made: list[str] = []

    def make(short: str, *argv: str) -> None:
        name = f"zixly-{env}-{short}"
        made.append(name)
        engine.docker("run", "-d", "--network", "none", "--name", name, "--label", f"org.zixly.env={env}",
                      *label_args(), *argv, check=True)

    healthy = ("--health-cmd", "true", "--health-interval", "1s", "--health-start-period", "0s")
    make("app-1", *healthy, "zixly-offline/base:bookworm", "sleep", "300")
    make("migrate-1", "zixly-offline/base:bookworm", "true")
    try:
        engine.docker("wait", f"zixly-{env}-migrate-1", check=True)
        for _ in range(100):
            status = engine.docker("inspect", "--format", "{{.State.Health.Status}}", made[0], check=True).stdout
            if status.strip() == "healthy":
                break
            time.sleep(0.1)
        yield env, engine
    finally:
        engine.docker("rm", "-f", *made)
        engine.docker("rm", "-f", f"zixly-{env}-crash-1")


def test_health_reads_the_demos_containers_from_the_engine(demo_containers: tuple[str, LocalEngine],
                                                           tmp_path: Path) -> None:
    env, engine = demo_containers
    rec = _record(env.removeprefix("demo-"), NOW, tmp_path / "r.yml")
    assert run.health(rec) == "healthy", "a job that exited 0 is fine"
    engine.docker("run", "--network", "none", "--name", f"zixly-{env}-crash-1", "--label", f"org.zixly.env={env}",
                  *label_args(), "zixly-offline/base:bookworm", "false")
    verdict = run.health(rec)
    assert verdict.startswith("unhealthy: crash-1 Exited (1)"), verdict
    nobody = _record(run_name("none"), NOW, tmp_path / "n.yml")
    assert run.health(nobody) == "down"
