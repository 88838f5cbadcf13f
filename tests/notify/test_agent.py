"""The on-host agent's notifications, run as a host runs it (its own ``python3 -I`` process) through
Debian's ``apprise`` CLI 1.2.0 -- the package host preparation installs -- to real receivers on
loopback (Apprise JSON, a Mattermost-style webhook whose token is a secret, ntfy, SMTP).

Its probes meet a real HTTPS edge on loopback (tests/health/edge.py: certificates by SNI, made
with ``cryptography`` with the validity a test asks for). Checked: each kind of change becomes
its event (cert.expiring, host.disk, backup.missing, health.changed, digest.daily) once, on
every channel, the URLs only in the 0600 channel file; a channel that hangs is given up after
its timeout, kept in the outbox, shown in last.json and as a ``notify:`` check, and delivered
by the next run together with what the backup script left in its own outbox.
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography import x509

from tests.harness.local_engine import unavailable
from tests.health.edge import Answer, Edge, self_signed
from tests.notify.receivers import TOKEN, Sinks, wait_for
from zixly_stack.health.schedule import AGENT_EVENTS
from zixly_stack.models.environment import Environment
from zixly_stack.notify.channels import apprise_config, declared, resolve
from zixly_stack.notify.events import BY_ID, EVENTS
from zixly_stack.notify.outbox import Entry, Outbox
from zixly_stack.secrets.value import Secret

AGENT = Path(__file__).resolve().parents[2] / "zixly_stack" / "health" / "agent.py"
HOST_APPRISE = "/usr/bin/apprise"  # Debian bookworm's package (1.2.0), what host preparation installs
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)  # certificates are made against the real clock
VHOST = "app.example.test"


def debian_apprise() -> str:
    if not Path(HOST_APPRISE).exists():
        unavailable(f"{HOST_APPRISE} missing: apt-get install apprise (make deps)")
    return HOST_APPRISE


def config(tmp: Path, edge: Edge, sinks: Sinks, names: tuple[str, ...], **per: dict[str, Any]) -> dict[str, Any]:
    """checks.json as `zixly health-schedule` renders it, pointed at the test's edge, receivers and files."""
    urls = sinks.urls()
    env = Environment.model_validate({"domain": "example.com", "notifications": {"channels": [
        {"name": n, "url": urls[n], "timeout_s": 2, **per.get(n, {})} for n in names]}})
    conf = tmp / "apprise.txt"
    conf.write_text(apprise_config(resolve(env, {"notify.mm_token": Secret(TOKEN)}, "t")))
    conf.chmod(0o600)
    return {
        "environment": "t", "host_name": "h", "state_dir": str(tmp / "state"), "containers": [],
        "http": [{"id": f"http:app:{VHOST}/health", "app": "app", "address": "127.0.0.1", "port": edge.port,
                  "vhost": VHOST, "path": "/health", "status": 200, "body": "ok", "warn_ms": 10000,
                  "timeout_s": 10}],
        "tls": {"warn_days": 21, "critical_days": 3, "timeout_s": 10, "checks": [
            {"id": f"tls:app:{VHOST}", "app": "app", "address": "127.0.0.1", "port": edge.port, "vhost": VHOST}]},
        "host": {"disk_paths": ["/"], "disk_warn_pct": 100, "disk_critical_pct": 100, "memory_warn_pct": 100,
                 "memory_critical_pct": 100},
        "backup": {"status_file": str(tmp / "status.json"), "max_age_hours": 26, "critical_age_hours": 72,
                   "services": ["app"]},
        "notify": {"digest": False, "digest_hour": 8, "apprise": [debian_apprise()], "config": str(conf),
                   "outboxes": [str(tmp / "backup-outbox")],
                   "channels": [{"name": c.name, "events": c.events, "min_severity": c.min_severity,
                                 "timeout_s": c.timeout_s} for c in declared(env)],
                   "events": {e: {"severity": BY_ID[e].severity, "title": BY_ID[e].title} for e in AGENT_EVENTS}},
    }


def run(cfg: dict[str, Any], tmp: Path, now: dt.datetime) -> tuple[int, dict[str, Any], str]:
    (tmp / "checks.json").write_text(json.dumps(cfg))
    res = subprocess.run([sys.executable, "-I", str(AGENT), "--config", str(tmp / "checks.json"), "--now",
                          now.isoformat()], capture_output=True, text=True, timeout=300, check=False,
                         env={"PATH": "/usr/bin:/bin"})
    last = json.loads((tmp / "state" / "last.json").read_text())
    return res.returncode, last, res.stdout + res.stderr


