"""``zixly up`` on this machine: the whole stack through pyinfra's @local connector.

Real parts: this machine's Docker engine, Compose v2, the offline kit's real
Traefik, HAProxy socket proxy, PostgreSQL (pgvector), MariaDB, Redis and n8n. Plane,
Nextcloud, Metabase, Chatwoot, Invoice Ninja, Mautic and Portainer cannot run here (no
registry): they run as the kit's labelled stand-ins, which answer each vendor's
documented health path (the contract in the catalog) and can be made unhealthy with
``ZIXLY_STANDIN_FAIL=1`` — that is what the routing, health-gate and rollback tests use.
The rollback test also checks the deploy.rolled_back notification on four real receivers.
One stack serves the whole session (``local_stack``); tests that change it restore it.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from tests.deploy.helpers import containers
from tests.harness.stack import E2E_BIND, LocalStack, _with
from tests.notify.receivers import HttpSink, MailSink, Sinks, sinks, wait_for

__all__ = ["sinks"]  # the notification receivers' fixture (tests/notify/receivers.py)
from zixly_stack.deploy.urls import app_urls, probe
from zixly_stack.project import load

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]


def _containers(stack: LocalStack) -> dict[str, tuple[str, str]]:
    return containers(list(stack.engine.argv), stack.env, dict(stack.engine.env))


def _inspect(stack: LocalStack, name: str, fmt: str) -> str:
    return stack.engine.docker("inspect", "--format", fmt, name, check=True).stdout.strip()


def test_up_brings_every_container_up_healthy(local_stack: LocalStack) -> None:
    names = _containers(local_stack)
    assert len(names) >= 20, names
    bad = []
    for name in names:
        state = json.loads(_inspect(local_stack, name, "{{json .State}}"))
        restart = _inspect(local_stack, name, "{{.HostConfig.RestartPolicy.Name}}")
        health = (state.get("Health") or {}).get("Status", "no healthcheck")
        if restart == "no":
            ok = state["Status"] == "exited" and state["ExitCode"] == 0
        else:  # a long-running container without a healthcheck is not "healthy": it is unchecked
            ok = state["Status"] == "running" and health == "healthy"
        if not ok:
            bad.append((name, state["Status"], health))
    assert not bad, bad
    assert "STAND-IN" in local_stack.up_stdout, "zixly up names its stand-ins loudly"
    assert "https://n8n.localhost" in local_stack.up_stdout


def test_every_app_answers_its_health_path_through_traefik(local_stack: LocalStack) -> None:
    urls = [u for u in app_urls(load(local_stack.zixly.root, local_stack.env)) if u.kind != "edge"]
    assert {u.service for u in urls} >= {"n8n", "metabase", "plane", "nextcloud", "chatwoot", "invoiceninja", "mautic"}
    results = probe(urls, E2E_BIND, 443)
    failed = [(r.app.service, r.app.host, r.app.health_path, r.status, r.error) for r in results if not r.ok]
    assert not failed, failed


def test_second_up_changes_nothing_and_restarts_nothing(local_stack: LocalStack) -> None:
    before = _containers(local_stack)
    res = local_stack.zixly.run("up", "--env", local_stack.env, "--no-hooks", "--json", "--no-probe")
    report = json.loads(res.stdout)
    assert [h["status"] for h in report["hosts"]] == ["unchanged"], json.dumps(report, indent=2)
    assert _containers(local_stack) == before
    plan = local_stack.zixly.run("plan", local_stack.env, "--detailed-exitcode", check=None)
    assert plan.returncode == 0, plan.stdout


def test_one_env_value_changes_exactly_one_project(local_stack: LocalStack) -> None:
    before = _containers(local_stack)
    local_stack.set_overrides("metabase: {env: {metabase: {MB_ZIXLY_E2E: 'changed'}}}")
    try:
        plan = local_stack.zixly.json("plan", local_stack.env)["hosts"][0]
        paths = sorted(f["path"] for f in plan["files"])
        assert paths == ["manifest.json", "metabase/compose.yaml"], paths
        diff = next(f["diff"] for f in plan["files"] if f["path"] == "metabase/compose.yaml")
        added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
        assert added == ["+      MB_ZIXLY_E2E: changed"], diff
        assert [(p["project"], [s["service"] for s in p["services"]]) for p in plan["projects"]] == [
            (f"zixly-{local_stack.env}-metabase", ["metabase"])
        ]
        report = local_stack.zixly.json("deploy", local_stack.env, "--yes", "--no-hooks")
        assert report["ok"], json.dumps(report, indent=2)
        after = _containers(local_stack)
        changed = sorted(n for n in after if after[n] != before.get(n))
        assert changed == [local_stack.container("metabase", "metabase")], changed
    finally:
        local_stack.set_overrides("")
        local_stack.zixly.run("deploy", local_stack.env, "--yes", "--no-hooks", timeout=900)


NOTIFY = ("json", "form", "ntfy", "smtp")


def test_unhealthy_app_is_rolled_back_and_named(local_stack: LocalStack, sinks: Sinks) -> None:
    """The health gate puts the previous release back, and the deploy that rolled back sends
    ``deploy.rolled_back`` through the real Apprise library to real loopback receivers of four wire
    formats (Apprise JSON, Apprise form, ntfy, SMTP/aiosmtpd): the environment file gets the four
    channels for this deploy only (one rolled-back deploy proves both; the stack is shared)."""
    current = local_stack.base_dir / local_stack.env / "current"
    release_before = current.resolve().name
    metabase = local_stack.container("metabase", "metabase")
    urls = sinks.urls()
    channels = "".join(f"    - {{name: {n}, url: '{urls[n]}', timeout_s: 5}}\n" for n in NOTIFY)
    failing = _with(local_stack, "metabase: {env: {metabase: {ZIXLY_STANDIN_FAIL: '1'}}}")
    local_stack.env_file.write_text(failing.rstrip("\n") + "\nnotifications:\n  channels:\n" + channels)
    try:
        res = local_stack.zixly.run("deploy", local_stack.env, "--yes", "--no-hooks", check=1, timeout=1800)
        assert metabase in res.stderr, res.stderr
        assert "rolled back" in res.stderr
        assert current.resolve().name == release_before, "the previous release is current again"
        state = json.loads(_inspect(local_stack, metabase, "{{json .State}}"))
        assert state["Health"]["Status"] == "healthy"
        env = _inspect(local_stack, metabase, "{{json .Config.Env}}")
        assert "ZIXLY_STANDIN_FAIL" not in env
        log = (local_stack.base_dir / local_stack.env / "releases.log").read_text().splitlines()
        assert json.loads(log[-1])["result"] == "rolled back"

        receivers: list[HttpSink | MailSink] = [sinks.json, sinks.form, sinks.ntfy, sinks.smtp]
        assert wait_for(lambda: all(len(s.got) == 1 for s in receivers)), [s.got for s in receivers]
        for s in receivers:
            (got,) = s.got
            assert got.event == "deploy.rolled_back", got
            assert got.title.startswith(f"[zixly {local_stack.env}] deploy rolled back: "), got
            assert "back on the previous release" in got.title and "rolled back" in got.body, got
            assert not any(u.split("?")[0] in got.raw for u in urls.values()), "no channel URL in a message"
        for n in NOTIFY:
            assert f"notify: deploy.rolled_back sent to {n} (" in res.stderr, res.stderr
        assert not any(u.split("?")[0] in res.stdout + res.stderr for u in urls.values())
    finally:
        local_stack.set_overrides("")
    plan = local_stack.zixly.run("plan", local_stack.env, "--detailed-exitcode", check=None)
    assert plan.returncode == 0, plan.stdout + local_stack.unhealthy()


def test_a_held_lock_refuses_and_a_stale_one_is_reclaimed(local_stack: LocalStack) -> None:
    lock = local_stack.base_dir / local_stack.env / ".lock"
    lock.mkdir()
    try:
        (lock / "owner").write_text(json.dumps({"owner": "bob", "machine": "ci-runner-7", "pid": 99, "since": "x"}))
        res = local_stack.zixly.run("deploy", local_stack.env, "--yes", "--no-hooks", check=4)
        assert "bob@ci-runner-7 (pid 99" in res.stderr
        dead = _dead_pid()
        (lock / "owner").write_text(json.dumps({"owner": "me", "machine": socket.gethostname(), "pid": dead}))
        res = local_stack.zixly.run("deploy", local_stack.env, "--yes", "--no-hooks")
        assert "reclaimed a stale lock" in res.stderr
        assert not lock.exists()
    finally:
        if lock.exists():
            for f in lock.iterdir():
                f.unlink()
            lock.rmdir()


def _dead_pid() -> int:
    pid = 4_000_000
    while Path(f"/proc/{pid}").exists():
        pid -= 1
    return pid


def test_host_after_up_with_testinfra(local_stack: LocalStack) -> None:
    import testinfra  # type: ignore[import-untyped]

    host = testinfra.get_host("local://")
    current = local_stack.base_dir / local_stack.env / "current"
    envs = sorted(current.glob("*/env/*.env"))
    assert envs
    for path in envs:
        f = host.file(str(path))
        assert f.mode == 0o600 and f.user == "root", path
        assert host.file(str(path.parent)).mode == 0o700
    published = set()
    for name in _containers(local_stack):
        ports = json.loads(_inspect(local_stack, name, "{{json .NetworkSettings.Ports}}")) or {}
        for bindings in ports.values():
            for b in bindings or []:
                published.add((name, b["HostIp"], b["HostPort"]))
    assert published == {
        (local_stack.container("traefik", "traefik"), E2E_BIND, "80"),
        (local_stack.container("traefik", "traefik"), E2E_BIND, "443"),
    }, published
    assert host.socket(f"tcp://{E2E_BIND}:443").is_listening


def test_up_installed_the_nightly_backup(local_stack: LocalStack) -> None:
    """No systemd here: the rendered cron line, as the release holds it, in ZIXLY_CRON_DIR
    (tests/conftest.py points it at a temp dir instead of /etc/cron.d)."""
    name = f"zixly-backup-{local_stack.env}"
    installed = Path(os.environ["ZIXLY_CRON_DIR"]) / name
    release = local_stack.base_dir / local_stack.env / "current" / "backup" / f"{name}.cron"
    assert installed.read_text() == release.read_text()
    assert f"root /bin/bash {local_stack.base_dir}/{local_stack.env}/current/backup/backup.sh" in installed.read_text()
    assert oct(installed.stat().st_mode & 0o777) == "0o644"


def test_status_reports_every_container(local_stack: LocalStack) -> None:
    doc = local_stack.zixly.json("status", local_stack.env)
    (host,) = doc["hosts"]
    assert host["release"] and host["containers"]
    assert all(c["ok"] for c in host["containers"]), [c for c in host["containers"] if not c["ok"]]
