"""Deploys over SSH to two VPS-like test hosts (own network namespace, own sshd and dockerd).

Real parts: the real Docker engines of the hosts, real Compose, real SSH (paramiko via
pyinfra), the offline image kit moved by ``zixly images load`` (``docker save`` here ->
``docker load`` there over the deploy connection; the hosts reach no registry). The
apps are the kit's labelled stand-ins (Portainer, Invoice Ninja) next to real Traefik,
the real HAProxy socket proxy and real MariaDB (10.11 from Debian).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pytest

from tests.deploy.helpers import containers
from tests.harness.duo import CANARIES, Duo
from tests.harness.nsproc import pids_in_ns
from tests.harness.vps import VpsHost, docker_client, docker_env
from zixly_stack.deploy.urls import app_urls
from zixly_stack.project import load
from zixly_stack.render.tree import RECOVERY_PATH

pytestmark = [pytest.mark.engine, pytest.mark.e2e]

H1_PROJECTS = {"zixly-duo-traefik", "zixly-duo-socket-proxy", "zixly-duo-portainer"}
H2_PROJECTS = {"zixly-duo-traefik", "zixly-duo-socket-proxy", "zixly-duo-mariadb", "zixly-duo-invoiceninja"}


def _containers(host: VpsHost) -> dict[str, tuple[str, str]]:
    return containers([docker_client()], "duo", docker_env(host.docker_host))


def _projects(host: VpsHost) -> set[str]:
    out = host.docker(
        "ps", "--filter", "label=org.zixly.env=duo", "--format", '{{.Label "com.docker.compose.project"}}', check=True
    ).stdout
    return set(out.split())


def test_images_then_parallel_deploy_over_ssh(duo: Duo) -> None:
    assert "h1: loaded" in duo.load_result and "h2: loaded" in duo.load_result, duo.load_result
    report = duo.first_deploy
    assert report is not None and report["ok"], json.dumps(report, indent=2)
    by_host = {h["host"]: h for h in report["hosts"]}
    assert by_host["h1"]["status"] == by_host["h2"]["status"] == "changed"
    (s1, e1), (s2, e2) = by_host["h1"]["window"], by_host["h2"]["window"]
    assert max(s1, s2) < min(e1, e2), "the two hosts must be deployed at the same time"
    assert not by_host["h1"]["plan"]["images"] and not by_host["h2"]["plan"]["images"], "images came by images load"
    a, b = duo.hosts
    assert _projects(a) == H1_PROJECTS
    assert _projects(b) == H2_PROJECTS
    urls = {u.service: u for u in app_urls(load(duo.zixly.root, "duo")) if u.service in ("portainer", "invoiceninja")}
    for host, app in ((a, urls["portainer"]), (b, urls["invoiceninja"])):
        argv = ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--resolve", f"{app.host}:443:127.0.0.1"]
        res = host.ssh([*argv, f"https://{app.host}{app.health_path}"], check=True)
        assert res.stdout.strip() == str(app.expect or 200), (
            f"{app.host}{app.health_path} through Traefik: {res.stdout}"
        )


def test_second_deploy_changes_nothing_and_restarts_nothing(duo: Duo) -> None:
    a, b = duo.hosts
    before = {h.name: _containers(h) for h in (a, b)}
    plan = duo.zixly.run("plan", "duo", "--detailed-exitcode", check=None)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    report = duo.zixly.json("deploy", "duo", "--yes", "--no-hooks")
    assert [h["status"] for h in report["hosts"]] == ["unchanged", "unchanged"], json.dumps(report, indent=2)
    assert all(h["plan"]["counts"] == {k: 0 for k in h["plan"]["counts"]} for h in report["hosts"])
    after = {h.name: _containers(h) for h in (a, b)}
    assert after == before, "container ids or start times changed on a no-op deploy"
    # its speed is measured by bench/bench_noop_deploy.py, not asserted on a shared machine


def test_host_checks_with_testinfra(duo: Duo) -> None:
    for host in duo.hosts:
        ti = host.testinfra_host()
        root = "/opt/zixly/duo/current"
        assert ti.file(root).is_symlink
        envs = ti.check_output(f"find {root}/ -path '*/env/*' -type f").split()
        secrets = ti.check_output(f"find {root}/ -path '*/secrets/*' -type f").split()
        assert secrets, "each host has secret files"
        for path in envs:
            assert ti.file(path).mode == 0o600, path
        for path in envs + secrets:
            assert ti.file(os.path.dirname(path)).mode == 0o700, path
        for name in _containers(host):
            c = ti.docker(name)
            assert c.is_running or "provision" in name, name
        ports = {s.split(":")[-1] for s in ti.socket.get_listening_sockets() if s.startswith("tcp")}
        assert ports == {"22", "80", "443"}, f"{host.name} listens on {sorted(ports)}"


def test_first_deploy_prepared_the_hosts(duo: Duo) -> None:
    """Host preparation on real test hosts (zixly_stack/plan/prepare.py). Not exercised here:
    installing packages (the hosts reach no apt mirror; Docker, nftables and unattended-upgrades
    are already there) and systemd units (no systemd); the planner's tests cover those paths."""
    report = duo.first_deploy
    assert report is not None
    for entry in report["hosts"]:
        steps = {c["step"] for c in entry["plan"]["prepare"]}
        # unattended_upgrades only if this machine's package left no 20auto-upgrades like ours
        wanted = {"daemon_json", "deploy_user", "firewall", "backup_schedule", "health_schedule", "demo_reap_schedule"}
        assert wanted <= steps <= wanted | {"unattended_upgrades"}, entry["plan"]["prepare"]
    for host in duo.hosts:
        # The nightly backup: no systemd on the test hosts, so the rendered cron line.
        cron = host.ssh(["cat", "/etc/cron.d/zixly-backup-duo"], check=True).stdout
        assert cron == host.ssh(["cat", "/opt/zixly/duo/current/backup/zixly-backup-duo.cron"], check=True).stdout
        assert "root /bin/bash /opt/zixly/duo/current/backup/backup.sh" in cron
        # The health agent: its cron line, and the line's command runs there with the host's python3.
        line = host.ssh(["cat", "/etc/cron.d/zixly-health-duo"], check=True).stdout.strip().splitlines()[-1]
        command = line.split(" root flock -n /run/zixly-health-duo.lock ", 1)[1].split(" >/dev/null")[0]
        assert command == ("/usr/bin/python3 /opt/zixly/duo/health/zixly-health-agent.py "
                           "--config /opt/zixly/duo/health/checks.json"), line
        ran = host.ssh(command.split())
        assert ran.returncode in (0, 1, 2), ran.stdout + ran.stderr  # ok / warning / critical: a verdict
        last = json.loads(host.ssh(["cat", "/var/lib/zixly/duo/health/last.json"], check=True).stdout)
        assert last["host"] == ("h1" if host is duo.hosts[0] else "h2"), last["host"]
        containers = [c for c in last["checks"] if c["id"].startswith("container:")]
        assert containers and all(c["status"] == "ok" for c in containers), containers
        # daemon.json: the host's own keys kept, live-restore on, reloaded without a restart.
        daemon = json.loads(host.ssh(["cat", "/etc/docker/daemon.json"], check=True).stdout)
        assert daemon["live-restore"] is True and daemon["log-opts"] == {"max-file": "5", "max-size": "10m"}
        assert host.docker("info", "--format", "{{.LiveRestoreEnabled}}", check=True).stdout.strip() == "true"
        # The deploy user: in group docker, logging in with root's keys.
        assert "docker" in host.ssh(["id", "-nG", "deploy"], check=True).stdout.split()
        keys = host.ssh(["stat", "-c", "%a %U", "/home/deploy/.ssh/authorized_keys"], check=True).stdout.split()
        assert keys == ["600", "deploy"]
        same = host.ssh(["cmp", "/root/.ssh/authorized_keys", "/home/deploy/.ssh/authorized_keys"])
        assert same.returncode == 0, same.stdout + same.stderr
        # The firewall: a listener on another port answers on the host itself, not from outside.
        listener = subprocess.Popen(host.ssh_argv(["timeout", "60", "python3", "-m", "http.server", "8089",
                                                   "--bind", "0.0.0.0"]),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            inside = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--retry", "20",
                      "--retry-connrefused", "--retry-delay", "1", "http://127.0.0.1:8089/"]
            assert host.ssh(inside, check=True).stdout == "200"
            assert not _connects(host.address, 8089), "port 8089 must be dropped from outside"
            assert _connects(host.address, 443) and _connects(host.address, 22)
        finally:
            listener.kill()
            listener.wait(timeout=30)
            host.ssh(["pkill", "-f", "http.server 8089"])


