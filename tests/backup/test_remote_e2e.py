"""End-to-end: operate a remote environment from this machine -- backup, restore, the drill, the
staging rehearsal and disaster recovery -- on the shared pair of test hosts (own network
namespace, sshd and dockerd each; real SSH through pyinfra's paramiko connection; real Docker
engines, PostgreSQL 15, MariaDB 10.11, Redis 7 and restic 0.14 on the hosts).

The repository is on S3: moto's standalone server (``moto_server``, PyPI ``moto[server]``) STANDS
IN FOR A PROVIDER, listening only on the test hosts' LAN gateway address; restic on the hosts
reaches it as ``s3:http://<gateway>:<port>/<bucket>/<env>``. Its credentials exist only in each
host's 0600 ``/etc/zixly/backup-<env>.env``. (moto's IAM enforcement rejects the request
signatures of restic's S3 client, so the read-only key a staging host would hold for
production's repository is not enforced here; the rehearsal reads with ``--no-lock``, which is
all a read-only key allows.)

Environments beside ``duo`` on the same two hosts (edge ports of their own; the firewall step
left to ``duo``, which owns the table): ``rem`` on h1 -- Traefik, the socket proxy, the shared
PostgreSQL, MariaDB and Redis, the warehouse (its own PostgreSQL), Metabase (shared PostgreSQL),
Invoice Ninja (MariaDB + a volume) and Portainer (a volume); the apps are the kit's labelled
stand-ins, the data stores are real -- and ``remstg`` on h2 (the same services, staging). For
disaster recovery ``rem`` moves to h2, a host that holds nothing of it. Tests run in order and
share the module's state; everything of both environments is removed from the hosts at the end.
Staging's images, deploy and first backup on h2 (:meth:`Remote.start_staging`) run in the
background from the end of the wipe test's restore on -- the drill and memory tests that follow
look at h1 and ``rem`` only -- and the staging test waits for them and checks their outcome.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.backup.remote_env import S3, HostData, s3_server
from tests.deploy.helpers import Zixly, make_root
from tests.harness import vps_net
from tests.harness.duo import Duo
from tests.harness.stack import health_settings
from tests.harness.timing import figure
from tests.harness.vps import VpsHost, VpsPool
from zixly_stack.project import load
from zixly_stack.render.backup.plan import Item, plan_backup
from zixly_stack.secrets.identity import load_identity
from zixly_stack.secrets.store import SecretStore
from zixly_stack.secrets.value import Secret

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]

ENV = """description: {what}
domain: {name}.localhost
tls: {{sni_strict: false}}
images: {{source: offline, allow_standins: true}}
edge: {{http_port: {http}, https_port: {https}}}
base_dir: /opt/zixly
stores: shared
services:
  traefik:
  socket-proxy:
  postgres:
  mariadb:
  redis:
  warehouse:
  metabase:
  invoiceninja:
  portainer:
backup:
  target: {{type: s3, url: '{url}'}}
