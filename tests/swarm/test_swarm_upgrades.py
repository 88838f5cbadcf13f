"""Version moves in a swarm plan: the first manager's current release (its manifest's recorded
``versions``) against the rendered one, planned with the catalog's real rules, as compose mode
plans them per host (tests/upgrades/test_plan_section.py). PURE but for the deploy's order test,
which fakes the connection layer: the real ``inventories/swarm`` render with deterministic fake
secrets, facts built by hand, no host, no engine.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import REPO, fake_secrets
from tests.upgrades.conftest import line_of
from zixly_stack.cli.swarm_cmd import plan_lines
from zixly_stack.deploy import swarm as sw
from zixly_stack.errors import ConfigError
from zixly_stack.plan.swarm import MARK, ClusterFacts, NodeFacts, parse_facts
from zixly_stack.plan.upgrade import refuse_moves
from zixly_stack.project import load, render

LOADED = load(REPO, "swarm")
SECRETS = fake_secrets(LOADED)
TARGET = sw.swarm_target(LOADED, render(LOADED, SECRETS))
NEW: dict[str, str] = TARGET.meta()["versions"]


def plan_against(running: dict[str, str]) -> sw.SwarmPlan:
    """The plan of a set-up swarm whose current release records *running*."""
    facts = {"m1": NodeFacts("active", "n1", "c1", True, "28.2.2", "releases/r1", running),
             "w1": NodeFacts("active", "n2", "c1", False), "w2": NodeFacts("active", "n3", "c1", False)}
    return sw._plan(TARGET, facts, ClusterFacts())


def test_the_swarm_manifest_records_every_services_version() -> None:
    assert NEW == {"metabase": "v0.64.1.5", "n8n": "2.41.1", "portainer": "2.45.1-alpine",
                   "postgres": "0.8.4-pg16-bookworm", "redis": "7.4.11-bookworm", "socket-proxy": "v0.4.2",
                   "traefik": "v3.7.15", "warehouse": "16.15-bookworm"}


def test_the_facts_read_the_current_releases_versions() -> None:
    manifest = json.dumps({"mode": "swarm", "versions": {"n8n": "2.30.2"}}, indent=2)
    text = "\n".join([f"{MARK}swarm", '{"LocalNodeState": "active"}', f"{MARK}current", "releases/r1",
                      f"{MARK}versions", manifest, f"{MARK}end"])
    assert parse_facts(text, "m1")[0].versions == {"n8n": "2.30.2"}
    for broken in ("", "{not json", '{"versions": "2.30.2"}', "[]"):  # none recorded: nothing compared
        text = f"{MARK}swarm\n{{}}\n{MARK}versions\n{broken}\n{MARK}end"
        assert parse_facts(text, "m1")[0].versions == {}


def test_the_plan_shows_each_move_with_its_hops_and_never_a_secret() -> None:
    plan = plan_against({**NEW, "n8n": "2.30.2", "redis": "7.4.10-bookworm", "postgres": "0.8.4-pg15-bookworm"})
    assert [(m.service, m.src, m.dst) for m in plan.upgrades] == [
        ("n8n", "2.30.2", "2.41.1"), ("postgres", "0.8.4-pg15-bookworm", "0.8.4-pg16-bookworm"),
        ("redis", "7.4.10-bookworm", "7.4.11-bookworm")]
    assert plan.refused == ()
    text = "\n".join(plan_lines(plan))
    assert "  upgrades (3):\n    upgrade n8n: 2.30.2 -> 2.41.1 (1 hop)" in text, text
    assert "      hop 1: 7.4.10-bookworm -> 7.4.11-bookworm: image rollback alone is safe" in text
    assert "! zixly deploy refuses this move: a data-store major" in text  # postgres 15 -> 16
    doc = plan.to_json()
    assert [(u["service"], bool(u["deploy_refuses"])) for u in doc["upgrades"]] == [
        ("n8n", False), ("postgres", True), ("redis", False)]
    shown = text + json.dumps(doc)
    for name, secret in SECRETS.items():
        assert secret.reveal() not in shown, f"secret {name} leaked into the plan"


def test_same_or_unrecorded_versions_plan_no_move() -> None:
    for running in (dict(NEW), {}):
        plan = plan_against(running)
        assert plan.upgrades == () and plan.refused == ()
        assert not any("upgrades" in line for line in plan_lines(plan))


def test_a_forbidden_move_is_refused_at_its_pin_by_plan_and_deploy() -> None:
    plan = plan_against({**NEW, "n8n": "latest"})  # the rules cannot tell where `latest` stands
    [problem] = plan.refused
    line = line_of(REPO, "services/n8n/service.yaml", "tag: 2.41.1")
    assert str(problem).startswith(f"services/n8n/service.yaml:{line}:12: containers.n8n.image.tag: "
                                   "the host runs latest: n8n: version 'latest' does not match"), problem
    for deploying in (False, True):
        with pytest.raises(ConfigError) as caught:
            refuse_moves([plan], TARGET.upgrades, deploying=deploying)
        assert str(caught.value).endswith("1 error in configuration; nothing was written")


class _Session:
    hosts = {"m1": object(), "w1": object(), "w2": object()}
    errors: dict[str, str] = {}

    def close(self) -> None:
        pass


def test_plan_swarm_refuses_a_forbidden_move(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = {"m1": NodeFacts("active", "n1", "c1", True, "", "releases/r1", {**NEW, "n8n": "latest"}),
             "w1": NodeFacts("active"), "w2": NodeFacts("active")}
    monkeypatch.setattr(sw, "_connect", lambda t: _Session())
    monkeypatch.setattr(sw, "_facts", lambda s, t: (facts, ClusterFacts()))
    monkeypatch.setattr(sw, "plan_nodes", lambda s, p: pytest.fail("plan went on after a refused move"))
    with pytest.raises(ConfigError, match=r"containers\.n8n\.image\.tag: the host runs latest"):
        sw.plan_swarm(TARGET)


def test_deploy_refuses_a_move_it_cannot_carry_out_before_touching_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    """A data-store major (postgres 15 -> 16) is shown by plan, refused by deploy: no node is
    prepared, no swarm step, no stack deployed; the lock is released."""
    facts = {"m1": NodeFacts("active", "n1", "c1", True, "", "releases/r1", {**NEW, "postgres": "0.8.4-pg15-bookworm"}),
             "w1": NodeFacts("active"), "w2": NodeFacts("active")}
    calls: list[str] = []

    def forbidden(*_: Any, **__: Any) -> Any:
        raise AssertionError("the deploy went on after a refused move")

    monkeypatch.setattr(sw, "_connect", lambda t: _Session())
    monkeypatch.setattr(sw, "_facts", lambda s, t: (facts, ClusterFacts()))
    monkeypatch.setattr(sw.locks, "acquire", lambda *a, **k: calls.append("lock") or sw.locks.LockResult("tok"))
    monkeypatch.setattr(sw.locks, "release", lambda *a, **k: calls.append("unlock"))
    for name in ("plan_nodes", "apply_nodes", "setup_swarm", "_apply"):
        monkeypatch.setattr(sw, name, forbidden)
    monkeypatch.setattr(sw, "plan_nodes", lambda s, p: ({}, []))  # plan shows the move
    assert [m.service for m in sw.plan_swarm(TARGET).upgrades] == ["postgres"]
    monkeypatch.setattr(sw, "plan_nodes", forbidden)
    with pytest.raises(ConfigError, match=r"upgrade to 0\.8\.4-pg16-bookworm: a data-store major needs its data "
                                          r"moved to a new volume, which swarm mode does not do yet"):
        sw.deploy_swarm(TARGET, say=lambda h, t: None, redact=str)
    assert calls == ["lock", "unlock"]