def backed_up(tmp: Path, when: dt.datetime) -> None:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp / "status.json").write_text(json.dumps({"version": 1, "services": {"app": {"last_success": stamp}}}))


def events_at(sinks: Sinks) -> dict[str, dict[str, int]]:
    """event -> receiver -> how many."""
    out: dict[str, dict[str, int]] = {}
    for g in sinks.all_got():
        out.setdefault(g.event, {}).setdefault(g.sink, 0)
        out[g.event][g.sink] += 1
    return out


def test_each_change_is_its_event_once_on_every_channel(sinks: Sinks, tmp_path: Path) -> None:
    names = ("json", "mmost", "ntfy", "smtp")
    every = {n: 1 for n in names}
    with Edge() as edge:
        edge.routes[(VHOST, "/health")] = Answer(200, "ok")
        edge.certificate(VHOST, 200)
        cfg = config(tmp_path, edge, sinks, names)
        backed_up(tmp_path, T0 - dt.timedelta(hours=1))
        code, last, out = run(cfg, tmp_path, T0)
        assert code == 0 and sinks.all_got() == [], out

        edge.certificate(VHOST, 2)  # the edge now serves a certificate with two days left
        code, last, out = run(cfg, tmp_path, T0 + dt.timedelta(minutes=5))
        tls = next(c for c in last["checks"] if c["id"].startswith("tls:"))
        assert code == 2 and tls["status"] == "critical" and "expires in 2.0 days" in tls["summary"], out
        assert wait_for(lambda: events_at(sinks).get("cert.expiring") == every), (events_at(sinks), out)
        run(cfg, tmp_path, T0 + dt.timedelta(minutes=10))
        assert events_at(sinks)["cert.expiring"] == every, "no change, no repeat"

        cfg["host"]["disk_warn_pct"] = 1  # a full disk, as the thresholds see it
        run(cfg, tmp_path, T0 + dt.timedelta(minutes=15))
        assert wait_for(lambda: events_at(sinks).get("host.disk") == every), events_at(sinks)

        later = T0 + dt.timedelta(hours=30)  # no backup ran since T0 - 1 h
        code, last, out = run(cfg, tmp_path, later)
        backup = next(c for c in last["checks"] if c["id"] == "backup:app")
        assert backup["status"] == "warning" and backup["summary"].startswith("stale"), backup
        run(cfg, tmp_path, later + dt.timedelta(minutes=5))
        assert wait_for(lambda: events_at(sinks).get("backup.missing") == every), events_at(sinks)

        edge.routes[(VHOST, "/health")] = Answer(503, "down")
        run(cfg, tmp_path, later + dt.timedelta(minutes=10))
        assert wait_for(lambda: events_at(sinks).get("health.changed") == every), events_at(sinks)

        cfg["notify"]["digest"] = True
        morning = (later + dt.timedelta(days=1)).replace(hour=9, minute=0)  # after digest_hour 8 (UTC)
        run(cfg, tmp_path, morning)
        run(cfg, tmp_path, morning + dt.timedelta(minutes=5))
        assert wait_for(lambda: events_at(sinks).get("digest.daily") == every), events_at(sinks)

    for g in sinks.all_got():
        assert g.title.startswith("[zixly t] ") and TOKEN not in g.raw, g
    backup_msg = next(g for g in sinks.json.got if g.event == "backup.missing")
    assert "ok -> warning: backup:app (stale: last backup" in backup_msg.body and "severity" not in backup_msg.title
    assert "(critical)" in backup_msg.body, "backup missing is a critical event even while the check is a warning"
    mm = next(g for g in sinks.mmost.got if g.event == "cert.expiring")
    assert f"tls:app:{VHOST}" in mm.body and "certificate expiring" in mm.title


