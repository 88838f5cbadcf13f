#!/usr/bin/env python3
"""zixly health agent: the scheduled health run ON a stack host (standard library only).

Shipped verbatim to each host (``zixly health schedule``) next to its rendered
``checks.json``, and started by a systemd timer (or the cron fallback) with the host's own
``python3``: no zixly package, no repository and no secrets on the host. It checks what a
host can see of itself -- every route of this host's edge at the vendor contract (HTTPS to
the local edge with SNI + Host), every expected container (running, healthy), disk and
memory, and the backup status file -- writes ``last.json`` into its state directory, and
notifies (Slack-compatible webhook, email through the configured SMTP relay) only when a
check's status changed since the last notification, plus one daily digest after
``digest_hour`` UTC. A failed delivery leaves the notified state alone (retried next run).

The full report (TLS expiry, image drift, DNS, history, HTML) is ``zixly health ENV`` on
the control machine; the agent is its small on-host sibling. Exit code: 0 ok, 1 warning,
2 critical (as ``zixly health``).

Usage: ``python3 zixly-health-agent.py --config checks.json [--state-dir DIR] [--now ISO]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

RANK = {"ok": 0, "warning": 1, "critical": 2}
Result = dict[str, str]


def http_check(c: dict[str, Any]) -> Result:
    """GET ``https://<address>:<port><path>`` with SNI and Host = vhost; status and body per contract."""
    ident = c["id"]
    started = time.monotonic()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the certificate is the control machine's TLS check
    request = (f"GET {c['path']} HTTP/1.1\r\nHost: {c['vhost']}\r\nUser-Agent: zixly-health-agent\r\n"
               "Connection: close\r\n\r\n").encode()
    try:
        with socket.create_connection((c["address"], int(c["port"])), timeout=float(c["timeout_s"])) as raw, \
                ctx.wrap_socket(raw, server_hostname=c["vhost"]) as tls:
            tls.sendall(request)
            chunks = []
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                chunks.append(data)
    except (OSError, ValueError) as exc:
        return _result(ident, c["app"], "critical", f"no answer: {type(exc).__name__}: {exc}")
    took = (time.monotonic() - started) * 1000
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    try:
        code = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return _result(ident, c["app"], "critical", "not an HTTP answer")
    want = c.get("status")
    if (want is not None and code != want) or (want is None and code >= 500):
        return _result(ident, c["app"], "critical", f"HTTP {code}, expected {want or 'below 500'}")
    if c.get("body") and c["body"].encode() not in body:
        return _result(ident, c["app"], "critical", f"HTTP {code} without {c['body']!r} in the body")
    if took > float(c["warn_ms"]):
        return _result(ident, c["app"], "warning", f"HTTP {code} in {took:.0f} ms (slow)")
    return _result(ident, c["app"], "ok", f"HTTP {code} in {took:.0f} ms")


def _result(ident: str, app: str, status: str, summary: str) -> Result:
    return {"id": ident, "app": app, "status": status, "summary": summary}


