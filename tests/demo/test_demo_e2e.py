"""Client demos end to end on the real engine, next to the session's local stack (``local_stack``).

Two small demos (``warehouse,metabase``: a dedicated PostgreSQL, the real warehouse
PostgreSQL seeded by the real migrations and the deterministic demo year, and the Metabase
**stand-in** — the Metabase image cannot run here, so its route is checked against the
vendor's documented health contract ``GET /api/health -> 200 {"status":"ok"}`` and its
hooks report n/a) are brought up side by side through the CLI, probed through the stack's
real Traefik with each demo's Host header and SNI, checked for their own data, then one is
removed with ``demo down`` and the other by ``demo reap`` after its expiry is moved into the
past in the registry — each time comparing the main stack's containers, volumes and route
files (and the other demo) before and after.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import REPO
from tests.harness.leaks import register_env
from tests.harness.stack import LocalStack, local_environment_yaml
from zixly_stack.demo.run import mounted_source
from zixly_stack.engine import docker_argv, docker_env

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]
SERVICES = "warehouse,metabase"
BUDGET = "memory_budget: 40g\n"   # the guard's budget for this run, independent of the CI machine's RAM


def _docker(*args: str, check: bool = True) -> str:
    res = subprocess.run([*docker_argv(), *args], capture_output=True, text=True, env=docker_env(), timeout=120,
                         check=False)
    if check:
        assert res.returncode == 0, res.stderr
    return res.stdout


def get(bind: str, host: str, path: str) -> tuple[int, str]:
    """GET https://<host><path> through Traefik at *bind*:443 (SNI and Host header = *host*)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((bind, 443), timeout=10) as raw, ctx.wrap_socket(raw, server_hostname=host) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    return int(head.split()[1]), body


def get_eventually(bind: str, host: str, path: str, want: int, timeout: float = 20.0) -> tuple[int, str]:
    """Traefik reloads the file provider within a second or two: poll until *want* (or give up)."""
    end = time.monotonic() + timeout
    while True:
        got = get(bind, host, path)
        if got[0] == want or time.monotonic() > end:
            return got
        time.sleep(0.5)


@dataclass(frozen=True)
class Snapshot:
    """What of the main stack (or anything but the demos) exists: containers+ids, volumes, route files."""

    containers: frozenset[str]
    volumes: frozenset[str]
    routes: frozenset[str]


def snapshot(stack: LocalStack, dynamic: Path) -> Snapshot:
    """The main stack's containers (name, id, state), volumes and non-demo route files."""
    env = stack.env
    cont = _docker("ps", "-a", "--filter", f"label=org.zixly.env={env}", "--format", "{{.Names}} {{.ID}} {{.State}}")
    vols = [v for v in _docker("volume", "ls", "--format", "{{.Name}}").split() if v.startswith(f"zixly-{env}-")]
    files = [f"{p.name}:{p.read_text()}" for p in sorted(dynamic.glob("*.yml")) if not p.name.startswith("demo-")]
    assert cont.strip() and vols and files, "the main stack is there to compare"
    return Snapshot(frozenset(cont.splitlines()), frozenset(vols), frozenset(files))


def demo_objects(client: str) -> dict[str, list[str]]:
    """Containers, volumes and networks of demo *client*."""
    pre = f"zixly-demo-{client}-"
    return {
        "containers": [n for n in _docker("ps", "-a", "--format", "{{.Names}}").split() if n.startswith(pre)],
        "volumes": [n for n in _docker("volume", "ls", "--format", "{{.Name}}").split() if n.startswith(pre)],
        "networks": [n for n in _docker("network", "ls", "--format", "{{.Name}}").split() if n.startswith(pre)],
    }


def psql(client: str, sql: str) -> str:
    return _docker("exec", "-u", "postgres", f"zixly-demo-{client}-warehouse-db-1",
                   "psql", "-X", "-At", "-U", "postgres", "-d", "warehouse", "-c", sql).strip()


