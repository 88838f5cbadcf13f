"""Planner inputs from a loaded environment (``zixly_stack/plan/spec.py``), read from REAL
``hosts.yaml`` files: durations, project stages, the health agent's files, and each host's
preparation -- every ``prepare:`` switch of ``hosts.yaml`` is read, and a switch turned off
plans nothing for its step (an installed schedule is removed).

The path is the deploy's own: ``hosts.yaml`` -> :func:`zixly_stack.project.load` ->
:func:`zixly_stack.deploy.runner.env_target` -> :func:`zixly_stack.plan.prepare.plan_prepare`
against the facts a fresh Debian host reports.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.deploy.helpers import make_root
from tests.helpers import REPO, fake_secrets
from zixly_stack.deploy.runner import env_target
from zixly_stack.models.environment import HostPrepare
from zixly_stack.plan.compute import backup_units, host_files
from zixly_stack.plan.prepare import PrepareSpec, daemon_json, parse_prepare, plan_prepare
from zixly_stack.plan.spec import health_install, project_specs, seconds, targets
from zixly_stack.project import Loaded, load, render
from zixly_stack.render.tree import RenderedFile

SWITCHES = tuple(HostPrepare.model_fields)
PLANNED = set(SWITCHES) - {"notify"}  # `notify` installs apprise only when channels are configured (none here)
STAGING_ENV = (REPO / "inventories" / "staging" / "environment.yaml").read_text()
# A fresh Debian host as the facts script reports it: root, dpkg, sshd allowing passwords, no systemd.
FRESH = {"uid": "0", "home": "/root", "dpkg": "yes", "sshd_passwordauthentication": "yes", "sshd_include": "yes"}


def _hosts_yaml(prepare: dict[str, bool], address: str = "198.51.100.20") -> str:
    lines = ["hosts:", "  staging1:", f"    address: {json.dumps(address)}", "    roles: [edge, apps, stores]"]
    if prepare:
        lines.append("    prepare: {" + ", ".join(f"{k}: {str(v).lower()}" for k, v in prepare.items()) + "}")
    return "\n".join(lines) + "\n"


def _loaded(tmp_path: Path, prepare: dict[str, bool], address: str = "198.51.100.20") -> Loaded:
    root = make_root(tmp_path / "repo", "staging", STAGING_ENV, _hosts_yaml(prepare, address))
    return load(root, "staging")


def _prepared_steps(loaded: Loaded, **facts: str) -> tuple[PrepareSpec, list[str]]:
    """(the host's PrepareSpec, the steps planned on it) exactly as a deploy computes them."""
    files = render(loaded, fake_secrets(loaded))
    target = env_target(loaded, files).targets["staging1"]
    assert target.prepare is not None
    lines = [f"{k} {v}" for k, v in {**FRESH, **facts}.items()]
    changes, _ = plan_prepare(target.prepare, parse_prepare(lines), backup_units(host_files(files, "staging1")))
    return target.prepare, [c.step for c in changes]


def test_by_default_every_step_is_on_and_planned_on_a_fresh_host(tmp_path: Path) -> None:
    spec, steps = _prepared_steps(_loaded(tmp_path, {}))
    assert spec.steps == frozenset(SWITCHES)
    assert set(steps) == PLANNED, steps  # every one is planned


@pytest.mark.parametrize("switch", SWITCHES)
def test_a_switch_off_in_hosts_yaml_plans_nothing_for_its_step(switch: str, tmp_path: Path) -> None:
    spec, steps = _prepared_steps(_loaded(tmp_path, {switch: False}))
    assert spec.steps == frozenset(SWITCHES) - {switch}
    assert switch not in steps, steps
    assert set(steps) == PLANNED - {switch}, "the other steps are still planned"


def test_schedules_switched_off_in_hosts_yaml_are_removed_from_the_host(tmp_path: Path) -> None:
    """The schedules an earlier deploy installed (their cron lines are on the host) are removed
    once ``hosts.yaml`` switches them off -- read from the file, not built by hand."""
    installed = {"sha:/etc/cron.d/zixly-backup-staging": "ab", "sha:/etc/cron.d/zixly-health-staging": "cd",
                 "sha:/etc/cron.d/zixly-demo-reap-staging": "ef"}
    on = _loaded(tmp_path / "on", {})
    spec_on, steps_on = _prepared_steps(on, **installed)
    assert {"backup_schedule", "health_schedule"} <= spec_on.steps
    assert {"backup_schedule", "health_schedule"} <= set(steps_on), "switched on: (re)installed, not removed"
    off = _loaded(tmp_path / "off", {"backup_schedule": False, "health_schedule": False, "demo_reap_schedule": False})
    files = render(off, fake_secrets(off))
    target = env_target(off, files).targets["staging1"]
    assert target.prepare is not None and not {"backup_schedule", "health_schedule"} & target.prepare.steps
    lines = [f"{k} {v}" for k, v in {**FRESH, **installed}.items()]
    changes, _ = plan_prepare(target.prepare, parse_prepare(lines), backup_units(host_files(files, "staging1")))
    removals = [(c.step, c.summary, c.argvs) for c in changes if c.step.endswith("_schedule")]
    assert removals == [
        ("backup_schedule", "remove the nightly backup (switched off)",
         (("rm", "-f", "--", "/etc/cron.d/zixly-backup-staging"),)),
        ("health_schedule", "remove the health agent (switched off)",
         (("rm", "-f", "--", "/etc/cron.d/zixly-health-staging"),)),
        ("demo_reap_schedule", "remove the client demos' reap job (switched off)",
         (("rm", "-f", "--", "/etc/cron.d/zixly-demo-reap-staging"),)),
    ]


def test_local_hosts_keep_only_the_two_schedules_and_their_switches(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZIXLY_CRON_DIR", str(tmp_path / "cron.d"))
    spec, _ = _prepared_steps(_loaded(tmp_path / "a", {}, address="@local"))
    assert spec.steps == {"backup_schedule", "health_schedule", "notify"} and spec.compose_plugin is None
    assert spec.cron_dir == str(tmp_path / "cron.d")
    spec, _ = _prepared_steps(_loaded(tmp_path / "b", {"health_schedule": False, "docker": True}, address="@local"))
    assert spec.steps == {"backup_schedule", "notify"}


def test_a_prepared_host_plans_nothing(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, {"docker": False, "deploy_user": False, "firewall": False, "ssh_hardening": False,
                                "unattended_upgrades": False, "backup_schedule": False, "health_schedule": False,
                                "notify": False, "demo_reap_schedule": False})
    dj = base64.b64encode(json.dumps(daemon_json({}, False)).encode()).decode()
    spec, steps = _prepared_steps(loaded, daemon_json=dj, dockerd_pid="9")
    assert spec.steps == {"daemon_json"} and steps == []


@pytest.mark.parametrize(("text", "value"), [("180s", 180), ("10m", 600), ("2h", 7200), ("1ms", 1), (" 5s ", 5)])
def test_seconds(text: str, value: int) -> None:
    assert seconds(text) == value


@pytest.mark.parametrize("text", ["", "5", "5 s", "1d", "-5s", "1.5s"])
def test_seconds_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        seconds(text)


def test_project_specs_order_stores_infra_edge_apps_with_hooks_and_timeouts() -> None:
    stack = load(REPO, "local").stack
    specs = project_specs(stack, "local")
    stages = {name: s.stage for name, s in specs.items()}
    assert stages["postgres"] == stages["mariadb"] == stages["redis"] == 0
    assert stages["warehouse"] == stages["socket-proxy"] == 1, "infra after the stores"
    assert stages["traefik"] == 2 and stages["n8n"] == stages["metabase"] == 3
    assert specs["n8n"].hooks == ("n8n-owner", "n8n-workflows")
    assert specs["n8n"].wait_timeout == seconds(stack.services["n8n"].wait_timeout)
    assert set(specs) == {p.name for p in stack.on_host("local")}
    assert project_specs(stack, "nowhere") == {}


def test_health_install_takes_only_this_host_and_environment() -> None:
    files = [
        RenderedFile("h1/health/checks.json", "{}", 0o644),
        RenderedFile("h1/health/zixly-health-agent.py", "print()", 0o755),
        RenderedFile("h1/health/zixly-health-prod.cron", "*/5 * * * * root x\n", 0o644),
        RenderedFile("h1/health/zixly-health-prod.timer", "[Timer]\n", 0o644),
        RenderedFile("h1/health/zixly-health-other.cron", "not ours\n", 0o644),
        RenderedFile("h2/health/checks.json", "{}", 0o644),
        RenderedFile("h1/n8n/compose.yaml", "x", 0o644),
        RenderedFile("h1/health/sub/deeper.txt", "x", 0o644),
    ]
    agent, units = health_install(files, "h1", "prod")
    assert agent == (("checks.json", "{}", "0644"), ("zixly-health-agent.py", "print()", "0755"),
                     ("zixly-health-other.cron", "not ours\n", "0644"))
    assert units == {"cron": "*/5 * * * * root x\n", "timer": "[Timer]\n"}


def test_targets_of_a_swarm_know_their_peers_and_remote_hosts_get_the_compose_plugin() -> None:
    stack = load(REPO, "swarm").stack
    out = targets(stack, "offline", "/opt/zixly", compose_plugin="/usr/lib/docker/cli-plugins/docker-compose")
    assert [t.host for t in out] == stack.host_names() and len(out) >= 2
    for t in out:
        assert t.prepare is not None and t.prepare.swarm and not t.local
        others = tuple(h.address for n, h in stack.hosts.items() if n != t.host)
        assert t.prepare.swarm_peers == others and stack.hosts[t.host].address not in others
        assert t.prepare.compose_plugin == "/usr/lib/docker/cli-plugins/docker-compose"
        assert t.prepare.cron_dir == "/etc/cron.d" and t.image_source == "offline"
