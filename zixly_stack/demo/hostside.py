#!/usr/bin/env python3
"""zixly demo host tool: the registry of client demos ON the host that runs them (standard library only).

Shipped verbatim, like the health agent: every deploy installs it on the remote hosts that may
carry demos (``<base_dir>/<env>/demo/zixly-demo-host.py``, run by the reap timer or cron line
with the host's own ``python3``), and ``zixly demo ... --env ENV`` of a remote environment feeds
this same text to ``python3 -`` over the deploy connection. So the control machine and the
timer run the same code, and nothing on the host needs zixly, the repository or a secret.

Registry: ``<demos>/<client>/demo.json`` (0600, written atomically), the format of
:mod:`zixly_stack.demo.registry`. Every change is made under an exclusive ``flock`` of
``<demos>/.lock``: two ``demo up`` at once are serialised at ``reserve``, where the memory
guard is decided (both cannot pass it), and a reap never races a ``down``.

Commands (a JSON answer on stdout; exit 0 ok, 2 refused or bad input -- the reason on stderr,
nothing changed --, 1 failed):

* ``reserve DEMOS RECORD [--budget BYTES] [--main BYTES]`` -- the memory guard, then the record:
  the new demo's memory plus every recorded demo's plus *main* (the host environment's own
  limits on this host) must fit *budget* (default: this host's MemTotal).
* ``publish DEMOS CLIENT CONTAINER ROUTES`` -- the demo's route file where the edge *CONTAINER*
  looks: its ``/etc/traefik`` mount (``current``) and, when a deploy moved ``current`` without
  recreating it, the directory it really has mounted (read from its mountinfo).
* ``remove DEMOS CLIENT`` -- its Compose projects (containers, networks, volumes), its route
  files and its state directory; nothing else.
* ``reap DEMOS ENV [--now ISO]`` -- ``remove`` of every demo of environment ENV whose time is up.
* ``list DEMOS [ENV]`` -- the records, with each demo's container health.
* ``extend DEMOS CLIENT SECONDS [--now ISO]`` -- expires := max(expires, now) + SECONDS.
* ``republish DEMOS ENV CONTAINER`` -- ``publish`` again from each demo's kept ``routes.yml``.
* ``status DEMOS CLIENT STATUS`` -- set the record's status (ready, degraded, failed).

Usage: ``python3 zixly-demo-host.py COMMAND ARGS...`` (``python3 - COMMAND ...`` with this file on stdin)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

CLIENT = re.compile(r"^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$")
TIME_FMT = "%Y-%m-%dT%H:%M:%SZ"
FILE = "demo.json"
ROUTES = "routes.yml"  # the demo's routes as published, for `republish`
DOCKER = "docker"
PAUSE = "ZIXLY_DEMO_RESERVE_PAUSE"  # tests only: seconds between the guard's check and the record


class Refused(Exception):
    """Bad input or a refused demo: exit 2, nothing changed."""


def now_utc(text: str | None) -> dt.datetime:
    """*text* (``YYYY-MM-DDTHH:MM:SSZ``) or the host's clock."""
    if text:
        return parse_time(text)
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)  # noqa: UP017 (hosts may run python 3.10)


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, TIME_FMT).replace(tzinfo=dt.timezone.utc)  # noqa: UP017