"""
ENVS = {"rem": ("production-like, remote", 8081, 8444), "remstg": ("staging-like, remote", 8082, 8445)}
APPS = {"warehouse", "metabase", "invoiceninja", "portainer"}


def hosts_yaml(name: str, host: VpsHost, memory: str = "") -> str:
    mem = f"    memory: {memory}\n" if memory else ""
    return (f"hosts:\n  {name}:\n    address: {host.address}\n    user: root\n    ssh_key: {host.key_path}\n"
            f"    roles: [edge, apps, stores]\n{mem}    prepare: {{firewall: false}}\n")


@dataclass
class Remote:
    """The module's state: the two hosts, the S3 stand-in, the repo root and the CLI."""

    zixly: Zixly
    s3: S3
    h1: VpsHost
    h2: VpsHost
    deployed: dict[str, VpsHost] = field(default_factory=dict)
    backed_up: dict[str, dict[str, str]] = field(default_factory=dict)  # rem's fingerprints at its last backup
    background: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1))
    staging: Future[dict[str, object]] | None = None

    def inv(self, env: str) -> Path:
        return self.zixly.root / "inventories" / env

    def items(self, env: str = "rem") -> list[Item]:
        loaded = load(self.zixly.root, env)
        return list(plan_backup(loaded.stack, next(iter(loaded.config.hosts.hosts))).items)

    def data(self, env: str = "rem") -> HostData:
        return HostData(self.deployed[env])

    def fingerprints(self, env: str = "rem") -> dict[str, dict[str, str]]:
        return {i.name: self.data(env).fingerprint(i) for i in self.items(env)}

    def secrets(self, env: str = "rem") -> list[str]:
        identity = load_identity({"ZIXLY_AGE_KEY_FILE": self.zixly.env["ZIXLY_AGE_KEY_FILE"]})
        store = SecretStore.open(self.inv(env), identity)
        return [v for n in store.names() if (s := store.get(n)) is not None and len(v := s.reveal()) >= 8]

    def start_staging(self) -> Future[dict[str, object]]:
        """``remstg`` up on h2 in the background (once): production's store, its images, its deploy
        (whose JSON report the future gives) and its own first backup."""
        if self.staging is None:
            self.staging = self.background.submit(_staging_up, self)
        return self.staging

    def place(self, env: str, host: VpsHost, memory: str = "") -> None:
        (self.inv(env) / "hosts.yaml").write_text(hosts_yaml(f"{env}1", host, memory))
        self.deployed[env] = host


def _staging_up(remote: Remote) -> dict[str, object]:
    z = remote.zixly
    # staging holds production's keys (and every other value): copied AFTER rem's deploy, which generates
    # the values `secrets init` leaves to it (metabase.encryption_key, invoiceninja.app_key)
    for f in ("secrets.age", "recipients.txt"):
        shutil.copy2(remote.inv("rem") / f, remote.inv("remstg") / f)
    z.run("images", "load", "remstg", timeout=1800)
    report: dict[str, object] = z.json("deploy", "remstg", "--yes")
    if report["ok"]:
        # staging's own nightly backup (its repository, remstg/ in the bucket): the closing health report
        # warns about an environment that was never backed up
        z.run("backup", "remstg", "--no-maintenance", timeout=1800)
    return report


def _credentials(host: VpsHost, env: str, s3: S3) -> None:
    host.ssh(["sh", "-c", f'umask 077 && mkdir -p /etc/zixly && cat > /etc/zixly/backup-{env}.env'],
             input=s3.env_file(), check=True)


@pytest.fixture(scope="module")
def remote(vps_hosts: Callable[[int], list[VpsHost]], vps_pool: VpsPool, age_key_file: Path,
           tmp_path_factory: pytest.TempPathFactory, duo: Duo) -> Iterator[Remote]:
    """``duo`` first (whatever the collection order): its tests check what a FIRST deploy does to the
    shared hosts, and its firewall table is the one this module's environments leave alone."""
    h1, h2 = vps_hosts(2)
    work = tmp_path_factory.mktemp("remote")
    with s3_server(vps_net.gateway_address(vps_pool.slot), work / "moto.log") as s3:
        root = work / "repo"
        for env, (what, http, https) in ENVS.items():
            text = ENV.format(what=what, name=env, http=http, https=https, url=s3.url(env))
            make_root(root, env, text, hosts_yaml(f"{env}1", h1 if env == "rem" else h2))
        for env in ENVS:  # the shipped defaults, warn_ms raised: 2 shared cores, a loaded CI machine
            health_settings(root, env)
        z = Zixly(root, {"ZIXLY_AGE_KEY_FILE": str(age_key_file),
                         "ZIXLY_SSH_KNOWN_HOSTS": str(vps_pool.known_hosts_path)})
        state = Remote(z, s3, h1, h2)
        try:
            z.run("secrets", "init", "rem")
            _credentials(h1, "rem", s3)
            for env in ("rem", "remstg"):  # staging's host reads production's repository (--from)
                _credentials(h2, env, s3)
            z.run("images", "load", "rem", timeout=1800)
            report = z.json("deploy", "rem", "--yes")
            assert report["ok"], json.dumps(report, indent=2)[-3000:]
            state.deployed["rem"] = h1
            yield state
        finally:
            state.background.shutdown(wait=True)  # staging's bring-up, when a test failed before waiting for it
            for host in (h1, h2):
                for env in ENVS:
                    HostData(host).remove_env(env)
                # restic's cache in root's home (the hosts' other tests expect a bare home)
                host.ssh(["sh", "-c", "rm -rf /root/.cache/restic; rmdir /root/.cache 2>/dev/null; true"])


