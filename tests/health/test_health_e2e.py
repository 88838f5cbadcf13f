"""``zixly health`` against the session's shared local stack (deployed by ``zixly up``).

Real parts: the whole ``local`` environment as the ``local_stack`` fixture deployed it --
real Traefik (every route probed through it by Host + SNI at the vendor contract the
catalog documents), the real engine (container state, health, restarts, image drift), this
machine's disk and memory, real PostgreSQL/MariaDB/Redis/n8n. Plane, Nextcloud, Metabase,
Chatwoot, Invoice Ninja, Mautic and Portainer are the kit's labelled stand-ins: they answer
each vendor's documented health contract, so what is checked for them is our side (routes,
contracts, engine state), not the vendors' apps.

Backup freshness: restic backups (issue 7) do not exist yet, so the backup check reads a
status file this test writes (``--backup-status``) with a fresh snapshot for every service
that declares backups -- the check still runs and must find every such service.

Latency: this suite runs on a loaded 2-core machine where ~30 containers share the CPUs and
an answer can take seconds, so the test root's ``healthchecks/<env>.yaml`` raises
``http.warn_ms`` to 30 s (slow answers -> warning is pinned in ``test_report.py`` and the
bench); every other threshold is the shipped default.

Checked: healthy stack -> every app ``ok``, exit 0, JSON valid against the published schema,
HTML renders from the real run; one stand-in app's container stopped (``docker stop``) ->
that app ``critical`` (container and route), every other app ``ok``, exit 2; then started
again and waited for until healthy and answering through Traefik (the stack is shared).
The on-host agent (``zixly health-schedule``'s rendered ``zixly-health-agent.py`` +
``checks.json``, run with ``python3 -I`` as a timer would) sees the same: critical while
stopped with one change notification (through Debian's ``apprise`` CLI, Apprise's JSON) to a real
HTTP receiver, ok and a recovery notification afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy.helpers import REPO
from tests.harness.stack import LocalStack, health_settings
from tests.health.test_schedule import Receiver, receiver
from tests.notify.test_agent import debian_apprise
from zixly_stack.config.healthchecks import load_settings
from zixly_stack.health.schedule import render_schedule
from zixly_stack.project import load

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]
__all__ = ["receiver"]  # the webhook receiver fixture
VICTIM = ("portainer", "portainer")  # a stand-in app with one container that nothing else needs


def _backups(stack: LocalStack, path: Path) -> set[str]:
    """Record a snapshot taken now for every service that declares backups; return their names."""
    loaded = load(stack.zixly.root, stack.env)
    names = {n for n, s in loaded.stack.services.items() if s.backup.databases or s.backup.volumes}
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps({"services": {n: {"last_success": now} for n in sorted(names)}}))
    return names


def _health(stack: LocalStack, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return stack.zixly.run("health", stack.env, "--state-dir", str(tmp / "state"), "--backup-status",
                           str(tmp / "backups.json"), *extra, check=None, timeout=300)


def _report(res: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(res.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"not JSON (exit {res.returncode}):\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}") from None
    return doc


def _bad(doc: dict[str, Any]) -> list[str]:
    return [f"{c['id']}: {c['status']} {c['summary']}" for c in doc["checks"] if c["status"] not in ("ok", "skipped")]


def _wait_healthy(stack: LocalStack, name: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = stack.engine.docker("inspect", "--format", "{{.State.Status}}/{{.State.Health.Status}}", name).stdout
        if state.strip() == "running/healthy":
            return
        time.sleep(2)
    raise AssertionError(f"{name} did not become healthy again ({state.strip()})")


@pytest.fixture
def tmp(tmp_path: Path, local_stack: LocalStack) -> Path:
    health_settings(local_stack.zixly.root, local_stack.env)  # what the shared stack was deployed with
    _backups(local_stack, tmp_path / "backups.json")
    return tmp_path


def test_healthy_stack_all_ok_and_html(local_stack: LocalStack, tmp: Path) -> None:
    res = _health(local_stack, tmp, "--format", "json")
    doc = _report(res)
    schema = json.loads((REPO / "docs" / "health-report.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert not _bad(doc), "\n".join([*_bad(doc), local_stack.unhealthy()])
    assert res.returncode == 0 and doc["status"] == "ok", res.stderr[-2000:]
    apps = {a["name"]: a["status"] for a in doc["apps"]}
    loaded = load(local_stack.zixly.root, local_stack.env)
    for service in loaded.stack.services:
        assert apps.get(service) == "ok", (service, apps)
    kinds = {c["kind"] for c in doc["checks"] if c["status"] == "ok"}
    assert {"http", "tls", "container", "image", "host", "backup"} <= kinds, kinds
    backed_up = {c["app"] for c in doc["checks"] if c["kind"] == "backup"}
    assert backed_up == _backups(local_stack, tmp / "backups.json"), backed_up
    http = [c for c in doc["checks"] if c["kind"] == "http"]
    assert len(http) >= len(loaded.stack.services) - 3, "too few routes probed through Traefik"
    out = tmp / "report.html"
    html = _health(local_stack, tmp, "--format", "html", "--out", str(out))
    assert html.returncode == 0, html.stderr[-2000:]
    page = out.read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "<script" not in page.lower()
    for service in loaded.stack.services:
        assert service in page, f"{service} missing from the HTML report"


def test_one_standin_stopped_is_critical_the_rest_ok(local_stack: LocalStack, tmp: Path, receiver: Receiver) -> None:
    app, key = VICTIM
    name = local_stack.container(app, key)
    assert local_stack.engine.docker("inspect", "--format", '{{index .Config.Labels "org.zixly.standin"}}',
                                     name).stdout.startswith("true: stand-in"), f"{name} is expected to be a stand-in"
    stopped = local_stack.engine.docker("stop", name, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    try:
        res = _health(local_stack, tmp, "--format", "json", "--no-history")
        doc = _report(res)
        assert res.returncode == 2 and doc["status"] == "critical", (res.returncode, _bad(doc))
        apps = {a["name"]: a["status"] for a in doc["apps"]}
        assert apps[app] == "critical", apps
        assert {a: s for a, s in apps.items() if a != app and s != "ok"} == {}, "\n".join(
            [*_bad(doc), local_stack.unhealthy()])
        mine = {c["id"]: c["status"] for c in doc["checks"] if c["app"] == app}
        assert mine[f"container:{app}:{key}"] == "critical", mine
        assert any(k.startswith("http:") and v == "critical" for k, v in mine.items()), mine
        code, out = _agent(local_stack, tmp, receiver)
        assert code == 2, out
        assert len(receiver.bodies) == 1 and f"ok -> critical: container:{app}:{key}" in receiver.bodies[0]["message"]
    finally:
        local_stack.engine.docker("start", name, timeout=120)
        _wait_healthy(local_stack, name)
    deadline = time.monotonic() + 120
    while True:  # Traefik routes to it again: the stack is shared with other tests
        again = _report(_health(local_stack, tmp, "--format", "json", "--no-history"))
        if {a["name"]: a["status"] for a in again["apps"]}[app] == "ok" or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert again["status"] == "ok", "\n".join([*_bad(again), local_stack.unhealthy()])
    code, out = _agent(local_stack, tmp, receiver)
    assert code == 0, out
    assert len(receiver.bodies) == 2 and f"critical -> ok: container:{app}:{key}" in receiver.bodies[1]["message"]


def _agent(stack: LocalStack, tmp: Path, receiver: Receiver) -> tuple[int, str]:
    """The rendered on-host agent of this stack's host, run once (webhook to *receiver*)."""
    loaded = load(stack.zixly.root, stack.env)
    files = {f.path: f.text for f in render_schedule(loaded, load_settings(stack.zixly.root / "healthchecks",
                                                                           stack.env))}
    cfg = json.loads(files["local/health/checks.json"])
    assert cfg["http"] and all(c["address"] == stack.bind for c in cfg["http"]), cfg["http"][:1]
    cfg["docker"] = list(stack.engine.argv)
    cfg["backup"]["status_file"] = str(tmp / "backups.json")
    (tmp / "apprise.txt").write_text(f"hook={receiver.json_url}\n")  # one channel: Apprise JSON to the receiver
    cfg["notify"].update(apprise=[debian_apprise()], config=str(tmp / "apprise.txt"), digest=False,
                         channels=[{"name": "hook", "events": ["*"], "min_severity": "info", "timeout_s": 10}])
    (tmp / "agent.py").write_text(files["local/health/zixly-health-agent.py"])
    (tmp / "checks.json").write_text(json.dumps(cfg))
    res = subprocess.run([sys.executable, "-I", str(tmp / "agent.py"), "--config", str(tmp / "checks.json"),
                          "--state-dir", str(tmp / "agent-state"), "--now", "2026-11-26T03:00:00+00:00"],
                         capture_output=True, text=True, env=dict(stack.engine.env), timeout=300, check=False)
    return res.returncode, res.stdout + res.stderr