def container_checks(cfg: dict[str, Any]) -> list[Result]:
    """Expected containers of this host (labels ``org.zixly.env/service/container``): running and healthy."""
    fmt = '{{.Label "org.zixly.service"}}\t{{.Label "org.zixly.container"}}\t{{.State}}\t{{.Status}}'
    argv = [*cfg.get("docker", ["docker"]), "ps", "-a", "--filter", f"label=org.zixly.env={cfg['environment']}",
            "--format", fmt]
    expected = cfg["containers"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [_result(f"container:{e['app']}:{e['container']}", e["app"], "critical", f"engine: {exc}")
                for e in expected]
    if proc.returncode != 0:
        return [_result(f"container:{e['app']}:{e['container']}", e["app"], "critical",
                        f"engine: {proc.stderr.strip()[-200:]}") for e in expected]
    seen: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for line in proc.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            seen.setdefault((parts[0], parts[1]), []).append((parts[2], parts[3]))
    out = []
    for e in expected:
        ident, app = f"container:{e['app']}:{e['container']}", e["app"]
        found = seen.get((e["app"], e["container"]), [])
        running = [s for state, s in found if state == "running"]
        if not found:
            out.append(_result(ident, app, "critical", "missing"))
        elif not running:
            out.append(_result(ident, app, "critical", f"not running: {found[0][1]}"))
        elif any("(unhealthy)" in s for s in running):
            out.append(_result(ident, app, "critical", "unhealthy"))
        elif any("(health: starting)" in s for s in running):
            out.append(_result(ident, app, "warning", "starting"))
        else:
            out.append(_result(ident, app, "ok", running[0]))
    return out


def host_checks(cfg: dict[str, Any]) -> list[Result]:
    """Disk use of each path and memory use from /proc/meminfo against the thresholds."""
    h, host, out = cfg["host"], cfg["host_name"], []
    for path in h["disk_paths"]:
        try:
            usage = shutil.disk_usage(path)
        except OSError as exc:
            out.append(_result(f"host:{host}:disk:{path}", f"host:{host}", "critical", f"{path}: {exc}"))
            continue
        pct = 100.0 * usage.used / max(usage.total, 1)
        out.append(_threshold(f"host:{host}:disk:{path}", f"host:{host}", f"disk {path}", pct, h["disk_warn_pct"],
                              h["disk_critical_pct"]))
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in fh)}
        pct = 100.0 * (info["MemTotal"] - info["MemAvailable"]) / max(info["MemTotal"], 1)
        out.append(_threshold(f"host:{host}:memory", f"host:{host}", "memory", pct, h["memory_warn_pct"],
                              h["memory_critical_pct"]))
    except (OSError, KeyError, ValueError) as exc:
        out.append(_result(f"host:{host}:memory", f"host:{host}", "warning", f"memory unknown: {exc}"))
    return out


def _threshold(ident: str, app: str, what: str, pct: float, warn: float, crit: float) -> Result:
    status = "critical" if pct >= crit else "warning" if pct >= warn else "ok"
    return _result(ident, app, status, f"{what} {pct:.0f}% used")


def backup_checks(cfg: dict[str, Any], now: dt.datetime) -> list[Result]:
    """Age of each service's last successful backup in the backup script's status file
    (``<base_dir>/<env>/backup/status.json``: contract in zixly_stack/backup/status.py)."""
    b = cfg.get("backup")
    if not b or not b["services"]:
        return []
    try:
        with open(b["status_file"], encoding="utf-8") as fh:
            services = json.load(fh).get("services") or {}
    except (OSError, ValueError) as exc:
        services, why = {}, f"no backup status ({type(exc).__name__})"
    else:
        why = "no backup recorded"
    out = []
    for name in b["services"]:
        ident = f"backup:{name}"
        stamp = (services.get(name) or {}).get("last_success")
        if not stamp:
            out.append(_result(ident, name, "warning", why))
            continue
        when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        hours = (now - when).total_seconds() / 3600
        status = "critical" if hours > b["critical_age_hours"] else "warning" if hours > b["max_age_hours"] else "ok"
        stale = "stale: " if status != "ok" else ""
        limit = f" (limit {b['max_age_hours']:g} h)" if status != "ok" else ""
        out.append(_result(ident, name, status, f"{stale}last backup {hours:.1f} h ago{limit}"))
    return out


def run_checks(cfg: dict[str, Any], now: dt.datetime) -> list[Result]:
    """Every check of the config, network probes concurrently."""
    with ThreadPoolExecutor(max_workers=int(cfg.get("concurrency", 16))) as pool:
        http = list(pool.map(http_check, cfg["http"]))
    results = http + container_checks(cfg) + host_checks(cfg) + backup_checks(cfg, now)
    return sorted(results, key=lambda r: (r["app"], r["id"]))


def overall(results: list[Result]) -> str:
    """The worst status (ok when there is nothing)."""
    return max((r["status"] for r in results), key=lambda s: RANK[s], default="ok")