def test_a_hanging_channel_is_kept_shown_and_retried_with_the_backup_scripts(sinks: Sinks, tmp_path: Path) -> None:
    with Edge() as edge:
        edge.routes[(VHOST, "/health")] = Answer(200, "ok")
        edge.certificate(VHOST, 200)
        cfg = config(tmp_path, edge, sinks, ("json", "hang"), hang={"timeout_s": 1})
        backed_up(tmp_path, T0)
        run(cfg, tmp_path, T0)
        edge.routes[(VHOST, "/health")] = Answer(503, "down")
        code, last, out = run(cfg, tmp_path, T0 + dt.timedelta(minutes=5))
        assert code == 2 and sinks.hang.accepted and [g.event for g in sinks.json.got] == ["health.changed"], out
        assert last["notify"]["pending"]["hang"]["count"] == 1, last["notify"]
        assert "hang FAILED" in out and "retried on the next run" in out
        spooled = Outbox(tmp_path / "state" / "outbox").entries()
        assert [(e.channel, e.event) for e in spooled] == [("hang", "health.changed")]
        Outbox(tmp_path / "backup-outbox").add(Entry("json", "backup.failed", "critical", "2026-11-26T03:04:00Z", 1,
                                                     "apprise exited 1", "[zixly t] backup failed: h exit 11",
                                                     "zixly backup of t FAILED\n\nevent: backup.failed (critical)"), T0)

        sinks.hang.hang = False  # the hanging service answers again
        _code, last, out = run(cfg, tmp_path, T0 + dt.timedelta(minutes=10))
        checks = {c["id"]: c for c in last["checks"]}
        assert checks["notify:hang"]["status"] == "ok" and last["notify"]["pending"] == {}, (last["notify"], out)
        assert [g.event for g in sinks.hang.got] == ["health.changed"], "the kept message went out"
        assert "backup.failed" in [g.event for g in sinks.json.got], "the backup script's kept message too"
        assert not os.listdir(tmp_path / "backup-outbox")


def test_the_agent_reads_a_certificates_expiry_from_its_der_bytes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("zixly_agent", AGENT)
    assert spec is not None and spec.loader is not None
    agent = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(agent)
    for days in (0.5, 2, 400, 20000):  # 20000 days: a GeneralizedTime after 2049
        cert_path, _ = self_signed(tmp_path, f"d{days}.example.test", days)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        from cryptography.hazmat.primitives import serialization

        der = cert.public_bytes(serialization.Encoding.DER)
        assert agent.not_after(der) == cert.not_valid_after_utc, days
    shutil.rmtree(tmp_path)


def test_the_agent_emits_only_ids_of_the_list() -> None:
    """The stdlib agent carries the ids it maps checks onto as string literals; each must be a listed,
    produced event (the list is the one place ids are defined)."""
    tree = ast.parse(AGENT.read_text())
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    areas = {e.id.split(".")[0] for e in EVENTS}
    emitted = {s for s in literals if re.fullmatch(r"[a-z]+\.[a-z_]+", s) and s.split(".")[0] in areas
               and not s.endswith(".json")}  # notify.json is the agent's state file
    assert emitted, "the agent names no event"
    assert emitted <= set(BY_ID), emitted - set(BY_ID)
    assert not {e for e in emitted if BY_ID[e].future}
    assert emitted == set(AGENT_EVENTS), "checks.json carries the severity and title of exactly what it emits"


def test_a_demo_expiring_within_a_day_is_in_the_report_and_sent_once(sinks: Sinks, tmp_path: Path) -> None:
    """A client demo of this host (its registry record, as ``zixly demo up`` leaves it on the host) shows as
    ``demo:<client>`` in last.json: ok until a day before it expires, then a warning -- sent once as
    ``demo.expiring``; a demo of another environment on the same host is not this agent's."""
    with Edge() as edge:
        edge.routes[(VHOST, "/health")] = Answer(200, "ok")
        edge.certificate(VHOST, 200)
        cfg = config(tmp_path, edge, sinks, ("json",))
        cfg["demos"] = {"dir": str(tmp_path / "demos"), "warn_hours": 24}
        backed_up(tmp_path, T0)
        expires = (T0 + dt.timedelta(hours=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for client, env in (("acme", "t"), ("other", "elsewhere")):
            (tmp_path / "demos" / client).mkdir(parents=True)
            (tmp_path / "demos" / client / "demo.json").write_text(json.dumps(
                {"client": client, "host_env": env, "expires": expires}))
        code, last, out = run(cfg, tmp_path, T0)
        demos = [c for c in last["checks"] if c["id"].startswith("demo:")]
        assert code == 0 and demos == [{"id": "demo:acme", "app": "demos", "status": "ok",
                                        "summary": f"expires {expires}"}], out
        code, last, out = run(cfg, tmp_path, T0 + dt.timedelta(hours=7))
        check = next(c for c in last["checks"] if c["id"] == "demo:acme")
        assert code == 1 and check["status"] == "warning" and "expires in 23.0 h" in check["summary"], out
        assert wait_for(lambda: events_at(sinks).get("demo.expiring") == {"json": 1}), (events_at(sinks), out)
        run(cfg, tmp_path, T0 + dt.timedelta(hours=8))
        assert events_at(sinks)["demo.expiring"] == {"json": 1}, "no change, no repeat"
    got = next(g for g in sinks.json.got if g.event == "demo.expiring")
    assert "demo:acme" in got.body and "demo expiring" in got.title
