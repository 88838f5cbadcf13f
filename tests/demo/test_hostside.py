"""The demo host tool (zixly_stack/demo/hostside.py) as the host runs it: a real python3 process per
call, real files and a real flock; no engine is needed for what is checked here (the registry, the
memory guard and its lock, extend, a reap of demos that own no project). The engine side --
routes, ``docker compose down``, the installed reap job -- is checked on the test hosts
(tests/demo/test_remote_e2e.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from zixly_stack.demo.hostside import PAUSE
from zixly_stack.render.demo_reap import TOOL_SOURCE

GIB = 1024**3


def tool(*args: str, pause: float = 0.0) -> subprocess.CompletedProcess[str]:
    """``python3 - ARGS`` with the tool on stdin, exactly as ``zixly demo`` runs it on a host (*pause*: seconds
    the guard waits between its check and the record, to make a race without the lock certain)."""
    env = {**os.environ, PAUSE: str(pause)}
    return subprocess.run([sys.executable, "-", *args], input=TOOL_SOURCE.read_text(), capture_output=True,
                          text=True, timeout=60, check=False, env=env)


def record(client: str, memory: int, expires: str = "2030-01-01T00:00:00Z", env: str = "duo") -> str:
    return json.dumps({"client": client, "env": f"demo-{client}", "host_env": env, "host": "h2",
                       "services": ["metabase"], "stack": [], "projects": [], "stages": [],
                       "created": "2026-01-01T00:00:00Z", "expires": expires, "memory": memory})


def test_reserve_records_the_demo_and_refuses_a_second_of_the_same_name(tmp_path: Path) -> None:
    demos = tmp_path / "demos"
    ok = tool("reserve", str(demos), record("acme", GIB), "--budget", str(4 * GIB), "--main", str(GIB))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"reserved": "acme", "budget": 4 * GIB, "used": 2 * GIB}
    path = demos / "acme" / "demo.json"
    assert json.loads(path.read_text())["client"] == "acme" and path.stat().st_mode & 0o777 == 0o600
    again = tool("reserve", str(demos), record("acme", GIB), "--budget", str(4 * GIB))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_the_memory_guard_counts_the_environment_and_every_other_demo(tmp_path: Path) -> None:
    demos = tmp_path / "demos"
    assert tool("reserve", str(demos), record("acme", 2 * GIB), "--budget", str(4 * GIB)).returncode == 0
    refused = tool("reserve", str(demos), record("beta", GIB), "--budget", str(4 * GIB), "--main", str(2 * GIB))
    assert refused.returncode == 2, refused.stdout
    assert "refused" in refused.stderr and "5.0 GiB exceeds the budget of 4.0 GiB" in refused.stderr
    assert not (demos / "beta").exists(), "a refusal changes nothing"


def test_concurrent_reservations_cannot_all_pass_the_guard(tmp_path: Path) -> None:
    """Eight processes at once, room for three: the flock makes check-and-record one step (each holds
    it half a second between the two; without the lock all eight pass -- seen when it was taken out)."""
    demos = tmp_path / "demos"
    clients = [f"c{i}" for i in range(8)]
    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(lambda c: tool("reserve", str(demos), record(c, GIB), "--budget", str(3 * GIB),
                                                     pause=0.5),
                                clients))
    passed = [c for c, r in zip(clients, results, strict=True) if r.returncode == 0]
    assert len(passed) == 3, [(r.returncode, r.stderr) for r in results]
    assert all(r.returncode == 2 and "refused" in r.stderr for r in results if r.returncode != 0)
    assert sorted(p.name for p in demos.iterdir() if p.is_dir()) == sorted(passed)


def test_extend_and_list(tmp_path: Path) -> None:
    demos = tmp_path / "demos"
    tool("reserve", str(demos), record("acme", GIB, expires="2026-01-01T10:00:00Z"), "--budget", str(4 * GIB))
    later = tool("extend", str(demos), "acme", "3600", "--now", "2026-01-01T09:00:00Z")
    assert json.loads(later.stdout)["expires"] == "2026-01-01T11:00:00Z"
    past = tool("extend", str(demos), "acme", "3600", "--now", "2026-01-02T00:00:00Z")
    assert json.loads(past.stdout)["expires"] == "2026-01-02T01:00:00Z", "from now once it expired"
    rows = json.loads(tool("list", str(demos), "duo").stdout)
    assert [r["record"]["client"] for r in rows] == ["acme"]
    assert json.loads(tool("list", str(demos), "other").stdout) == []
    missing = tool("extend", str(demos), "nope", "60")
    assert missing.returncode == 2 and "no demo 'nope'" in missing.stderr


def test_reap_removes_only_expired_demos_of_its_environment(tmp_path: Path) -> None:
    demos = tmp_path / "demos"
    for client, expires, env in (("old", "2026-01-01T00:00:00Z", "duo"), ("new", "2026-03-01T00:00:00Z", "duo"),
                                 ("other", "2026-01-01T00:00:00Z", "staging")):
        tool("reserve", str(demos), record(client, GIB, expires=expires, env=env), "--budget", str(8 * GIB))
    (demos / "stray").mkdir()  # not a demo: never touched
    res = tool("reap", str(demos), "duo", "--now", "2026-02-01T00:00:00Z")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"removed": ["old"], "errors": []}
    assert sorted(p.name for p in demos.iterdir() if p.is_dir()) == ["new", "other", "stray"]


def test_bad_client_names_are_refused(tmp_path: Path) -> None:
    res = tool("remove", str(tmp_path), "../etc")
    assert res.returncode == 2 and "not a lowercase DNS label" in res.stderr