@dataclass
class Demos:
    stack: LocalStack
    a: str
    b: str
    results: dict[str, Any]
    seconds: dict[str, float]
    dynamic: Path
    before: Snapshot

    def run(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        return self.stack.zixly.run("demo", *args, "--env", self.stack.env, check=check, timeout=900)


def _dynamic_dir(stack: LocalStack) -> Path:
    mounts = json.loads(_docker("inspect", "--format", "{{json .Mounts}}", stack.container("traefik", "traefik")))
    return Path(next(m["Source"] for m in mounts if m["Destination"] == "/etc/traefik")) / "dynamic"


@pytest.fixture(scope="module")
def demos(local_stack: LocalStack) -> Iterator[Demos]:
    """Two demos up side by side (started concurrently); whatever is left is removed at the end."""
    tag = re.sub(r"[^a-z0-9]", "", local_stack.env.lower())[:12] or "t"
    a, b = f"{tag}-a", f"{tag}-b"
    for c in (a, b):  # whatever of them is left at the end of the session fails it (the leak guard)
        register_env(f"demo-{c}")
    template = local_stack.zixly.root / "inventories" / "demo"
    if not template.exists():  # the test root has only its own environment: give it the repo's demo template
        shutil.copytree(REPO / "inventories" / "demo", template)
    local_stack.env_file.write_text(local_environment_yaml(local_stack.base_dir, BUDGET))
    for c in (a, b):  # left by an interrupted run
        if (local_stack.base_dir / "demos" / c).exists():
            local_stack.zixly.run("demo", "down", c, "--env", local_stack.env, timeout=900)
    dynamic = _dynamic_dir(local_stack)
    before = snapshot(local_stack, dynamic)
    procs = {}
    start = time.monotonic()
    for c in (a, b):
        procs[c] = subprocess.Popen(local_stack.zixly.argv(["demo", "up", c, "--ttl", "2h", "--services", SERVICES,
                                                            "--env", local_stack.env, "--json"]),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=local_stack.zixly.environ(), cwd=local_stack.zixly.root)
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    try:
        for c, p in procs.items():
            out, err = p.communicate(timeout=900)
            seconds[c] = time.monotonic() - start
            local_stack.zixly.outputs += [out, err]
            assert p.returncode == 0, f"demo up {c} exited {p.returncode}:\n{out}\n{err}"
            results[c] = json.loads(out)
        yield Demos(local_stack, a, b, results, seconds, dynamic, before)
    finally:
        for c in (a, b):
            if (local_stack.base_dir / "demos" / c).exists():
                local_stack.zixly.run("demo", "down", c, "--env", local_stack.env, check=None, timeout=900)
        local_stack.set_overrides("")


def test_two_demos_up_seeded_and_timed(demos: Demos) -> None:
    for c in (demos.a, demos.b):
        r = demos.results[c]
        assert r["status"] == "ready", r["hooks"]
        assert r["stages"] == [[f"zixly-demo-{c}-postgres", f"zixly-demo-{c}-warehouse"], [f"zixly-demo-{c}-metabase"]]
        assert r["urls"] == {"metabase": f"https://metabase.{c}.demo.localhost/"}
        hooks = {name: status for name, status, _ in r["hooks"]}
        assert hooks["warehouse-migrate"] == "ok" and hooks["warehouse-demo-data"] == "ok"
        assert hooks["metabase-setup"] == "n/a"  # a stand-in has no Metabase to set up
        assert set(r["credentials"]) >= {"metabase.admin_password", "warehouse.admin_password"}
        print(f"demo up {c}: healthy {r['seconds']['healthy']}s, seeded {r['seconds']['seeded']}s "
              f"(wall {demos.seconds[c]:.0f}s, two demos started together)")
    pa, pb = (demos.results[c]["credentials"]["warehouse.admin_password"] for c in (demos.a, demos.b))
    assert pa != pb, "each demo has its own secrets"
    # the credentials are printed once, at up, and are not in the registry on disk
    for c in (demos.a, demos.b):
        record = (demos.stack.base_dir / "demos" / c / "demo.json").read_text()
        assert all(v not in record for v in demos.results[c]["credentials"].values())
        assert (demos.stack.base_dir / "demos" / c / "root" / "inventories" / f"demo-{c}" / "secrets.age").exists()


def test_each_demo_has_its_own_seeded_data(demos: Demos) -> None:
    counts = {c: psql(c, "select count(*) from warehouse.clients") for c in (demos.a, demos.b)}
    assert counts[demos.a] == counts[demos.b] and int(counts[demos.a]) > 0, "the deterministic demo year, in both"
    psql(demos.a, "create table public.only_here(v text); insert into public.only_here values ('written in a')")
    try:
        assert psql(demos.a, "select v from public.only_here") == "written in a"
        assert psql(demos.b, "select coalesce(to_regclass('public.only_here')::text, 'absent')") == "absent"
    finally:
        psql(demos.a, "drop table public.only_here")


def test_each_demo_answers_only_on_its_own_hostnames(demos: Demos) -> None:
    bind = demos.stack.bind
    for c in (demos.a, demos.b):
        status, body = get_eventually(bind, f"metabase.{c}.demo.localhost", "/api/health", 200)
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        aliases = json.loads(_docker("inspect", "--format", "{{json .NetworkSettings.Networks}}",
                                     f"zixly-demo-{c}-metabase-metabase-1"))[f"zixly-{demos.stack.env}-proxy"]
        assert "metabase-metabase" not in aliases["Aliases"], "never the main stack's alias on the edge network"
        assert (demos.dynamic / f"demo-{c}.yml").exists()
    assert get(bind, "metabase.nobody.demo.localhost", "/api/health")[0] == 404
    assert get(bind, "metabase.localhost", "/api/health")[0] == 200, "the main stack's own route still answers"
    listed = {d["client"]: d for d in json.loads(demos.run("list", "--json").stdout)}
    for c in (demos.a, demos.b):
        assert listed[c]["health"] == "healthy" and listed[c]["expired"] is False
        assert listed[c]["services"] == ["metabase", "warehouse"]


def test_lost_routes_are_republished_by_up(demos: Demos) -> None:
    """A redeploy moves `current` to a new release: a recreated Traefik mounts the new directory,
    one that was not recreated keeps the old one until it restarts (Docker resolves the symlinked
    mount once). Demo route files must be where Traefik looks now AND in `current`. Simulated
    loss: one demo's file removed everywhere -> it stops answering; `zixly up` of the host
    environment republishes; both demos answer; `demo republish` then finds everything in place."""
    bind, c = demos.stack.bind, demos.a
    host = f"metabase.{c}.demo.localhost"
    edge = demos.stack.container("traefik", "traefik")
    name = f"demo-{c}.yml"

    def places() -> list[Path]:
        watched = mounted_source(edge, "/etc/traefik")
        return list(dict.fromkeys([demos.dynamic / name, *([watched / "dynamic" / name] if watched else [])]))

    saved = (demos.dynamic / name).read_text()
    for p in places():
        p.unlink(missing_ok=True)
    try:
        assert get_eventually(bind, host, "/api/health", 404)[0] == 404, "the demo still answers without its routes"
        res = demos.stack.zixly.run("up", "--env", demos.stack.env, "--no-probe", timeout=1800)
        assert f"demo {c}: routes published" in res.stderr, res.stderr[-2000:]
        for p in places():
            assert p.read_text() == saved, f"{p} not republished"
        for d in (demos.a, demos.b):
            assert get_eventually(bind, f"metabase.{d}.demo.localhost", "/api/health", 200)[0] == 200, d
        assert "every demo's routes in place" in demos.run("republish").stdout
    finally:
        for p in places():
            if not p.exists():
                p.write_text(saved)


def test_bad_names_duplicates_and_the_memory_guard_change_nothing(demos: Demos) -> None:
    state = sorted(p.name for p in (demos.stack.base_dir / "demos").iterdir())
    for bad, why in (("Acme", "not a lowercase DNS label"), ("x" * 21, "at most 20")):
        res = demos.run("up", bad, "--services", SERVICES, check=2)
        assert why in res.stderr and "Traceback" not in res.stderr
    res = demos.run("up", demos.a, "--services", SERVICES, check=2)
    assert "already exists" in res.stderr
    demos.stack.env_file.write_text(local_environment_yaml(demos.stack.base_dir, "memory_budget: 14g\n"))
    try:
        res = demos.run("up", "toobig", "--services", SERVICES, check=2)
        assert "refused" in res.stderr and "exceeds the budget of 14.0 GiB" in res.stderr, res.stderr
    finally:
        demos.stack.env_file.write_text(local_environment_yaml(demos.stack.base_dir, BUDGET))
    assert sorted(p.name for p in (demos.stack.base_dir / "demos").iterdir()) == state
    assert demo_objects("toobig") == {"containers": [], "volumes": [], "networks": []}


def test_down_removes_one_demo_and_nothing_else(demos: Demos) -> None:
    a, b = demos.a, demos.b
    other = demo_objects(b)
    demos.run("down", a)
    assert demo_objects(a) == {"containers": [], "volumes": [], "networks": []}
    assert not (demos.stack.base_dir / "demos" / a).exists(), "its registry entry and secrets store are gone"
    assert not (demos.dynamic / f"demo-{a}.yml").exists()
    assert demo_objects(b) == other
    assert snapshot(demos.stack, demos.dynamic) == demos.before, "the main stack is untouched"
    assert get_eventually(demos.stack.bind, f"metabase.{a}.demo.localhost", "/api/health", 404)[0] == 404
    assert get(demos.stack.bind, f"metabase.{b}.demo.localhost", "/api/health")[0] == 200


def test_reap_removes_only_the_expired_demo(demos: Demos) -> None:
    b = demos.b
    assert json.loads(demos.run("reap", "--json").stdout) == {"removed": []}, "nothing has expired yet"
    assert demo_objects(b)["containers"]
    demos.run("extend", b, "--ttl", "1d")
    path = demos.stack.base_dir / "demos" / b / "demo.json"
    rec = json.loads(path.read_text())
    assert rec["expires"] > demos.results[b]["expires"]
    rec["expires"] = "2020-01-01T00:00:00Z"
    path.write_text(json.dumps(rec))
    assert json.loads(demos.run("reap", "--json").stdout) == {"removed": [b]}
    assert demo_objects(b) == {"containers": [], "volumes": [], "networks": []}
    assert snapshot(demos.stack, demos.dynamic) == demos.before, "the main stack is untouched"
    assert json.loads(demos.run("list", "--json").stdout) == []