class ArgvWatch:
    """Samples every process's argv (``/proc/*/cmdline``; the test hosts share this machine's PID
    namespace, so their processes are seen too) and keeps those holding one of *values*."""

    def __init__(self, values: list[str]) -> None:
        self.values = values
        self.hits: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for d in Path("/proc").iterdir():
                if d.name.isdigit():
                    try:
                        argv = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    except OSError:
                        continue
                    for v in self.values:
                        if v in argv:
                            self.hits.append(f"pid {d.name}: secret #{self.values.index(v)} in its argv")
            self.samples += 1
            time.sleep(0.05)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _healthy(out: str) -> set[str]:
    return {line.split()[0] for line in out.splitlines() if "restored, healthy" in line}


def test_wipe_every_store_on_h1_then_restore_from_here(remote: Remote) -> None:
    """Every data store of ``rem`` on h1 wiped (databases dropped, volumes emptied, Redis flushed);
    ``zixly restore rem`` on this machine brings back every row and file, the apps are healthy and
    ``zixly health rem`` is ok. During the restore no secret value is in any process's argv on either
    host or here, nor in any output or host log."""
    z, data, items = remote.zixly, remote.data(), remote.items()
    assert {"postgres", "mariadb", "redis", "volume"} <= {i.engine for i in items}
    for item in items:
        data.mark(item)
    res = z.run("backup", "rem", "--no-maintenance", timeout=1800)
    assert "rem1: backing up rem and the encrypted secrets store" in res.stderr, res.stderr
    remote.backed_up = before = remote.fingerprints()
    assert not [n for n, fp in before.items() if not fp], before
    assert any(s["item"] == "zixly.files.secrets" for s in z.json("snapshots", "rem"))
    for item in items:
        data.wipe(item)
    assert all(remote.fingerprints()[i.name] != before[i.name] for i in items), "not wiped"

    values = remote.secrets()
    assert len(values) > 8
    with ArgvWatch(values) as watch:
        res = z.run("restore", "rem", "--yes", timeout=2400)
    remote.start_staging()  # on h2, while the checks here and the next tests work on h1 (module doc)
    assert watch.samples > 20 and not watch.hits, watch.hits[:5]
    assert _healthy(res.stdout) == {i.service for i in items}, res.stdout + res.stderr[-3000:]
    assert re.search(r"RPO \d+(m\d\ds|s) .* took ", res.stdout), res.stdout
    assert re.search(r"rem1: \[\d+/\d+\] invoiceninja\.db\.invoiceninja: loaded in", res.stderr), res.stderr
    after = remote.fingerprints()
    assert after == before, {n: (before[n], after[n]) for n in before if before[n] != after[n]}

    health = z.run("health", "rem", "--restic", "--offline", "--no-history", "--format", "json", check=None,
                   timeout=600)
    doc = json.loads(health.stdout)
    bad = [f"{c['id']}: {c['status']} {c['summary']}" for c in doc["checks"] if c["status"] not in ("ok", "skipped")]
    assert health.returncode == 0 and doc["status"] == "ok", bad
    left = remote.h1.ssh(["sh", "-c", "ls -d /tmp/zixly-* /var/lib/docker/volumes/*/.zixly-restore-* 2>/dev/null"
                          " || true"]).stdout.split()
    assert not left, f"scratch left on the host: {left}"
    logs = remote.h1.ssh(["sh", "-c", "cat /opt/zixly/rem/backup/*.* 2>/dev/null || true"]).stdout
    leaked = [n for n, v in enumerate(values) if any(v in t for t in [*z.outputs, logs])]
    assert not leaked, f"{len(leaked)} secret value(s) in an output or a host log"