def messages(cfg: dict[str, Any], results: list[Result], state: dict[str, Any], now: dt.datetime) -> list[
        tuple[str, str]]:
    """(subject, text) to send: one on any status change since the last notification, one daily digest."""
    env, host = cfg["environment"], cfg["host_name"]
    before: dict[str, str] = state.get("statuses") or {}
    changed = [r for r in results if before.get(r["id"], "ok") != r["status"]]
    gone = [k for k, v in before.items() if v != "ok" and k not in {r["id"] for r in results}]
    out = []
    status = overall(results)
    if changed or gone:
        lines = [f"{before.get(r['id'], 'ok')} -> {r['status']}: {r['id']} ({r['summary']})" for r in changed]
        lines += [f"{before[k]} -> gone: {k}" for k in gone]
        out.append((f"[zixly] {env}/{host}: {status}", "\n".join(lines)))
    today = now.strftime("%Y-%m-%d")
    if cfg["notify"].get("digest", True) and now.hour >= int(cfg["notify"]["digest_hour"]) \
            and state.get("last_digest") != today:
        bad = [f"{r['status']}: {r['id']} ({r['summary']})" for r in results if r["status"] != "ok"]
        counts = ", ".join(f"{sum(r['status'] == s for r in results)} {s}" for s in RANK)
        out.append((f"[zixly] {env}/{host} daily digest: {status}", "\n".join([counts, *bad])))
    return out


def send(cfg: dict[str, Any], subject: str, text: str) -> list[str]:
    """Deliver on every channel; returns the problems (empty: delivered everywhere)."""
    problems = []
    hook = cfg["notify"].get("webhook")
    if hook:
        body = json.dumps({"text": f"*{subject}*\n{text}"}).encode()
        req = urllib.request.Request(hook, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:  # http(s) URL from the inventory
                if resp.status >= 300:
                    problems.append(f"webhook: HTTP {resp.status}")
        except OSError as exc:
            problems.append(f"webhook: {exc}")
    mail = cfg["notify"].get("email")
    if mail and mail.get("to"):
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, mail["from"], ", ".join(mail["to"])
        msg.set_content(text)
        try:
            with smtplib.SMTP(mail["host"], int(mail["port"]), timeout=15) as smtp:
                if mail.get("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            problems.append(f"email: {exc}")
    return problems


def _write(path: str, doc: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Run once (see the module doc); returns the exit code."""
    ap = argparse.ArgumentParser(description="zixly health agent (on-host checks and notifications)")
    ap.add_argument("--config", required=True, help="the rendered checks.json")
    ap.add_argument("--state-dir", help="where last.json and notify.json live (default: from the config)")
    ap.add_argument("--now", help="ISO time to use instead of the clock (tests)")
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        cfg = json.load(fh)
    now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(dt.UTC)
    state_dir = args.state_dir or cfg["state_dir"]
    results = run_checks(cfg, now)
    status = overall(results)
    stamp = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    _write(os.path.join(state_dir, "last.json"), {"environment": cfg["environment"], "host": cfg["host_name"],
                                                  "generated_at": stamp, "status": status, "checks": results})
    notify_path = os.path.join(state_dir, "notify.json")
    try:
        with open(notify_path, encoding="utf-8") as fh:
            state: dict[str, Any] = json.load(fh)
    except (OSError, ValueError):
        state = {}
    pending = messages(cfg, results, state, now)
    problems = [p for subject, text in pending for p in send(cfg, subject, text)]
    if pending and not problems:
        state["statuses"] = {r["id"]: r["status"] for r in results}
        if any("daily digest" in s for s, _ in pending):
            state["last_digest"] = now.strftime("%Y-%m-%d")
        _write(notify_path, state)
    print(f"{cfg['environment']}/{cfg['host_name']}: {status} ({len(results)} checks, "
          f"{len(pending)} notification(s){', FAILED: ' + '; '.join(problems) if problems else ''})")
    return RANK[status]


if __name__ == "__main__":
    sys.exit(main())