def _connects(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


def _sshd_sessions(host: VpsHost) -> list[int]:
    """sshd processes of the host serving a session (not the listener)."""
    out = []
    for pid in pids_in_ns("net", host.netns_inode):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("sshd:") and "[listener]" not in cmd and pid != host.launcher_pid:
            out.append(pid)
    return out


def test_ssh_connection_cut_mid_deploy_then_rerun_converges(duo: Duo) -> None:
    original = duo.env_file.read_text()
    duo.env_file.write_text(
        original.replace("  portainer:\n", "  portainer:\n    env: {portainer: {ZIXLY_CUT: '1'}}\n")
    )
    try:
        proc = duo.zixly.popen("deploy", "duo", "--yes", "--no-hooks", "--host", "h1")
        seen = []
        assert proc.stderr is not None
        cut = False
        for line in proc.stderr:
            seen.append(line)
            if "up zixly-duo-portainer ..." in line:
                for pid in _sshd_sessions(duo.hosts[0]):
                    os.kill(pid, signal.SIGKILL)
                cut = True
                break
        rest_out, rest_err = proc.communicate(timeout=600)
        duo.zixly.outputs += ["".join(seen), rest_out, rest_err]
        assert cut, "".join(seen)
        assert proc.returncode != 0, "a deploy whose connection was cut must fail"
        again = duo.zixly.run("deploy", "duo", "--yes", "--no-hooks", "--host", "h1", check=None, timeout=900)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "reclaimed a stale lock" in again.stderr
        assert duo.zixly.run("plan", "duo", "--detailed-exitcode", check=None).returncode == 0
        env = (
            duo.hosts[0]
            .docker("inspect", "--format", "{{json .Config.Env}}", "zixly-duo-portainer-portainer-1", check=True)
            .stdout
        )
        assert "ZIXLY_CUT=1" in env
    finally:
        duo.env_file.write_text(original)
        duo.zixly.run("deploy", "duo", "--yes", "--no-hooks", timeout=900)


def test_held_lock_refuses_a_second_deploy(duo: Duo) -> None:
    b = duo.hosts[1]
    owner = {
        "owner": "alice",
        "machine": "laptop-elsewhere",
        "pid": 1,
        "since": "2026-11-26T09:00:00+00:00",
        "command": "deploy",
    }
    b.ssh(
        ["sh", "-c", f"mkdir /opt/zixly/duo/.lock && printf '%s' '{json.dumps(owner)}' > /opt/zixly/duo/.lock/owner"],
        check=True,
    )
    try:
        res = duo.zixly.run("deploy", "duo", "--yes", "--no-hooks", check=4)
        assert "alice@laptop-elsewhere (pid 1, deploy) since 2026-11-26T09:00:00+00:00" in res.stderr
        assert "--break-lock" in res.stderr
        assert b.ssh(["test", "-d", "/opt/zixly/duo/.lock"]).returncode == 0, "a refused deploy leaves the lock alone"
        plan = duo.zixly.run("plan", "duo", check=None)
        assert "locked by alice@laptop-elsewhere" in plan.stdout
        duo.zixly.run("deploy", "duo", "--yes", "--no-hooks", "--break-lock")
        assert b.ssh(["test", "-e", "/opt/zixly/duo/.lock"]).returncode != 0, "our lock is released"
    finally:
        b.ssh(["rm", "-rf", "/opt/zixly/duo/.lock"])


def test_secret_change_is_masked_and_recreates_only_its_project(duo: Duo) -> None:
    name, new = "invoiceninja.admin_password", "CANARY-duo-in-rotated-778899"
    old = CANARIES[name]
    a, b = duo.hosts
    before = {h.name: _containers(h) for h in (a, b)}
    duo.zixly.run("secrets", "set", "duo", name, input=new + "\n")
    try:
        plan = duo.zixly.json("plan", "duo")
        h1, h2 = plan["hosts"]
        assert not h1["changed"]
        files = {f["path"]: f for f in h2["files"]}
        secret_files = {p for p, f in files.items() if f["secret"]}
        assert secret_files - {RECOVERY_PATH} and all(p.startswith("invoiceninja/env/") for p in secret_files
                                                      - {RECOVERY_PATH}), files  # and the host's recovery sheet
        assert all("diff" not in files[p] for p in secret_files)
        assert [p["project"] for p in h2["projects"]] == ["zixly-duo-invoiceninja"]
        text = duo.zixly.run("plan", "duo").stdout
        assert "(secret," in text
        report = duo.zixly.json("deploy", "duo", "--yes", "--no-hooks")
        assert [h["status"] for h in report["hosts"]] == ["unchanged", "changed"]
        after = {h.name: _containers(h) for h in (a, b)}
        assert after[a.name] == before[a.name]
        changed = {n for n in after[b.name] if after[b.name][n] != before[b.name].get(n)}
        assert changed and all(n.startswith("zixly-duo-invoiceninja-") for n in changed), changed
    finally:
        duo.zixly.run("secrets", "set", "duo", name, input=old + "\n")
        duo.zixly.run("deploy", "duo", "--yes", "--no-hooks", timeout=900)
    for out in duo.zixly.outputs:
        assert new not in out


def test_canary_secrets_never_appear_in_output_or_logs(duo: Duo) -> None:
    """Secrets set to canary strings reach the hosts' env/secret files only."""
    z = duo.zixly
    z.run("plan", "duo", "--steps")
    z.run("plan", "duo", "--json")
    z.run("status", "duo", "--json", check=None)
    z.run("images", "list", "duo", "--json")
    for out in z.outputs:
        for value in CANARIES.values():
            assert value not in out
    for host in duo.hosts:
        log = host.ssh(["cat", "/opt/zixly/duo/releases.log"], check=True).stdout
        assert log.strip()
        for value in CANARIES.values():
            assert value not in log
    # Each canary is in exactly the file(s) the catalog routes it to, on the host running its app, plus
    # that host's 0600 recovery sheet, and nowhere else in the release (every line of grep's output is
    # compared, not the last one).
    expected = {
        ("h1", "portainer.admin_password"): {"portainer/secrets/portainer_admin_password", RECOVERY_PATH},
        ("h2", "invoiceninja.admin_password"): {"invoiceninja/env/app.env", RECOVERY_PATH},
    }
    for label, host in zip(("h1", "h2"), duo.hosts, strict=True):
        for name, value in CANARIES.items():
            assert _files_with(host, value) == expected.get((label, name), set()), (label, name)


def _files_with(host: VpsHost, value: str) -> set[str]:
    """Paths (relative to the current release) of the files on *host* that contain *value*."""
    root = "/opt/zixly/duo/current/"
    res = host.ssh(["grep", "-rlF", "--", value, root])
    assert res.returncode in (0, 1), res.stderr  # 1: no file has it; 2: grep failed
    lines = res.stdout.splitlines()
    assert all(line.startswith(root) for line in lines), lines
    return {line[len(root):] for line in lines}
