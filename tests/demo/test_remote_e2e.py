"""Client demos on a remote host (h2 of the shared ``duo`` environment) over the deploy connection.

Real parts: the two VPS-like test hosts of the run (own network namespace, sshd and dockerd each),
real SSH (pyinfra's paramiko connection), h2's real Traefik of the ``duo`` deploy, real
PostgreSQL (the demo's own and its warehouse, seeded by the real migrations and the deterministic
demo year over the connection), the demo host tool run by the hosts' own ``python3``. Metabase
runs as the offline kit's labelled **stand-in** (its image cannot run here): its route is checked
against the vendor's documented health contract ``GET /api/health -> 200 {"status":"ok"}`` and
its hooks report n/a.

* ``zixly demo up acme --env duo --host h2``; then, with duo's ``memory_budget`` set to room for
  one more demo but not two, ``demo up beta`` and ``demo up gamma`` at once: one is refused by
  the memory guard (exit 2, nothing of it on h2), the other is the second demo. Each answers
  through h2's Traefik on its own hostname only, with its own data; ``demo list`` from a second
  operator's root (another checkout, same age key) shows both, read from h2's registry.
* ``demo down`` of the second leaves acme and ``duo`` as they were (containers with their ids,
  volumes, route files compared).
* acme expired (its record on h2 moved into the past): the reap job that the duo deploy
  installed on h2 -- its cron line's command, run on h2 as cron runs it (``/bin/sh -c`` with
  cron's environment) -- removes it, with no zixly process on this machine.

Everything made on h2 (demos, their state directory, the images loaded for them) is removed at
the end, and duo's own files are restored.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.demo.test_demo_e2e import get, get_eventually  # GET through a Traefik with SNI + Host
from tests.deploy.helpers import REPO, Zixly, make_root
from tests.harness.duo import DUO_ENV, Duo
from tests.harness.vps import VpsHost
from zixly_stack.demo.remote import host_memory
from zixly_stack.project import load

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]
SERVICES = "metabase"  # + its warehouse and PostgreSQL: the cheapest routed, seeded demo
DEMOS = "/opt/zixly/demos"
EDGE = "zixly-duo-traefik-traefik-1"
CRON = "/etc/cron.d/zixly-demo-reap-duo"


@dataclass(frozen=True)
class Snapshot:
    """What of duo exists on h2: containers (name, id, state), volumes, its own route files (with content)."""

    containers: frozenset[str]
    volumes: frozenset[str]
    routes: frozenset[str]


def dynamic_dir(h2: VpsHost) -> str:
    mounts = json.loads(h2.docker("inspect", "--format", "{{json .Mounts}}", EDGE, check=True).stdout)
    return str(next(m["Source"] for m in mounts if m["Destination"] == "/etc/traefik")) + "/dynamic"


def route_files(h2: VpsHost) -> dict[str, str]:
    """``{file name: sha256}`` of h2's Traefik file-provider directory."""
    out = h2.ssh(["sh", "-c", 'cd "$1" && sha256sum -- *.yml', "sh", dynamic_dir(h2)], check=True).stdout
    return {name: digest for digest, name in (line.split() for line in out.splitlines())}


def snapshot(h2: VpsHost) -> Snapshot:
    cont = h2.docker("ps", "-a", "--filter", "label=org.zixly.env=duo", "--format", "{{.Names}} {{.ID}} {{.State}}",
                     check=True).stdout.split("\n")
    vols = [v for v in h2.docker("volume", "ls", "--format", "{{.Name}}", check=True).stdout.split()
            if v.startswith("zixly-duo-")]
    routes = [f"{n}:{d}" for n, d in route_files(h2).items() if not n.startswith("demo-")]
    assert [c for c in cont if c] and vols and routes, "duo is there to compare"
    return Snapshot(frozenset(c for c in cont if c), frozenset(vols), frozenset(routes))


def demo_objects(h2: VpsHost, client: str) -> dict[str, list[str]]:
    """Containers (with ids), volumes and networks of demo *client* on h2."""
    pre = f"zixly-demo-{client}-"
    return {
        "containers": sorted(n for n in h2.docker("ps", "-a", "--format", "{{.Names}}/{{.ID}}",
                                                  check=True).stdout.split() if n.startswith(pre)),
        "volumes": sorted(n for n in h2.docker("volume", "ls", "--format", "{{.Name}}", check=True).stdout.split()
                          if n.startswith(pre)),
        "networks": sorted(n for n in h2.docker("network", "ls", "--format", "{{.Name}}", check=True).stdout.split()
                           if n.startswith(pre)),
    }


def psql(h2: VpsHost, client: str, sql: str) -> str:
    res = h2.docker("exec", "-u", "postgres", f"zixly-demo-{client}-warehouse-db-1", "psql", "-X", "-At", "-U",
                    "postgres", "-d", "warehouse", "-c", sql, check=True)
    return res.stdout.strip()