def _drill_projects(docker: Callable[..., subprocess.CompletedProcess[str]]) -> set[str]:
    out = docker("ps", "-a", "--filter", "label=org.zixly.drill=rem", "--format",
                 '{{.Label "com.docker.compose.project"}}').stdout
    return set(out.split())


def test_the_drill_runs_on_the_backed_up_host_and_names_the_app_of_a_damaged_pack(remote: Remote) -> None:
    z, h1 = remote.zixly, remote.h1
    here = lambda *a: subprocess.run(["docker", *a], capture_output=True, text=True)  # noqa: E731
    seen_there: set[str] = set()
    proc = z.popen("backup", "verify", "rem", "--read-data-subset", "1/4", "--json")
    while proc.poll() is None:
        assert not _drill_projects(here), "a scratch project on this machine"
        seen_there |= _drill_projects(h1.docker)
        time.sleep(0.5)
    out, err = proc.communicate()
    z.outputs += [out, err]
    assert proc.returncode == 0, err[-3000:]
    report = json.loads(out)
    assert report["status"] == "ok" and report["torn_down"], report
    apps = {r["service"]: r["status"] for r in report["items"] if r["item"].endswith(".app")}
    assert apps.keys() >= {"metabase", "invoiceninja", "portainer"} and set(apps.values()) == {"ok"}, apps
    assert {"zixly-rem-drill", "zixly-rem-drill-apps"} <= seen_there, seen_there
    assert not _drill_projects(h1.docker), "the drill left containers on h1"

    # a pack of Invoice Ninja's newest backup damaged in the bucket: the drill fails naming the app
    data = remote.data()
    db = next(i for i in remote.items() if i.name == "invoiceninja.db.invoiceninja")
    data.maria(db.container, db.database, "CREATE TABLE zixly_noise AS SELECT seq, md5(rand()) h FROM seq_1_to_20000;")
    before = remote.s3.objects("rem/data/")
    saved: dict[str, bytes] = {}
    try:
        z.run("backup", "rem", "--service", "invoiceninja", "--no-maintenance")
        new = {k: v for k, v in remote.s3.objects("rem/data/").items() if k not in before}
        assert new, "the backup wrote no new pack"
        for key, blob in new.items():
            saved[key] = blob
            remote.s3.put(key, blob[:200] + b"\0" * (len(blob) - 400) + blob[-200:])
        res = z.run("backup", "verify", "rem", "--service", "invoiceninja", "--no-apps", "--read-data-subset", "1/1",
                    check=14)
        assert "invoiceninja" in res.stderr and "FAILED" in res.stderr, res.stderr[-2000:]
    finally:
        for key, blob in saved.items():
            remote.s3.put(key, blob)
        data.maria(db.container, db.database, "DROP TABLE IF EXISTS zixly_noise;")
        z.run("backup", "rem", "--service", "invoiceninja", "--no-maintenance")  # latest = the real state again


def test_the_memory_guard_refuses_before_anything_starts(remote: Remote) -> None:
    """h1 declared with 2 GiB: the drill's data servers and the largest app cannot fit; refused, nothing made."""
    remote.place("rem", remote.h1, memory="2g")
    try:
        res = remote.zixly.run("backup", "verify", "rem", "--service", "invoiceninja", check=10)
        assert "restore drill refused" in res.stderr and "Nothing was started" in res.stderr, res.stderr
        assert "invoiceninja" in res.stderr
        assert not _drill_projects(remote.h1.docker)
        vols = remote.h1.docker("volume", "ls", "--filter", "label=org.zixly.drill=rem", "-q").stdout.split()
        assert not vols, vols
    finally:
        remote.place("rem", remote.h1)


