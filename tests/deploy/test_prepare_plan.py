"""Host preparation planning (pure): what a fresh host needs, nothing on a prepared one.

The facts are what the read-only facts script prints (``key value`` lines); the end-to-end
side -- the steps applied to real test hosts over SSH, and a second deploy planning nothing --
is in ``test_prepare_e2e.py``. The nftables ruleset is checked by the real ``nft -c``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers import REPO
from tests.harness.local_engine import unavailable
from zixly_stack.plan.prepare import (
    SSHD_TEXT,
    UU_TEXT,
    PrepareSpec,
    daemon_json,
    firewall_text,
    managed_paths,
    parse_prepare,
    plan_prepare,
    sha256,
)
from zixly_stack.project import load
from zixly_stack.render.demo_reap import TOOL_SOURCE, demo_hosts, install

ALL = frozenset({"docker", "daemon_json", "deploy_user", "firewall", "ssh_hardening", "unattended_upgrades"})


def spec(steps: frozenset[str] = ALL, **kw: object) -> PrepareSpec:
    return PrepareSpec("vps1", "staging", steps, **kw)  # type: ignore[arg-type]


def facts(**values: str) -> list[str]:
    base = {"uid": "0", "home": "/root", "docker_cli": "yes", "compose": "2.40.0", "dpkg": "yes", "nft": "yes",
            "docker_group": "yes", "dockerd_pid": "812", "sshd_pid": "77", "sshd_include": "yes",
            "sshd_passwordauthentication": "no", "sshd_kbdinteractiveauthentication": "no",
            "sshd_permitrootlogin": "without-password", "uu_pkg": "yes", "uu_conf_sha": sha256(UU_TEXT),
            "user_home": "/home/deploy", "user_groups": "deploy docker", "user_keys": "yes",
            "daemon_json": base64.b64encode(json.dumps(daemon_json({}, False)).encode()).decode(),
            "nft_table": "yes", "firewall_sha": sha256(firewall_text(spec()))}
    base.update(values)
    return [f"{k} {v}" for k, v in base.items() if v != "-"]


def plan(steps: frozenset[str] = ALL, **values: str) -> tuple[list[str], list[str]]:
    changes, warnings = plan_prepare(spec(steps), parse_prepare(facts(**values)))
    return [f"{c.step}: {c.summary}" for c in changes], list(warnings)


def test_a_prepared_host_needs_nothing() -> None:
    assert plan() == ([], [])


def test_no_spec_or_no_facts_plans_nothing() -> None:
    assert plan_prepare(None, parse_prepare(facts())) == ((), ())
    assert plan_prepare(spec(), parse_prepare([])) == ((), ())


def test_a_fresh_debian_host_gets_every_step_in_order() -> None:
    changes, warnings = plan_prepare(
        spec(compose_plugin="/usr/local/bin/docker-compose"),
        parse_prepare(facts(docker_cli="-", compose="-", docker_group="-", daemon_json="-", dockerd_pid="-",
                            user_home="-", user_groups="-", user_keys="-", nft="-", nft_table="-", firewall_sha="-",
                            sshd_passwordauthentication="yes", uu_pkg="-", uu_conf_sha="-")),
    )
    assert warnings == ()
    assert [c.step for c in changes] == ["docker", "docker", "daemon_json", "deploy_user", "firewall", "firewall",
                                         "ssh_hardening", "unattended_upgrades", "unattended_upgrades"]
    docker, plugin, dj, user, nft_pkg, fw, ssh, uu_pkg, uu_conf = changes
    assert docker.argvs[-1][-1] == "docker.io" and "DEBIAN_FRONTEND=noninteractive" in docker.argvs[-1]
    assert plugin.upload == ("/usr/local/bin/docker-compose", "/usr/local/lib/docker/cli-plugins/docker-compose",
                             "0755")
    assert json.loads(dj.files[0][1]) == {"live-restore": True, "log-opts": {"max-file": "5", "max-size": "10m"}}
    assert dj.argvs == ()  # no engine pid yet: applies when the freshly installed engine starts
    assert user.argvs[0][:1] == ("useradd",) and ("install", "-m", "0600", "-o", "deploy", "-g", "deploy",
                                                  "/root/.ssh/authorized_keys",
                                                  "/home/deploy/.ssh/authorized_keys") in user.argvs
    assert nft_pkg.argvs[-1][-1] == "nftables"
    assert fw.argvs == (("nft", "-c", "-f", "/etc/zixly/firewall.nft"), ("nft", "-f", "/etc/zixly/firewall.nft"))
    assert ssh.files == (("/etc/ssh/sshd_config.d/00-zixly.conf", SSHD_TEXT, "0644"),)
    assert ssh.argvs == (("sshd", "-t"), ("kill", "-HUP", "77")) and "password login" in ssh.summary
    assert uu_pkg.argvs[-1][-1] == "unattended-upgrades" and uu_conf.files[0][1] == UU_TEXT


def test_each_step_can_be_switched_off() -> None:
    bare = dict(docker_cli="-", compose="-", daemon_json="-", user_home="-", nft_table="-",
                sshd_passwordauthentication="yes", uu_pkg="-", uu_conf_sha="-")
    for step in sorted(ALL):
        changes, _ = plan(ALL - {step}, **bare)
        assert changes and not any(c.startswith(step + ":") for c in changes), step
    assert plan(frozenset(), **bare) == ([], [])


def test_daemon_json_keeps_the_hosts_own_keys_and_only_adds_ours() -> None:
    mine = {"storage-driver": "overlay2", "log-opts": {"max-size": "50m"}, "data-root": "/srv/docker"}
    raw = base64.b64encode(json.dumps(mine).encode()).decode()
    changes, _ = plan_prepare(spec(frozenset({"daemon_json"})), parse_prepare(facts(daemon_json=raw)))
    (change,) = changes
    written = json.loads(change.files[0][1])
    assert written == {**mine, "live-restore": True, "log-opts": {"max-size": "50m", "max-file": "5"}}
    assert change.argvs == (("kill", "-HUP", "812"),) and "live-restore" in change.summary
    # Another log driver is the host's choice: no json-file options forced on it.
    assert daemon_json({"log-driver": "journald"}, False) == {"log-driver": "journald", "live-restore": True}
    # The engine refuses live-restore in swarm mode.
    assert "live-restore" not in daemon_json({}, True)
    with_systemd = plan_prepare(spec(frozenset({"daemon_json"})), parse_prepare(facts(daemon_json="-", systemd="yes")))
    assert with_systemd[0][0].argvs == (("systemctl", "reload", "docker"),)


def test_a_daemon_json_that_is_not_json_is_left_alone_with_a_warning() -> None:
    raw = base64.b64encode(b'{"live-restore": true,,}').decode()
    changes, warnings = plan(frozenset({"daemon_json"}), daemon_json=raw)
    assert changes == [] and warnings == [
        "prepare daemon_json: /etc/docker/daemon.json is not a JSON object; fix it by hand (left as it is)"]


def test_what_cannot_be_done_is_a_warning_not_a_guess() -> None:
    changes, warnings = plan(uid="1000")
    assert changes == [] and len(warnings) == 6
    assert warnings[0] == ("prepare docker: needs root (connected as uid 1000); connect as root or set "
                           "prepare.docker: false")
    changes, warnings = plan(frozenset({"unattended_upgrades"}), dpkg="-", uu_pkg="-", uu_conf_sha="-")
    assert changes == [] and "no dpkg" in warnings[0]
    changes, warnings = plan(frozenset({"ssh_hardening"}), sshd_include="-", sshd_kbdinteractiveauthentication="yes")
    assert changes == [] and "keyboard-interactive login" in warnings[0] and "Include" in warnings[0]
    changes, warnings = plan(frozenset({"docker"}), compose="-")
    assert changes == [] and "docker-compose-plugin" in warnings[0]


def test_root_password_login_is_hardened_but_key_only_root_is_fine() -> None:
    assert plan(frozenset({"ssh_hardening"}), sshd_permitrootlogin="prohibit-password") == ([], [])
    assert plan(frozenset({"ssh_hardening"}), sshd_permitrootlogin="no") == ([], [])
    changes, _ = plan(frozenset({"ssh_hardening"}), sshd_permitrootlogin="yes", systemd="yes")
    assert changes == ["ssh_hardening: key-only login: turn off root login with a password"]


def test_a_changed_ssh_port_changes_the_firewall() -> None:
    changes, _ = plan_prepare(spec(frozenset({"firewall"}), ssh_port=2222), parse_prepare(facts()))
    assert [c.summary for c in changes] == ["nftables table inet zixly: inbound tcp 80, 443, 2222 only"]
    assert "tcp dport { 80, 443, 2222 } accept" in changes[0].files[0][1]


def test_with_systemd_the_firewall_is_loaded_at_boot() -> None:
    changes, _ = plan(frozenset({"firewall"}), systemd="yes")
    assert changes == ["firewall: load it at boot (zixly-firewall.service)"]


@pytest.mark.parametrize("swarm", [False, True])
def test_the_ruleset_is_valid_nftables_and_reloads_in_place(tmp_path: Path, swarm: bool) -> None:
    if shutil.which("nft") is None or shutil.which("unshare") is None:
        unavailable("nft (Debian nftables) and unshare are needed")
    text = firewall_text(spec(ssh_port=22, swarm=swarm, swarm_peers=("10.0.0.2", "10.0.0.3")))
    path = tmp_path / "fw.nft"
    path.write_text(text)
    # A private network namespace: the machine's own firewall is never touched.
    script = f"nft -f {path} && nft -f {path} && nft list table inet zixly"
    res = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert "policy drop" in res.stdout and "tcp dport { 22, 80, 443 } accept" in res.stdout
    assert ("ip saddr { 10.0.0.2, 10.0.0.3 } tcp dport { 2377, 7946 } accept" in res.stdout) is swarm


UNITS = {"service": "[Service]\nExecStart=/bin/bash backup.sh\n", "timer": "[Timer]\nOnCalendar=*-*-* 03:15\n",
         "cron": "15 3 * * * root /bin/bash backup.sh\n"}
CRON = "/etc/cron.d/zixly-backup-staging"
SVC, TIMER = "/etc/systemd/system/zixly-backup-staging.service", "/etc/systemd/system/zixly-backup-staging.timer"


Planned = list[tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]]


def schedule_plan(units: dict[str, str], **values: str) -> Planned:
    facts_ = parse_prepare(facts(**values, restic="yes"))
    changes, warnings = plan_prepare(spec(frozenset({"backup_schedule"})), facts_, units)
    assert warnings == ()
    return [(c.summary, tuple(f[0] for f in c.files), c.argvs) for c in changes]


def test_the_nightly_backup_is_installed_once_as_cron_without_systemd() -> None:
    assert schedule_plan(UNITS) == [("install the nightly backup: cron line /etc/cron.d/zixly-backup-staging "
                                     "(no systemd)", (CRON,), ())]
    assert schedule_plan(UNITS, **{f"sha:{CRON}": sha256(UNITS["cron"])}) == []
    # A new schedule (another time of day) rewrites the line.
    assert schedule_plan(UNITS, **{f"sha:{CRON}": sha256("0 1 * * * root x\n")})[0][1] == (CRON,)


def test_with_systemd_the_timer_is_installed_and_enabled_and_an_old_cron_line_removed() -> None:
    (change,) = schedule_plan(UNITS, systemd="yes", **{f"sha:{CRON}": "ab"})
    assert change == ("install the nightly backup: zixly-backup-staging.timer (systemd)", (SVC, TIMER),
                      (("rm", "-f", "--", CRON), ("systemctl", "daemon-reload"),
                       ("systemctl", "enable", "--now", "zixly-backup-staging.timer")))
    done = {f"sha:{SVC}": sha256(UNITS["service"]), f"sha:{TIMER}": sha256(UNITS["timer"])}
    assert schedule_plan(UNITS, systemd="yes", **done) == []


def test_disabled_backups_remove_an_installed_schedule_and_nothing_else() -> None:
    assert schedule_plan({}) == []
    (change,) = schedule_plan({}, systemd="yes", **{f"sha:{TIMER}": "ab", f"sha:{SVC}": "cd"})
    assert change == ("remove the nightly backup (switched off)", (),
                      (("systemctl", "disable", "--now", "zixly-backup-staging.timer"), ("rm", "-f", "--", SVC, TIMER),
                       ("systemctl", "daemon-reload")))


def test_restic_is_installed_where_the_nightly_backup_needs_it() -> None:
    changes, _ = plan_prepare(spec(frozenset({"backup_schedule"})), parse_prepare(facts()), UNITS)
    assert [c.argvs[-1][-1] for c in changes if c.argvs] == ["restic"]
    assert plan_prepare(spec(frozenset({"backup_schedule"})), parse_prepare(facts()), {}) == ((), ())


def test_a_local_cron_dir_is_honoured() -> None:
    local = PrepareSpec("local", "staging", frozenset({"backup_schedule"}), cron_dir="/tmp/cron.d")
    changes, _ = plan_prepare(local, parse_prepare(facts(restic="yes")), UNITS)
    assert [f[0] for c in changes for f in c.files] == ["/tmp/cron.d/zixly-backup-staging"]


def test_zixly_down_removes_what_was_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zixly_stack.timers import install_timer, remove_timer

    monkeypatch.setenv("ZIXLY_CRON_DIR", str(tmp_path))
    monkeypatch.setattr("zixly_stack.timers.has_systemd", lambda: False)  # never a real timer here
    installed = install_timer("zixly-backup-t", {"service": "s", "timer": "t", "cron": "c\n"})
    assert installed == [f"installed {tmp_path}/zixly-backup-t (no systemd here)"]
    assert install_timer("zixly-backup-t", {"service": "s", "timer": "t", "cron": "c\n"}) == [], "idempotent"
    assert remove_timer("zixly-backup-t") == [f"removed {tmp_path}/zixly-backup-t"]
    assert remove_timer("zixly-backup-t") == [] and not any(tmp_path.iterdir())


HEALTH_FILES = (("/opt/zixly/staging/health/checks.json", '{"host_name": "vps1"}\n', "0644"),
                ("/opt/zixly/staging/health/zixly-health-agent.py", "print('agent')\n", "0755"))
HEALTH_UNITS = {"service": "[Service]\nExecStart=/usr/bin/python3 agent\n", "timer": "[Timer]\nOnUnitActiveSec=5min\n",
                "cron": "*/5 * * * * root agent\n"}
HCRON = "/etc/cron.d/zixly-health-staging"


def health_plan(units: dict[str, str] = HEALTH_UNITS, **values: str) -> Planned:
    spec_ = PrepareSpec("vps1", "staging", frozenset({"health_schedule"}), health_files=HEALTH_FILES,
                        health_units=units)
    changes, warnings = plan_prepare(spec_, parse_prepare(facts(**values)), {})
    assert warnings == ()
    return [(c.summary, tuple(f[0] for f in c.files), c.argvs) for c in changes]


def test_the_health_agent_is_installed_with_its_files_and_then_left_alone() -> None:
    (change,) = health_plan()
    assert change == ("install the health agent: cron line /etc/cron.d/zixly-health-staging (no systemd)",
                      (HEALTH_FILES[0][0], HEALTH_FILES[1][0], HCRON), ())
    done = {f"sha:{p}": sha256(t) for p, t, _ in HEALTH_FILES} | {f"sha:{HCRON}": sha256(HEALTH_UNITS["cron"])}
    assert health_plan(**done) == []
    # A new agent version (or new checks) rewrites only that file.
    changed = {**done, f"sha:{HEALTH_FILES[0][0]}": "0" * 64}
    assert health_plan(**changed)[0][1] == (HEALTH_FILES[0][0],)


def test_the_health_timer_with_systemd_and_its_removal_when_switched_off() -> None:
    (change,) = health_plan(systemd="yes")
    assert change[1][-2:] == ("/etc/systemd/system/zixly-health-staging.service",
                              "/etc/systemd/system/zixly-health-staging.timer")
    assert change[2][-1] == ("systemctl", "enable", "--now", "zixly-health-staging.timer")
    (gone,) = health_plan({}, **{f"sha:{HCRON}": "ab"})
    assert gone == ("remove the health agent (switched off)", (), (("rm", "-f", "--", HCRON),))


def test_a_spec_without_the_schedules_removes_them_and_otherwise_plans_nothing() -> None:
    """The spec is built by hand here; test_spec.py reads the switches from a real hosts.yaml."""
    off = PrepareSpec("vps1", "staging", frozenset(), health_files=HEALTH_FILES, health_units=HEALTH_UNITS)
    assert plan_prepare(off, parse_prepare(facts()), UNITS) == ((), ())
    changes, _ = plan_prepare(off, parse_prepare(facts(**{f"sha:{HCRON}": "ab", f"sha:{CRON}": "cd"})), UNITS)
    assert [(c.step, c.argvs) for c in changes] == [("backup_schedule", (("rm", "-f", "--", CRON),)),
                                                    ("health_schedule", (("rm", "-f", "--", HCRON),))]


def test_the_apprise_cli_is_installed_where_channels_need_it_and_only_there() -> None:
    """Hosts send notifications through Debian's apprise CLI: installed when the environment has
    channels and the host has no apprise; never without channels, with it, or switched off."""
    on = ALL | {"notify"}
    changes, warnings = plan_prepare(spec(on, channels=True), parse_prepare(facts()))
    assert [(c.step, c.argvs[-1][-1]) for c in changes] == [("notify", "apprise")] and warnings == ()
    assert "DEBIAN_FRONTEND=noninteractive" in changes[0].argvs[-1]
    assert plan_prepare(spec(on, channels=True), parse_prepare(facts(apprise="yes"))) == ((), ())
    assert plan_prepare(spec(on, channels=False), parse_prepare(facts())) == ((), ())
    assert plan_prepare(spec(ALL, channels=True), parse_prepare(facts())) == ((), ())
    changes, warnings = plan_prepare(spec(on, channels=True), parse_prepare(facts(dpkg="-", uu_pkg="yes")))
    assert changes == () and any("install apprise yourself" in w for w in warnings), warnings


def test_the_demo_reap_job_is_installed_on_hosts_that_run_the_edge_and_then_left_alone() -> None:
    """From a real render: staging's vps1 runs Traefik, so it may carry demos; the job runs the
    shipped host tool with the host's python3, and a second plan has nothing to do."""
    stack = load(REPO, "staging").stack
    host = demo_hosts(stack)[0]
    files, units = install(stack, "/opt/zixly", host)
    assert files == (("/opt/zixly/staging/demo/zixly-demo-host.py", TOOL_SOURCE.read_text(), "0755"),)
    cron = "/etc/cron.d/zixly-demo-reap-staging"
    assert units["cron"].splitlines()[-1] == (
        "*/15 * * * * root flock -n /run/zixly-demo-reap-staging.lock /usr/bin/python3 "
        "/opt/zixly/staging/demo/zixly-demo-host.py reap /opt/zixly/demos staging >/dev/null 2>&1")
    spec_ = PrepareSpec(host, "staging", frozenset({"demo_reap_schedule"}), demo_files=files, demo_units=units)
    (change,) = plan_prepare(spec_, parse_prepare(facts()), {})[0]
    assert (change.step, [f[0] for f in change.files]) == ("demo_reap_schedule", [files[0][0], cron])
    done = {f"sha:{files[0][0]}": sha256(files[0][1]), f"sha:{cron}": sha256(units["cron"])}
    assert plan_prepare(spec_, parse_prepare(facts(**done)), {}) == ((), ())
    assert files[0][0] in managed_paths(spec_) and cron in managed_paths(spec_)
