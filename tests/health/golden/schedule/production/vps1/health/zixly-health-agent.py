#!/usr/bin/env python3
"""zixly health agent: the scheduled health run ON a stack host (standard library only).

Shipped verbatim to each host (``zixly health-schedule``) next to its rendered ``checks.json``,
and started by a systemd timer (or the cron fallback) with the host's own ``python3``: no zixly
package, no repository and no secrets in the agent or its config. It checks what a host can
see of itself -- every route of this host's edge at the vendor contract (HTTPS to the local
edge with SNI + Host), the certificates that edge serves (days left), every expected container
(running, healthy), disk and memory, the backup status file (``backup missing`` when a
service has no successful backup within the window) and the client demos of this host (``demo
expiring`` within a day) -- and writes ``last.json`` into its
state directory.

Notifications go through the ``apprise`` CLI (Debian's package, installed by host preparation)
with the rendered channel file (``notify/apprise.txt`` of the current release, 0600; the URLs
never appear on an argv): one message per event whose checks changed status since the last
notification (event ids as in ``zixly notify events``; each channel's event filters and
minimum severity apply), plus one ``digest.daily`` after ``digest_hour`` UTC. A delivery that
fails or does not finish within the channel's timeout is kept in ``outbox/`` and retried on the
next run, with the backup script's own undelivered messages; what is pending is written to
``last.json`` (``notify.pending``), where ``zixly health`` reports it.

Exit code: 0 ok, 1 warning, 2 critical (as ``zixly health``).

Usage: ``python3 zixly-health-agent.py --config checks.json [--state-dir DIR] [--now ISO]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
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


def demo_checks(cfg: dict[str, Any], now: dt.datetime) -> list[Result]:
    """``demo:<client>`` per client demo of this environment on this host (its registry,
    ``<base_dir>/demos/*/demo.json``): a warning once it expires within ``warn_hours`` (or has expired
    and waits for the reap job), ok before. The status change is what notifies: once per expiry."""
    demos = cfg.get("demos")
    if not demos or not os.path.isdir(demos["dir"]):
        return []
    out = []
    for name in sorted(os.listdir(demos["dir"])):
        try:
            with open(os.path.join(demos["dir"], name, "demo.json"), encoding="utf-8") as fh:
                rec = json.load(fh)
            expires = dt.datetime.strptime(rec["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if rec.get("host_env") != cfg["environment"] or rec.get("client") != name:
            continue
        hours = (expires - now).total_seconds() / 3600
        if hours <= 0:
            status, summary = "warning", f"expired at {rec['expires']}; the reap job removes it"
        elif hours <= float(demos["warn_hours"]):
            status, summary = "warning", (f"expires in {hours:.1f} h ({rec['expires']}), then it is removed with its "
                                          f"data; keep it longer: zixly demo extend {name} --ttl 7d")
        else:
            status, summary = "ok", f"expires {rec['expires']}"
        out.append(_result(f"demo:{name}", "demos", status, summary))
    return out


def _der(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start, end) of the DER element at *pos*."""
    tag, length, pos = data[pos], data[pos + 1], pos + 2
    if length & 0x80:
        n = length & 0x7F
        length, pos = int.from_bytes(data[pos:pos + n], "big"), pos + n
    return tag, pos, pos + length


def not_after(der: bytes) -> dt.datetime:
    """The ``notAfter`` time of a DER certificate (X.509: tbsCertificate -> validity)."""
    pos = _der(der, _der(der, 0)[1])[1]  # Certificate -> tbsCertificate's first element
    if _der(der, pos)[0] == 0xA0:  # [0] version
        pos = _der(der, pos)[2]
    for _ in range(3):  # serialNumber, signature, issuer
        pos = _der(der, pos)[2]
    _, vstart, _ = _der(der, pos)
    after = _der(der, _der(der, vstart)[2])
    text = der[after[1]:after[2]].decode("ascii")
    return dt.datetime.strptime(text, "%y%m%d%H%M%SZ" if after[0] == 0x17 else "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)


def tls_check(c: dict[str, Any], limits: dict[str, Any], now: dt.datetime) -> Result:
    """Days left on the certificate this host's edge presents for ``vhost`` (SNI)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # expiry only; the chain is the control machine's TLS check
    try:
        with socket.create_connection((c["address"], int(c["port"])), timeout=float(limits["timeout_s"])) as raw, \
                ctx.wrap_socket(raw, server_hostname=c["vhost"]) as tls:
            der = tls.getpeercert(binary_form=True)
        expires = not_after(der or b"")
    except (OSError, ValueError, IndexError) as exc:
        return _result(c["id"], c["app"], "warning", f"certificate unreadable: {type(exc).__name__}: {exc}")
    days = (expires - now).total_seconds() / 86400
    status = "critical" if days < limits["critical_days"] else "warning" if days < limits["warn_days"] else "ok"
    return _result(c["id"], c["app"], status, f"certificate of {c['vhost']} expires in {days:.1f} days "
                                              f"({expires:%Y-%m-%d %H:%M} UTC)")


def run_checks(cfg: dict[str, Any], now: dt.datetime) -> list[Result]:
    """Every check of the config, network probes concurrently."""
    tls = cfg.get("tls") or {"checks": []}
    with ThreadPoolExecutor(max_workers=int(cfg.get("concurrency", 16))) as pool:
        http = list(pool.map(http_check, cfg["http"]))
        certs = list(pool.map(lambda c: tls_check(c, tls, now), tls["checks"]))
    results = http + certs + container_checks(cfg) + host_checks(cfg) + backup_checks(cfg, now) + demo_checks(cfg, now)
    return sorted(results, key=lambda r: (r["app"], r["id"]))


def overall(results: list[Result]) -> str:
    """The worst status (ok when there is nothing)."""
    return max((r["status"] for r in results), key=lambda s: RANK[s], default="ok")


# -- notifications ---------------------------------------------------------------------------------
SEVERITY = {"info": 0, "warning": 1, "critical": 2}
TYPES = {"info": "info", "warning": "warning", "critical": "failure"}


def event_of(r: Result, events: dict[str, dict[str, str]]) -> tuple[str, str]:
    """(event id, severity) for a check that changed to *r*'s status; a recovery is health.changed/info."""
    if r["status"] == "ok":
        return "health.changed", "info"
    kind, _, rest = r["id"].partition(":")
    event = {"backup": "backup.missing", "tls": "cert.expiring", "demo": "demo.expiring"}.get(kind, "health.changed")
    if kind == "host":
        event = "host.memory" if rest.endswith(":memory") else "host.disk"
    base = events.get(event, {}).get("severity", "warning")
    return event, max(base, r["status"], key=lambda s: SEVERITY.get(s, 2))


def accepts(ch: dict[str, Any], event: str, severity: str) -> bool:
    """A channel takes the event: a filter matches, and the severity reaches its minimum (or it names it)."""
    def match(p: str) -> bool:
        return p == "*" or p == event or (p.endswith(".*") and event.startswith(p[:-1]))

    if not any(match(p) for p in ch["events"]):
        return False
    return SEVERITY.get(severity, 2) >= SEVERITY[ch["min_severity"]] or event in ch["events"]


def messages(cfg: dict[str, Any], results: list[Result], state: dict[str, Any], now: dt.datetime) -> list[
        dict[str, str]]:
    """What to send: one message per event whose checks changed status since the last notification,
    and one daily digest (``event``, ``severity``, ``title``, ``body``)."""
    env, host, n = cfg["environment"], cfg["host_name"], cfg["notify"]
    events: dict[str, dict[str, str]] = n.get("events") or {}
    before: dict[str, str] = state.get("statuses") or {}
    current = {r["id"]: r for r in results}
    groups: dict[str, tuple[str, list[str]]] = {}
    for ident in sorted(set(current) | {k for k, v in before.items() if v != "ok"}):
        old, r = before.get(ident, "ok"), current.get(ident)
        r = r or _result(ident, "", "ok", "no longer checked")
        if old == r["status"]:
            continue
        event, severity = event_of(r, events)
        level, lines = groups.get(event, ("info", []))
        groups[event] = (max(level, severity, key=lambda s: SEVERITY[s]),
                         [*lines, f"{old} -> {r['status']}: {ident} ({r['summary']})"])
    out = []
    status = overall(results)
    for event, (level, lines) in sorted(groups.items()):
        title = events.get(event, {}).get("title", event)
        out.append({"event": event, "severity": level, "title": f"[zixly {env}] {title}: {host} is {status}",
                    "body": "\n".join(lines)})
    if n.get("digest", True) and now.hour >= int(n["digest_hour"]) and state.get("last_digest") != now.strftime(
            "%Y-%m-%d"):
        bad = [f"{r['status']}: {r['id']} ({r['summary']})" for r in results if r["status"] != "ok"]
        counts = ", ".join(f"{sum(r['status'] == s for r in results)} {s}" for s in RANK)
        out.append({"event": "digest.daily", "severity": "info", "title": f"[zixly {env}] daily digest: {host} is "
                    f"{status}", "body": "\n".join([counts, *bad])})
    for m in out:
        m["body"] = f"{m['body'][:3000]}\n\nevent: {m['event']} ({m['severity']}), host {host}"
    return out


def apprise(cfg: dict[str, Any], ch: dict[str, Any], m: dict[str, str]) -> str:
    """Send *m* to channel *ch* with the apprise CLI; '' on success, else why not (never a URL)."""
    n = cfg["notify"]
    if not os.path.isfile(n["config"]):
        return f"no channel file {n['config']} (deploy to install it)"
    argv = [*n.get("apprise", ["apprise"]), "-c", n["config"], "-g", ch["name"], "-n", TYPES.get(m["severity"],
            "failure"), "-t", m["title"], "-b", m["body"]]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=float(ch["timeout_s"]) + 30, check=False)
    except subprocess.TimeoutExpired:
        return f"no answer within {ch['timeout_s']:g} s"
    except OSError as exc:
        return f"apprise: {exc.strerror or exc}"
    if proc.returncode == 0:
        return ""
    last = [ln for ln in proc.stderr.splitlines() if ln.strip()][-1:] or [f"apprise exited {proc.returncode}"]
    return " ".join(w if "://" not in w else w.split("://")[0] + "://***" for w in last[0].split())[:300]


def _entry(path: str) -> dict[str, str] | None:
    """An outbox file (format: zixly_stack/notify/outbox.py), or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head, sep, body = fh.read().partition("\n\n")
    except OSError:
        return None
    lines = head.splitlines()
    if not sep or not lines or lines[0].strip() != "zixly-notify 1":
        return None
    e = {k.strip(): v.strip() for k, _, v in (ln.partition(": ") for ln in lines[1:])}
    return {**e, "body": body, "path": path} if e.get("channel") else None


def _spool(directory: str, channel: str, m: dict[str, str], error: str, now: dt.datetime, attempts: int = 1,
           path: str = "") -> None:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fields = {"channel": channel, "event": m["event"], "severity": m["severity"],
              "created": m.get("created") or now.strftime("%Y-%m-%dT%H:%M:%SZ"), "attempts": str(attempts),
              "error": error, "title": m["title"]}
    text = "zixly-notify 1\n" + "".join(f"{k}: {' '.join(v.split())}\n" for k, v in fields.items()) + "\n" + m["body"]
    name = path or os.path.join(directory, f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}.msg")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, name)


def retry(cfg: dict[str, Any], outboxes: list[str], now: dt.datetime) -> list[str]:
    """Send what earlier runs (this agent's, the backup script's) could not; per channel oldest first,
    stopping at a channel's first failure. Returns what was said about it."""
    channels = {c["name"]: c for c in cfg["notify"]["channels"]}
    said, blocked = [], set()
    for directory in outboxes:
        names = sorted(f for f in os.listdir(directory) if f.endswith(".msg")) if os.path.isdir(directory) else []
        for e in filter(None, (_entry(os.path.join(directory, f)) for f in names)):
            ch = channels.get(e["channel"])
            if ch is None:
                os.unlink(e["path"])
                said.append(f"dropped an undelivered {e.get('event')} for {e['channel']} (no longer configured)")
            elif e["channel"] not in blocked:
                why = apprise(cfg, ch, e)
                if not why:
                    os.unlink(e["path"])
                    said.append(f"delivered an earlier {e.get('event')} to {e['channel']}")
                    continue
                blocked.add(e["channel"])
                _spool(directory, e["channel"], e, why, now, int(e.get("attempts") or 1) + 1, e["path"])
    return said


def pending(outboxes: list[str]) -> dict[str, dict[str, Any]]:
    """channel -> {count, since, error} of every undelivered message."""
    out: dict[str, dict[str, Any]] = {}
    for directory in outboxes:
        names = sorted(f for f in os.listdir(directory) if f.endswith(".msg")) if os.path.isdir(directory) else []
        for e in filter(None, (_entry(os.path.join(directory, f)) for f in names)):
            p = out.setdefault(e["channel"], {"count": 0, "since": e.get("created", ""), "error": ""})
            p["count"] += 1
            p["since"], p["error"] = min(p["since"], e.get("created", "")), e.get("error", "")
    return out


def deliver(cfg: dict[str, Any], pending_msgs: list[dict[str, str]], outbox: str, now: dt.datetime) -> list[str]:
    """Send each message to every channel that takes it, channels in parallel; failures are spooled."""
    said = []
    for m in pending_msgs:
        chosen = [c for c in cfg["notify"]["channels"] if accepts(c, m["event"], m["severity"])]
        with ThreadPoolExecutor(max_workers=max(1, len(chosen))) as pool:
            results = list(pool.map(lambda c, m=m: apprise(cfg, c, m), chosen))
        for c, why in zip(chosen, results, strict=True):
            if why:
                _spool(outbox, c["name"], m, why, now)
                said.append(f"{m['event']} to {c['name']} FAILED: {why} (kept; retried on the next run)")
            else:
                said.append(f"{m['event']} sent to {c['name']}")
    return said


def notify_checks(cfg: dict[str, Any], waiting: dict[str, dict[str, Any]]) -> list[Result]:
    """``notify:<channel>``: warning while messages for it wait in an outbox."""
    out = []
    for c in cfg["notify"]["channels"]:
        p = waiting.get(c["name"])
        out.append(_result(f"notify:{c['name']}", "notifications", "warning" if p else "ok",
                           f"{p['count']} notification(s) not delivered since {p['since']}: {p['error']}" if p
                           else "nothing pending"))
    return out


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
    ap.add_argument("--state-dir", help="where last.json, notify.json and outbox/ live (default: from the config)")
    ap.add_argument("--now", help="ISO time to use instead of the clock (tests)")
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as fh:
        cfg = json.load(fh)
    now = dt.datetime.fromisoformat(args.now).astimezone(dt.UTC) if args.now else dt.datetime.now(dt.UTC)
    state_dir = args.state_dir or cfg["state_dir"]
    outbox = os.path.join(state_dir, "outbox")
    outboxes = [outbox, *cfg["notify"].get("outboxes", [])]
    results = run_checks(cfg, now)
    said = retry(cfg, outboxes, now)
    results = sorted(results + notify_checks(cfg, pending(outboxes)), key=lambda r: (r["app"], r["id"]))
    status = overall(results)
    notify_path = os.path.join(state_dir, "notify.json")
    try:
        with open(notify_path, encoding="utf-8") as fh:
            state: dict[str, Any] = json.load(fh)
    except (OSError, ValueError):
        state = {}
    todo = messages(cfg, results, state, now)
    said += deliver(cfg, todo, outbox, now)
    if todo:
        state["statuses"] = {r["id"]: r["status"] for r in results}
        if any(m["event"] == "digest.daily" for m in todo):
            state["last_digest"] = now.strftime("%Y-%m-%d")
        _write(notify_path, state)
    stamp = now.isoformat(timespec="seconds")
    _write(os.path.join(state_dir, "last.json"), {"environment": cfg["environment"], "host": cfg["host_name"],
                                                  "generated_at": stamp, "status": status, "checks": results,
                                                  "notify": {"pending": pending(outboxes), "said": said}})
    print(f"{cfg['environment']}/{cfg['host_name']}: {status} ({len(results)} checks, {len(todo)} message(s))")
    for line in said:
        print(f"notify: {line}")
    return RANK[status]


if __name__ == "__main__":
    sys.exit(main())