@dataclass
class Remote:
    duo: Duo
    h2: VpsHost
    results: dict[str, Any]  # the two demos that are up: acme and the second one
    second: str
    refused: subprocess.CompletedProcess[str]
    loser: str
    before: Snapshot
    seconds: dict[str, float]

    def demo(self, *args: str, check: int | None = 0, zixly: Zixly | None = None) -> subprocess.CompletedProcess[str]:
        return (zixly or self.duo.zixly).run("demo", *args, "--env", "duo", check=check, timeout=900)


def up_together(zixly: Zixly, clients: list[str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """``demo up CLIENT --env duo --host h2`` for each client, all started at once."""
    procs = {c: subprocess.Popen(zixly.argv(["demo", "up", c, "--ttl", "2h", "--services", SERVICES, "--env", "duo",
                                             "--host", "h2", "--json"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=zixly.environ(),
                                 cwd=zixly.root) for c in clients}
    done = {}
    for c, p in procs.items():
        out, err = p.communicate(timeout=1200)
        zixly.outputs += [out, err]
        done[c] = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    return done


def _up_ok(res: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert res.returncode == 0, f"{res.args[-8:]} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    out: dict[str, Any] = json.loads(res.stdout)
    return out


@pytest.fixture(scope="module")
def remote(duo: Duo) -> Iterator[Remote]:
    """acme up on h2; then, with duo's ``memory_budget`` set to room for one more demo but not two (restored
    right after), beta and gamma at once: one is refused, the other is the second demo. At the end nothing
    of any demo is left on h2."""
    h2 = duo.hosts[1]
    template = duo.zixly.root / "inventories" / "demo"
    if not template.exists():  # the test root has only duo: give it the repo's demo template
        shutil.copytree(REPO / "inventories" / "demo", template)
    images = set(h2.docker("image", "ls", "-q", "--no-trunc", check=True).stdout.split())
    before = snapshot(h2)
    seconds: dict[str, float] = {}
    try:
        start = time.monotonic()
        acme = _up_ok(up_together(duo.zixly, ["acme"])["acme"])
        seconds["acme"] = time.monotonic() - start
        need = int(acme["memory"])
        main = host_memory(load(duo.zixly.root, "duo"), "h2")
        budget = (main + 2 * need + need // 2) // 1024**2  # duo's containers on h2, acme, and one and a half more
        duo.env_file.write_text(DUO_ENV + f"memory_budget: {budget}m\n")
        start = time.monotonic()
        try:
            pair = up_together(duo.zixly, ["beta", "gamma"])
        finally:
            duo.env_file.write_text(DUO_ENV)
        seconds["pair"] = time.monotonic() - start
        codes = sorted(r.returncode for r in pair.values())
        assert codes == [0, 2], {c: (r.returncode, r.stderr[-600:]) for c, r in pair.items()}
        second = next(c for c, r in pair.items() if r.returncode == 0)
        loser = next(c for c, r in pair.items() if r.returncode == 2)
        results = {"acme": acme, second: _up_ok(pair[second])}
        yield Remote(duo, h2, results, second, pair[loser], loser, before, seconds)
    finally:
        duo.env_file.write_text(DUO_ENV)
        left = json.loads(duo.zixly.run("demo", "list", "--env", "duo", "--json", check=None).stdout or "[]")
        for row in left:
            duo.zixly.run("demo", "down", row["client"], "--env", "duo", check=None, timeout=900)
        h2.ssh(["rm", "-rf", "--", DEMOS])
        new = set(h2.docker("image", "ls", "-q", "--no-trunc", check=True).stdout.split()) - images
        if new:
            h2.docker("image", "rm", *sorted(new))
        shutil.rmtree(template, ignore_errors=True)


def test_demos_up_on_h2_answer_through_its_traefik_on_their_own_hostnames(remote: Remote) -> None:
    h1, h2 = remote.duo.hosts
    for c, r in remote.results.items():
        assert r["status"] == "ready" and r["host"] == "h2", r
        assert r["urls"] == {"metabase": f"https://metabase.{c}.demo.duo.localhost/"}
        hooks = {name: status for name, status, _ in r["hooks"]}
        assert hooks["warehouse-migrate"] == "ok" and hooks["warehouse-demo-data"] == "ok", r["hooks"]
        assert hooks["metabase-setup"] == "n/a"  # a stand-in has no Metabase to set up
        code, body = get_eventually(h2.address, f"metabase.{c}.demo.duo.localhost", "/api/health", 200)
        assert code == 200 and '"ok"' in body, (code, body[:300])
        # only h2's edge carries it, and only under its own hostnames
        assert get(h1.address, f"metabase.{c}.demo.duo.localhost", "/api/health")[0] == 404
        assert get(h2.address, f"metabase.{c}.demo.duo.localhost.evil", "/api/health")[0] == 404
    assert get(h2.address, "metabase.duo.localhost", "/api/health")[0] == 404, "no demo route on duo's own names"
    print(f"demo up acme on h2 in {remote.seconds['acme']:.0f}s (images loaded over SSH); "
          f"beta and gamma at once in {remote.seconds['pair']:.0f}s")


def test_each_demo_has_its_own_seeded_data_and_secrets(remote: Remote) -> None:
    h2 = remote.h2
    b = remote.second
    counts = {c: psql(h2, c, "select count(*) from warehouse.clients") for c in ("acme", b)}
    assert counts["acme"] == counts[b] and int(counts["acme"]) > 0, "the deterministic demo year, in both"
    psql(h2, "acme", "create table public.only_here(v text); insert into public.only_here values ('acme')")
    assert psql(h2, b, "select coalesce(to_regclass('public.only_here')::text, 'absent')") == "absent"
    pa, pb = (remote.results[c]["credentials"]["warehouse.admin_password"] for c in ("acme", b))
    assert pa != pb, "each demo has its own secrets"
    for c in ("acme", b):  # the registry on h2 holds no password; the store there is encrypted
        record = h2.ssh(["cat", f"{DEMOS}/{c}/demo.json"], check=True).stdout
        assert all(v not in record for v in remote.results[c]["credentials"].values())
        store = h2.ssh(["head", "-c", "40", f"{DEMOS}/{c}/root/inventories/demo-{c}/secrets.age"], check=True)
        assert store.stdout.startswith("age-encryption.org/v1"), store.stdout


def test_a_second_operator_sees_the_same_list(remote: Remote, tmp_path: Path) -> None:
    """Another checkout with the same environment files and key: the list comes from h2's registry."""
    duo = remote.duo
    inv = duo.zixly.root / "inventories" / "duo"
    other = make_root(tmp_path / "other", "duo", (inv / "environment.yaml").read_text(),
                      (inv / "hosts.yaml").read_text())
    rows = json.loads(remote.demo("list", "--json", zixly=Zixly(other, duo.zixly.env)).stdout)
    want = [("acme", "h2", "healthy"), (remote.second, "h2", "healthy")]
    assert [(r["client"], r["host"], r["health"]) for r in rows] == want
    ext = remote.demo("extend", remote.second, "--ttl", "1h", zixly=Zixly(other, duo.zixly.env))
    assert f"{remote.second} now expires" in ext.stdout


def test_two_ups_at_once_one_refused_by_the_memory_guard(remote: Remote) -> None:
    """beta and gamma were started together with room for one: the guard, taken under h2's lock, let one by."""
    res = remote.refused
    assert "refused" in res.stderr and "exceeds the budget of" in res.stderr and "memory_budget" in res.stderr, \
        res.stderr
    assert "Traceback" not in res.stderr
    assert demo_objects(remote.h2, remote.loser) == {"containers": [], "volumes": [], "networks": []}
    assert remote.h2.ssh(["test", "-e", f"{DEMOS}/{remote.loser}"]).returncode == 1, "a refusal leaves nothing on h2"
    assert remote.results[remote.second]["status"] == "ready"


def test_down_of_one_leaves_the_other_and_duo_untouched(remote: Remote) -> None:
    h2, b = remote.h2, remote.second
    acme = demo_objects(h2, "acme")
    assert acme["containers"] and acme["volumes"] and acme["networks"]
    before = snapshot(h2)
    remote.demo("down", b)
    assert demo_objects(h2, b) == {"containers": [], "volumes": [], "networks": []}
    assert f"demo-{b}.yml" not in route_files(h2) and "demo-acme.yml" in route_files(h2)
    assert h2.ssh(["test", "-e", f"{DEMOS}/{b}"]).returncode == 1, "its state directory is gone"
    assert demo_objects(h2, "acme") == acme
    assert snapshot(h2) == before == remote.before
    assert get_eventually(h2.address, f"metabase.{b}.demo.duo.localhost", "/api/health", 404)[0] == 404
    assert get(h2.address, "metabase.acme.demo.duo.localhost", "/api/health")[0] == 200


def test_the_reap_job_deploy_installed_on_h2_removes_an_expired_demo(remote: Remote) -> None:
    h2 = remote.h2
    line = h2.ssh(["cat", CRON], check=True).stdout.strip().splitlines()[-1]
    assert line.startswith("*/15 * * * * root flock -n /run/zixly-demo-reap-duo.lock /usr/bin/python3 "), line
    command = line.split(" root ", 1)[1]
    expire = ("import json,sys; p=sys.argv[1]; r=json.load(open(p)); r['expires']='2020-01-01T00:00:00Z'; "
              "json.dump(r, open(p, 'w'))")
    h2.ssh(["python3", "-c", expire, f"{DEMOS}/acme/demo.json"], check=True)
    # as cron runs it: /bin/sh -c with the cron file's SHELL and PATH, nothing else of ours
    cron_env = ["env", "-i", "SHELL=/bin/sh", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root", "LOGNAME=root"]
    ran = h2.ssh([*cron_env, "/bin/sh", "-c", command], timeout=600)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert demo_objects(h2, "acme") == {"containers": [], "volumes": [], "networks": []}
    assert not [n for n in route_files(h2) if n.startswith("demo-")]
    assert h2.ssh(["test", "-e", f"{DEMOS}/acme"]).returncode == 1
    assert snapshot(h2) == remote.before, "duo as it was before any demo"
    assert json.loads(remote.demo("list", "--json").stdout) == []
    assert shlex.split(h2.ssh(["ls", "-A", DEMOS], check=True).stdout) == [".lock"], "nothing else is left"