def test_staging_on_h2_restored_from_productions_repository_ends_healthy(remote: Remote) -> None:
    z, h2 = remote.zixly, remote.h2
    report = remote.start_staging().result()  # images, deploy and first backup of remstg (_staging_up)
    assert report["ok"], json.dumps(report, indent=2)[-3000:]
    remote.deployed["remstg"] = h2
    stg = remote.data("remstg")
    db = next(i for i in remote.items("remstg") if i.engine == "mariadb")
    stg.mark(db, "-staging")
    staging_before = stg.fingerprint(db)

    saved = (remote.inv("remstg") / "secrets.age").read_bytes()
    identity = load_identity({"ZIXLY_AGE_KEY_FILE": z.env["ZIXLY_AGE_KEY_FILE"]})
    store = SecretStore.open(remote.inv("remstg"), identity)
    key = "invoiceninja.app_key"  # never-rotate: Laravel's APP_KEY
    store.set(key, Secret("base64:" + os.urandom(32).hex()), force=True)
    store.save()
    try:
        res = z.run("restore", "remstg", "--from", "rem", "--yes", check=10)
        assert key in res.stderr and "Nothing was changed" in res.stderr, res.stderr
        assert stg.fingerprint(db) == staging_before, "something was restored"
    finally:
        (remote.inv("remstg") / "secrets.age").write_bytes(saved)

    res = z.run("restore", "remstg", "--from", "rem", "--yes", timeout=2400)
    assert _healthy(res.stdout) >= APPS, res.stdout + res.stderr[-3000:]
    assert "health of remstg: ok" in res.stderr, res.stderr[-3000:]
    restored = remote.fingerprints("remstg")
    assert restored == remote.backed_up, {n: (remote.backed_up[n], restored[n]) for n in restored
                                          if remote.backed_up.get(n) != restored[n]}


def test_disaster_recovery_onto_a_host_that_holds_nothing_of_the_environment(remote: Remote,
                                                                            request: pytest.FixtureRequest) -> None:
    """h1 is lost: rem moves to h2 (its address in hosts.yaml), where nothing of rem exists. ``restore
    --release`` puts back the release tree (and finds the encrypted store in place), ``deploy``
    brings the stack up from it, ``restore --snapshot latest`` brings the data back; the recovery
    time (RTO) and the age of the restored snapshots (RPO) are measured and printed."""
    z = remote.zixly
    z.run("backup", "rem", "--no-maintenance", timeout=1800)
    backed_up_at = time.time()
    expected = remote.fingerprints()
    HostData(remote.h1).remove_env("rem")  # the old VPS is gone
    remote.place("rem", remote.h2)
    assert remote.h2.ssh(["test", "-e", "/opt/zixly/rem"]).returncode != 0
    _credentials(remote.h2, "rem", remote.s3)

    started = time.monotonic()
    res = z.run("restore", "rem", "--release", "--yes")
    assert re.search(r"rem1 +release \S+ restored .*current set", res.stdout), res.stdout
    assert "is in place (identical to snapshot" in res.stdout, res.stdout
    release = remote.h2.ssh(["readlink", "/opt/zixly/rem/current"], check=True).stdout.strip()
    assert release.startswith("releases/"), release
    deploy_started = time.monotonic()
    z.run("images", "load", "rem", timeout=1800)
    report = z.json("deploy", "rem", "--yes")
    assert report["ok"], json.dumps(report, indent=2)[-3000:]
    restore_started = time.monotonic()
    res = z.run("restore", "rem", "--snapshot", "latest", "--yes", timeout=2400)
    done = time.monotonic()
    assert _healthy(res.stdout) == {i.service for i in remote.items()}, res.stdout + res.stderr[-3000:]
    got = remote.fingerprints()
    assert got == expected, {n: (expected[n], got[n]) for n in expected if expected[n] != got[n]}
    rpo = re.search(r"RPO (\S+)", res.stdout)
    assert rpo, res.stdout
    figure(request, "rto_s", round(done - started))
    figure(request, "rto_release_s", round(deploy_started - started))
    figure(request, "rto_images_deploy_s", round(restore_started - deploy_started))
    figure(request, "rto_data_s", round(done - restore_started))
    figure(request, "rpo", rpo.group(1))
    print(f"\ndisaster recovery of rem onto a host with nothing of it: RTO {done - started:.0f}s "
          f"(release {deploy_started - started:.0f}s, images + deploy {restore_started - deploy_started:.0f}s, "
          f"data {done - restore_started:.0f}s); RPO reported by the restore {rpo.group(1)} (the backup ended "
          f"{time.time() - (done - restore_started) - backed_up_at:.0f}s before the data restore began)")
