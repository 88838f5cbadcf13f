"""Backup freshness right after a real backup of the shared local stack (real restic, PostgreSQL,
MariaDB, Redis and volumes; the stand-in apps' databases and volumes are real too).

The silent bug of issue 18: the freshness check read a status file nothing wrote while the
backup script wrote another one elsewhere, so right after a successful ``zixly backup`` the
default ``zixly health`` said "no snapshot recorded" for every app and exited 1, and the on-host
agent read the same unwritten file. Now there is ONE status file (``<base_dir>/<env>/backup/
status.json``, zixly_stack/render/backup/status.py), written by the backup script -- the nightly job
and ``zixly backup`` run that same script -- and read by both. Checked here: after a full
``zixly backup`` and after the nightly script run as its timer runs it, the default report (no
``--backup-status``, no ``--restic``) and the rendered agent both find every backed-up app
fresh and exit 0; with the clock moved past the window (``ZIXLY_NOW`` for the report, the
agent's ``--now``) and no new run, both say stale.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness.stack import LocalStack, health_settings
from zixly_stack.config.healthchecks import load_settings
from zixly_stack.health.schedule import render_schedule
from zixly_stack.project import load

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]


def backed_up(stack: LocalStack) -> set[str]:
    """Every service of the stack that declares something to back up."""
    loaded = load(stack.zixly.root, stack.env)
    return {n for n, s in loaded.stack.services.items() if s.backup.databases or s.backup.volumes}


def use_default_healthchecks(stack: LocalStack) -> None:
    """The shipped healthchecks/ in the test root; only http.warn_ms raised for a loaded machine."""
    health_settings(stack.zixly.root, stack.env)  # what the shared stack was deployed with


def health(stack: LocalStack, tmp: Path, now: dt.datetime | None = None) -> tuple[int, dict[str, Any]]:
    """``zixly health ENV --format json`` with the defaults (state under *tmp*, no history)."""
    env = {"ZIXLY_NOW": now.isoformat()} if now else {}
    saved = dict(stack.zixly.env)
    stack.zixly.env.update(env)
    try:
        res = stack.zixly.run("health", stack.env, "--format", "json", "--no-history", "--state-dir", str(tmp),
                              check=None, timeout=300)
    finally:
        stack.zixly.env.clear()
        stack.zixly.env.update(saved)
    return res.returncode, json.loads(res.stdout)


def wait_healthy(stack: LocalStack, tmp: Path, timeout: float = 600) -> None:
    """Wait until every check but the backups is ok: the shared stack on a loaded machine may be
    restarting an app (n8n migrates for minutes after a restart); this test is about backups."""
    deadline = time.monotonic() + timeout
    while True:
        res = stack.zixly.run("health", stack.env, "--skip", "backup", "--format", "json", "--no-history",
                              "--state-dir", str(tmp), check=None, timeout=300)
        if res.returncode == 0:
            return
        bad = [f"{c['id']}: {c['summary']}" for c in json.loads(res.stdout)["checks"] if c["status"] != "ok"]
        assert time.monotonic() < deadline, f"the shared stack did not become healthy: {bad}"
        time.sleep(10)


def agent(stack: LocalStack, tmp: Path, now: dt.datetime, **overrides: Any) -> tuple[int, dict[str, Any], str]:
    """The rendered on-host agent of the stack's host, run once as its timer would (``python3 -I``).

    Returns its exit code, its ``last.json`` and its output. *overrides* replace keys of checks.json.
    """
    loaded = load(stack.zixly.root, stack.env)
    files = {f.path: f.text for f in render_schedule(loaded, load_settings(stack.zixly.root / "healthchecks",
                                                                           stack.env))}
    cfg = json.loads(files["local/health/checks.json"])
    cfg["docker"] = list(stack.engine.argv)
    cfg.update(overrides)
    (tmp / "agent.py").write_text(files["local/health/zixly-health-agent.py"])
    (tmp / "checks.json").write_text(json.dumps(cfg))
    res = subprocess.run([sys.executable, "-I", str(tmp / "agent.py"), "--config", str(tmp / "checks.json"),
                          "--state-dir", str(tmp / "agent-state"), "--now", now.isoformat()],
                         capture_output=True, text=True, env=dict(stack.engine.env), timeout=600, check=False)
    last = json.loads((tmp / "agent-state" / "last.json").read_text())
    return res.returncode, last, res.stdout + res.stderr


def backup_verdicts(checks: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """app -> (status, summary) of the backup checks of a report or an agent run."""
    return {c["app"]: (c["status"], c["summary"]) for c in checks if c["id"].startswith("backup:")}


def test_after_zixly_backup_report_and_agent_see_every_app_fresh_then_stale(local_stack: LocalStack,
                                                                             tmp_path: Path) -> None:
    s = local_stack
    use_default_healthchecks(s)
    s.zixly.run("backup", s.env, "--no-maintenance", timeout=1800)
    names = backed_up(s)
    wait_healthy(s, tmp_path / "report")
    code, report = health(s, tmp_path / "report")
    verdicts = backup_verdicts(report["checks"])
    assert set(verdicts) == names and {v[0] for v in verdicts.values()} == {"ok"}, verdicts
    bad = [c for c in report["checks"] if c["status"] not in ("ok", "skipped")]
    assert code == 0 and report["status"] == "ok", bad

    status = json.loads((s.base_dir / s.env / "backup" / "status.json").read_text())
    assert status["last_run"]["exit_code"] == 0 and names <= set(status["services"]), status
    now = dt.datetime.now(dt.UTC)
    code, last, out = agent(s, tmp_path, now)
    verdicts = backup_verdicts(last["checks"])
    assert set(verdicts) == names and {v[0] for v in verdicts.values()} == {"ok"}, verdicts
    assert code == 0, out

    later = now + dt.timedelta(hours=30)  # past the 26 h window, before the 72 h critical limit
    code, report = health(s, tmp_path / "report", later)
    verdicts = backup_verdicts(report["checks"])
    assert {v[0] for v in verdicts.values()} == {"warning"}, verdicts
    assert all(v[1].startswith("stale") for v in verdicts.values()), verdicts
    assert code == 1
    code, last, out = agent(s, tmp_path, later)
    verdicts = backup_verdicts(last["checks"])
    assert {v[0] for v in verdicts.values()} == {"warning"} and all(v[1].startswith("stale") for v in
                                                                    verdicts.values()), verdicts
    assert code == 1, out


def test_the_nightly_script_as_its_timer_runs_it_updates_the_same_status(local_stack: LocalStack,
                                                                         tmp_path: Path) -> None:
    """The release's backup.sh run with only what the timer gives it (its password file beside it,
    no state override), restricted to one service: that service's entry moves forward."""
    s = local_stack
    path = s.base_dir / s.env / "backup" / "status.json"
    before = json.loads(path.read_text())["services"] if path.exists() else {}
    script = s.base_dir / s.env / "current" / "backup" / "backup.sh"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZIXLY_", "RESTIC_"))}
    env.update(ZIXLY_BACKUP_ONLY="warehouse", ZIXLY_BACKUP_MAINT="0")
    res = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=1800, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    after = json.loads(path.read_text())
    assert after["last_run"]["exit_code"] == 0
    assert after["services"]["warehouse"]["last_success"] > before.get("warehouse", {}).get("last_success", ""), after
    others = {k: v for k, v in after["services"].items() if k != "warehouse"}
    assert others == {k: v for k, v in before.items() if k != "warehouse"}, "a one-service run left the others alone"
    _, report = health(s, tmp_path)
    assert backup_verdicts(report["checks"])["warehouse"][0] == "ok"
