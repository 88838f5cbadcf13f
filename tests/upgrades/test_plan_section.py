"""The plan's upgrade section: the host's current release (its manifest's recorded versions)
against the rendered one, planned with the catalog's real rules. PURE: the real production
render with deterministic fake secrets, host facts built by hand, no host, no engine.

The golden ``golden/plan-upgrades.txt`` pins the section's text (``pytest --update-golden``
rewrites it, then fails; review ``git diff tests/upgrades/golden``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import REPO, fake_secrets
from zixly_stack.errors import ConfigError
from zixly_stack.plan.compute import Target, host_files, plan_host
from zixly_stack.plan.facts import HostFacts
from zixly_stack.plan.model import HostPlan
from zixly_stack.plan.text import host_lines
from zixly_stack.plan.upgrade import UpgradeInputs, refuse_moves, upgrade_inputs, upgrade_lines
from zixly_stack.project import Loaded, load, render
from zixly_stack.render.tree import RenderedFile

from .conftest import line_of

PG = "services/postgres/service.yaml"
GOLDEN = Path(__file__).parent / "golden" / "plan-upgrades.txt"
LOADED: Loaded = load(REPO, "production")
SECRETS = fake_secrets(LOADED)
FILES: tuple[RenderedFile, ...] = render(LOADED, SECRETS)
MINE = host_files(FILES, "vps1")
NEW = json.loads(MINE["manifest.json"].text)
INPUTS = upgrade_inputs(LOADED.catalog, LOADED.config)
TARGET = Target("vps1", "production", "/srv/zixly", "upstream")

# What the host's current release runs (only versions differ from the rendered release).
RUNNING = {
    **NEW["versions"],
    "n8n": "2.30.2",  # minor: migrations on start, undone by `n8n db:revert` (irreversible here)
    "nextcloud": "34.0.5-apache",  # one major: occ upgrade, data restore to undo
    "redis": "7.4.10-bookworm",  # patch: no migration, image rollback alone is safe
    "postgres": "0.8.4-pg15-bookworm",  # a data-store major: dump/restore, not automated yet
    "metabase": "v0.65.0.1",  # newer than the pin: a downgrade that needs `migrate down`
}


def plan_against(running: dict[str, str], inputs: UpgradeInputs = INPUTS) -> HostPlan:
    manifest = {**NEW, "versions": running}
    facts = HostFacts(release="20261201T000000Z-abcd", manifest=manifest)
    return plan_host(TARGET, FILES, facts, {}, upgrades=inputs)


def test_the_plan_shows_each_version_move_with_its_hops(update_golden: bool) -> None:
    plan = plan_against(RUNNING)
    text = "\n".join(upgrade_lines(plan.upgrades)) + "\n"
    if update_golden:
        GOLDEN.write_text(text)
        pytest.fail(f"rewrote {GOLDEN}: review the diff, then run again without --update-golden")
    assert text == GOLDEN.read_text()
    assert plan.refused == ()
    assert [m.service for m in plan.upgrades] == ["metabase", "n8n", "nextcloud", "postgres", "redis"]


def test_no_secret_reaches_the_plan() -> None:
    plan = plan_against(RUNNING)
    shown = "\n".join(host_lines(plan)) + json.dumps(plan.to_json())
    assert "upgrades (5):" in shown and '"upgrades": [' in shown
    for name, secret in SECRETS.items():
        assert secret.reveal() not in shown, f"secret {name} leaked into the plan"


def test_same_versions_plan_no_upgrade() -> None:
    plan = plan_against(dict(NEW["versions"]))
    assert plan.upgrades == () and plan.refused == ()
    assert not any("upgrades" in line for line in host_lines(plan))


def test_a_release_without_recorded_versions_compares_nothing() -> None:
    manifest = {k: v for k, v in NEW.items() if k != "versions"}
    plan = plan_host(TARGET, FILES, HostFacts(release="r", manifest=manifest), {}, upgrades=INPUTS)
    assert plan.upgrades == ()


def test_skipping_a_nextcloud_major_is_refused_at_the_catalog_pin() -> None:
    plan = plan_against({**NEW["versions"], "nextcloud": "31.0.9-apache"})
    assert plan.upgrades == ()
    [problem] = plan.refused
    line = line_of(REPO, "services/nextcloud/service.yaml", "image: {repository: nextcloud, tag:")
    assert str(problem) == (
        f"services/nextcloud/service.yaml:{line}:41: containers.app.image.tag: the host runs 31.0.9-apache: "
        "nextcloud: 31.0.9-apache -> 33.0.9-apache crosses 2 majors; upgrade.max_major_step is 1 (the vendor "
        "refuses to skip a major) (allowed: 31.0.9-apache -> 32.x -> 33.0.9-apache -> 34.0.5-apache -> "
        "35.0.1-apache: add a 32.x version to upgrade.path (or move one major at a time))"
    )
    with pytest.raises(ConfigError) as caught:
        refuse_moves([plan], INPUTS, deploying=False)
    assert str(caught.value).endswith("1 error in configuration; nothing was written")


def test_nextcloud_two_majors_at_once_plan_as_two_hops_through_the_catalog_path() -> None:
    plan = plan_against({**NEW["versions"], "nextcloud": "33.0.9-apache"})
    assert plan.refused == ()
    [move] = [m for m in plan.upgrades if m.service == "nextcloud"]
    assert [(h.src, h.dst) for h in move.hops] == [("33.0.9-apache", "34.0.5-apache"),
                                                   ("34.0.5-apache", "35.0.1-apache")]
    text = "\n".join(upgrade_lines(plan.upgrades))
    assert "upgrade nextcloud: 33.0.9-apache -> 35.0.1-apache (2 hops)" in text


def test_deploy_refuses_what_it_cannot_carry_out_but_plan_shows_it() -> None:
    plan = plan_against(RUNNING)
    refuse_moves([plan], INPUTS, deploying=False)  # plan: shown, not refused
    with pytest.raises(ConfigError) as caught:
        refuse_moves([plan], INPUTS, deploying=True)
    text = str(caught.value)
    mb, pg = line_of(REPO, "services/metabase/service.yaml", "tag: v0."), line_of(REPO, PG, "tag: 0.8.4-pg16")
    assert (f"services/metabase/service.yaml:{mb}:12: containers.metabase.image.tag: the host runs v0.65.0.1: "
            "downgrade to v0.64.1.5: a downgrade needs `migrate down`") in text
    assert (f"{PG}:{pg}:12: containers.server.image.tag: the host runs 0.8.4-pg15-bookworm: "
            "upgrade to 0.8.4-pg16-bookworm: a data-store major") in text
    assert text.endswith("2 errors in configuration; nothing was written")  # n8n, nextcloud, redis: one hop each


def test_the_runner_plans_moves_with_the_catalogs_rules() -> None:
    """env_target carries the rules and where each version is pinned; plan_one hands them to the
    planner (facts given, every file already current: no host is contacted)."""
    from zixly_stack.deploy.runner import env_target, plan_one

    et = env_target(LOADED, FILES)
    assert et.upgrades.rules["nextcloud"].max_major_step == 1
    loc, path = et.upgrades.pins["nextcloud"]
    assert (loc.file, path) == ("services/nextcloud/service.yaml", "containers.app.image.tag")
    mine = et.files_of("vps1")
    facts = HostFacts(release="r1", files={p: f.sha256 for p, f in mine.items()},
                      modes={p: f"{f.mode:04o}" for p, f in mine.items()},
                      manifest={**NEW, "versions": {**NEW["versions"], "nextcloud": "34.0.5-apache"}})
    plan, _ = plan_one(None, et, "vps1", "<new>", facts)
    assert [(m.service, m.src, m.dst) for m in plan.upgrades] == [("nextcloud", "34.0.5-apache", "35.0.1-apache")]