def fmt_time(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime(TIME_FMT)  # noqa: UP017


def client_dir(demos: str, client: str) -> str:
    if not CLIENT.match(client):
        raise Refused(f"client name {client!r}: not a lowercase DNS label of at most 20 characters")
    return os.path.join(demos, client)


@contextlib.contextmanager
def locked(demos: str) -> Iterator[None]:
    """An exclusive flock of ``<demos>/.lock`` for the block (waits for the holder)."""
    os.makedirs(demos, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(demos, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_record(demos: str, client: str) -> dict[str, Any] | None:
    path = os.path.join(client_dir(demos, client), FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        rec: dict[str, Any] = json.load(fh)
    return rec


def records(demos: str) -> list[dict[str, Any]]:
    """Every readable record, by client name (a broken file is skipped with a message on stderr)."""
    out = []
    names = sorted(os.listdir(demos)) if os.path.isdir(demos) else []
    for name in names:
        if not CLIENT.match(name):
            continue
        try:
            rec = read_record(demos, name)
        except (OSError, ValueError) as exc:
            print(f"{demos}/{name}/{FILE}: not a readable demo record ({exc}); skipped", file=sys.stderr)
            continue
        if rec is not None and rec.get("client") == name:
            out.append(rec)
    return out


def _write(path: str, text: str, mode: int) -> None:
    """*text* into *path* atomically, with *mode*."""
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def save(demos: str, rec: dict[str, Any]) -> None:
    """Write *rec* atomically (0600) into ``<demos>/<client>/``."""
    directory = client_dir(demos, rec["client"])
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".demo.", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(rec, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, os.path.join(directory, FILE))


def mem_total() -> int:
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise Refused("cannot read MemTotal from /proc/meminfo; set memory_budget in the environment")


def mib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n // 1024**2} MiB"


def reserve(demos: str, text: str, budget: int | None, main: int) -> dict[str, Any]:
    """The memory guard and the record, under the lock (see module doc)."""
    rec = json.loads(text)
    client = rec["client"]
    directory = client_dir(demos, client)
    with locked(demos):
        if os.path.exists(directory):
            raise Refused(f"demo {client!r} already exists on this host; client names are unique: pick another "
                          f"name, or `zixly demo down {client}` first")
        others = sum(int(r.get("memory", 0)) for r in records(demos))
        limit, source = (budget, "memory_budget") if budget else (mem_total(), "this host's MemTotal")
        new = int(rec.get("memory", 0))
        if main + others + new > limit:
            raise Refused(
                f"demo {client!r} refused: it needs {mib(new)} (sum of its containers' memory limits); the host "
                f"already has {mib(main)} for its environment and {mib(others)} for other demos, and "
                f"{mib(main + others + new)} exceeds the budget of {mib(limit)} ({source}); nothing was changed. "
                "Hint: fewer --services, `zixly demo down` or `zixly demo reap` old demos, or raise memory_budget")
        time.sleep(float(os.environ.get(PAUSE, "0") or 0))  # tests: widen the check-to-record window
        save(demos, rec)
    return {"reserved": client, "budget": limit, "used": main + others + new}


def _mounts(container: str) -> tuple[str | None, int]:
    try:
        res = subprocess.run([DOCKER, "inspect", "--format", "{{json .Mounts}} {{.State.Pid}}", container],
                             capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None, 0
    if res.returncode != 0:
        return None, 0
    mounts_json, _, pid = res.stdout.strip().rpartition(" ")
    source = next((m.get("Source") for m in json.loads(mounts_json) if m.get("Destination") == "/etc/traefik"), None)
    return source, int(pid) if pid.isdigit() else 0


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def watched(pid: int, target: str = "/etc/traefik") -> str | None:
    """The host directory really mounted at *target* in process *pid* (see module doc), or None."""
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="utf-8") as fh:
            theirs = fh.read().splitlines()
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            ours = fh.read().splitlines()
    except OSError:
        return None
    found = next(((f[2], _unescape(f[3])) for f in (ln.split() for ln in theirs)
                  if len(f) > 4 and _unescape(f[4]) == target), None)
    if found is None:
        return None
    dev, root = found
    for line in ours:
        g = line.split()
        if len(g) <= 4 or g[2] != dev:
            continue
        base = _unescape(g[3]).rstrip("/")
        if root == base or root.startswith(base + "/"):
            candidate = _unescape(g[4]).rstrip("/") + root[len(base):]
            if os.path.isdir(candidate):
                return candidate
    return None


def route_dirs(container: str) -> list[str]:
    """The edge's file-provider directories: ``<its /etc/traefik source>/dynamic`` and the one it watches."""
    source, pid = _mounts(container)
    dirs = [os.path.join(source, "dynamic")] if source else []
    seen = watched(pid) if pid else None
    if seen and os.path.isdir(os.path.join(seen, "dynamic")):
        extra = os.path.join(seen, "dynamic")
        if not dirs or os.path.realpath(extra) != os.path.realpath(dirs[0]):
            dirs.append(extra)
    return [d for d in dirs if os.path.isdir(d)]


def publish(demos: str, client: str, container: str, routes: str) -> dict[str, Any]:
    """Write ``demo-<client>.yml`` where the edge looks; record it (see module doc)."""
    dirs = route_dirs(container)
    if not dirs:
        raise Refused(f"{container}: not running, or no file-provider directory mounted at /etc/traefik/dynamic")
    name = f"demo-{client}.yml"
    written = []
    with locked(demos):
        rec = read_record(demos, client)
        if rec is None:
            raise Refused(f"no demo {client!r} on this host")
        for d in dirs:
            path = os.path.join(d, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    same = fh.read() == routes
            except OSError:
                same = False
            if not same:
                _write(path, routes, 0o644)
                written.append(d)
        rec["route_file"] = os.path.join(dirs[0], name)
        save(demos, rec)
        _write(os.path.join(client_dir(demos, client), ROUTES), routes, 0o600)
    return {"client": client, "route_file": rec["route_file"], "written": written}


def republish(demos: str, env: str, container: str) -> dict[str, Any]:
    """``publish`` again, from each demo's kept ``routes.yml``: after a deploy moved ``current``, the
    edge's new directory has none of them."""
    out: dict[str, Any] = {"written": {}}
    for rec in records(demos):
        path = os.path.join(demos, rec["client"], ROUTES)
        if rec.get("host_env") != env or rec.get("status") == "failed" or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as fh:
            done = publish(demos, rec["client"], container, fh.read())
        if done["written"]:
            out["written"][rec["client"]] = done["written"]
    return out


def _remove(demos: str, rec: dict[str, Any]) -> list[str]:
    """Remove one demo (lock held); the errors (its record is then kept)."""
    client = rec["client"]
    name = f"demo-{client}.yml"
    paths = [rec["route_file"]] if os.path.basename(rec.get("route_file") or "") == name else []
    paths += [os.path.join(d, name) for d in route_dirs(f"zixly-{rec['host_env']}-traefik-traefik-1")]
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    errors = []
    stages = rec.get("stages") or [[p] for p in rec.get("projects", [])]
    prefix = f"zixly-demo-{client}-"
    for stage in reversed(stages):  # apps first, data stores last
        for project in stage:
            if not project.startswith(prefix):
                continue  # never a project the demo does not own
            res = subprocess.run([DOCKER, "compose", "-p", project, "down", "--remove-orphans", "--volumes"],
                                 capture_output=True, text=True, timeout=900, check=False)
            if res.returncode != 0:
                errors.append(f"{project}: {res.stderr.strip()[-300:]}")
    if not errors:
        shutil.rmtree(client_dir(demos, client), ignore_errors=True)
    return errors


def remove(demos: str, client: str) -> dict[str, Any]:
    with locked(demos):
        rec = read_record(demos, client)
        if rec is None:
            known = ", ".join(r["client"] for r in records(demos)) or "none"
            raise Refused(f"no demo {client!r} on this host (demos: {known})")
        errors = _remove(demos, rec)
    return {"removed": [] if errors else [client], "errors": errors}


def reap(demos: str, env: str, now: dt.datetime) -> dict[str, Any]:
    removed, errors = [], []
    with locked(demos):
        for rec in records(demos):
            if rec.get("host_env") == env and now >= parse_time(rec["expires"]):
                failed = _remove(demos, rec)
                errors += failed
                if not failed:
                    removed.append(rec["client"])
    return {"removed": removed, "errors": errors}


def health(env: str) -> str:
    """``healthy``, ``unhealthy: ...``, ``down`` (as ``zixly demo list`` shows locally)."""
    res = subprocess.run([DOCKER, "ps", "-a", "--filter", f"label=org.zixly.env={env}", "--format",
                          "{{.Names}}\t{{.State}}\t{{.Status}}"], capture_output=True, text=True, timeout=60,
                         check=False)
    return judge(env, res.stdout) if res.returncode == 0 else "unknown: engine did not answer"


def judge(env: str, ps: str) -> str:
    """*ps* (``docker ps -a`` lines ``name<TAB>state<TAB>status`` of demo environment *env*) as a verdict."""
    bad, seen = [], 0
    for line in ps.splitlines():
        name, state, status = [*line.split("\t"), "", ""][:3]
        seen += 1
        if state == "exited" and "Exited (0)" in status:
            continue
        if state != "running" or "unhealthy" in status or "starting" in status:
            bad.append(f"{name.removeprefix(f'zixly-{env}-')} {status}")
    if not seen:
        return "down"
    return "healthy" if not bad else "unhealthy: " + ", ".join(bad)


def listing(demos: str, env: str | None) -> list[dict[str, Any]]:
    return [{"record": r, "health": health(r["env"])} for r in records(demos) if env is None or r["host_env"] == env]


def extend(demos: str, client: str, seconds: int, now: dt.datetime) -> dict[str, Any]:
    with locked(demos):
        rec = read_record(demos, client)
        if rec is None:
            raise Refused(f"no demo {client!r} on this host")
        start = max(parse_time(rec["expires"]), now)
        rec["expires"] = fmt_time(start + dt.timedelta(seconds=seconds))
        save(demos, rec)
    return rec


def set_status(demos: str, client: str, status: str) -> dict[str, Any]:
    with locked(demos):
        rec = read_record(demos, client)
        if rec is None:
            raise Refused(f"no demo {client!r} on this host")
        rec["status"] = status
        save(demos, rec)
    return rec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="zixly-demo-host", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reserve")
    r.add_argument("demos")
    r.add_argument("record")
    r.add_argument("--budget", type=int, default=0)
    r.add_argument("--main", type=int, default=0)
    pb = sub.add_parser("publish")
    for arg in ("demos", "client", "container", "routes"):
        pb.add_argument(arg)
    rm = sub.add_parser("remove")
    rm.add_argument("demos")
    rm.add_argument("client")
    rp = sub.add_parser("reap")
    rp.add_argument("demos")
    rp.add_argument("env")
    rp.add_argument("--now")
    ls = sub.add_parser("list")
    ls.add_argument("demos")
    ls.add_argument("env", nargs="?")
    ex = sub.add_parser("extend")
    ex.add_argument("demos")
    ex.add_argument("client")
    ex.add_argument("seconds", type=int)
    ex.add_argument("--now")
    rb = sub.add_parser("republish")
    for arg in ("demos", "env", "container"):
        rb.add_argument(arg)
    st = sub.add_parser("status")
    st.add_argument("demos")
    st.add_argument("client")
    st.add_argument("status", choices=("starting", "ready", "degraded", "failed"))
    a = p.parse_args(argv)
    try:
        if a.cmd == "reserve":
            out: Any = reserve(a.demos, a.record, a.budget or None, a.main)
        elif a.cmd == "publish":
            out = publish(a.demos, a.client, a.container, a.routes)
        elif a.cmd == "remove":
            out = remove(a.demos, a.client)
        elif a.cmd == "reap":
            out = reap(a.demos, a.env, now_utc(a.now))
        elif a.cmd == "list":
            out = listing(a.demos, a.env)
        elif a.cmd == "republish":
            out = republish(a.demos, a.env, a.container)
        elif a.cmd == "extend":
            out = extend(a.demos, a.client, a.seconds, now_utc(a.now))
        else:
            out = set_status(a.demos, a.client, a.status)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps(out, sort_keys=True))
    return 1 if isinstance(out, dict) and out.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
