"""Host preparation, planned like everything else: facts in, changes out. Pure.

What a fresh VPS needs before the stack can run on it, each step switchable per host
(``hosts.yaml`` ``prepare:``) and idempotent -- a step is planned only when the host's facts
say it is not in place, so a second deploy plans nothing:

* ``docker`` -- the engine (Debian/Ubuntu ``docker.io``) when no ``docker`` CLI is found, and
  the Compose v2 CLI plugin when ``docker compose`` does not answer (copied from this machine,
  see :attr:`PrepareSpec.compose_plugin`: Debian 12 packages only Compose v1).
* ``daemon_json`` -- ``/etc/docker/daemon.json`` gains ``live-restore`` (containers keep running
  while the engine restarts or upgrades) and json-file log rotation; every other key the host
  already has is kept. The engine is told to reload (SIGHUP / ``systemctl reload docker``):
  ``live-restore`` applies at once, engine-wide log options at its next restart (the rendered
  Compose files set rotation per container anyway). Swarm nodes get ``no-new-privileges``
  instead (Swarm service specs cannot set it; applies from the engine's next start) and no
  ``live-restore`` (the engine refuses ``swarm init``/``join`` with it; a set one is turned off).
* ``deploy_user`` -- a ``deploy`` user in the ``docker`` group, logging in with the same
  authorized keys as the user zixly connects as (for people and CI that inspect the host).
* ``firewall`` -- an nftables table ``inet zixly`` that drops inbound traffic except SSH (the
  host's ``port``), 80 and 443 (plus loopback, replies, ICMP and the Docker bridges); loaded
  now and, with systemd, at boot by ``zixly-firewall.service``. Docker-published ports pass
  through forwarding, not this input chain -- the rendered stack publishes only 80/443.
* ``ssh_hardening`` -- key-only login: when ``sshd -T`` shows password or keyboard-interactive
  login, or root login with a password, ``/etc/ssh/sshd_config.d/00-zixly.conf`` turns them
  off (first match wins in sshd, hence ``00``), ``sshd -t`` validates and sshd reloads.
  Existing sessions, ours included, stay up.
* ``unattended_upgrades`` -- the ``unattended-upgrades`` package and
  ``/etc/apt/apt.conf.d/20auto-upgrades`` (daily lists + upgrades).
* ``backup_schedule`` -- the nightly backup rendered into the release (``backup/``): its systemd
  service + timer installed and enabled, or without systemd its cron line in ``/etc/cron.d``;
  restic installed when missing. Removed again when backups are disabled. This step also runs
  on ``@local`` (``ZIXLY_CRON_DIR`` moves the cron directory, for tests).
* ``health_schedule`` -- the on-host health agent (:mod:`zixly_stack.health.schedule`): its
  files in ``<base_dir>/<env>/health`` (beside the releases: a rollback must not roll the
  monitoring back) and its timer or cron line, every 5 minutes. Also on ``@local``.
* ``demo_reap_schedule`` -- on remote hosts that run the edge (they may carry client demos):
  the demo host tool in ``<base_dir>/<env>/demo/`` and its reap job every 15 minutes
  (:mod:`zixly_stack.render.demo_reap`), so expired demos go with no operator machine on.
* ``notify`` -- the ``apprise`` CLI (Debian's ``apprise`` package, 1.2.0 on bookworm) when the
  environment has notification channels and the host has no ``apprise``: the backup script and
  the health agent send through it (the channels are the release's ``notify/apprise.txt``).
  Also on ``@local``.

What cannot be done is a warning, never a guess: no root, no ``dpkg`` for packages, an
``sshd_config`` without the ``sshd_config.d`` include, a daemon.json that is not JSON.
"""

from __future__ import annotations

import base64
import json
import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..commands import systemd as sd
from ..render.hostfiles import render_host_file
from .schedule import UNIT_DIR as UNIT_DIR  # re-exported: callers import them from here
from .schedule import schedule_steps
from .schedule import sha256 as sha256
from .schedule import timer_paths as timer_paths

DEPLOY_USER = "deploy"
FIREWALL_FILE = "/etc/zixly/firewall.nft"
FIREWALL_UNIT = "/etc/systemd/system/zixly-firewall.service"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-zixly.conf"
UU_CONF = "/etc/apt/apt.conf.d/20auto-upgrades"
DAEMON_JSON = "/etc/docker/daemon.json"
PLUGIN_DEST = "/usr/local/lib/docker/cli-plugins/docker-compose"
APT = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", "DPkg::Lock::Timeout=300"]
LOG_OPTS = {"max-size": "10m", "max-file": "5"}
SWARM_TCP = (2377, 7946)
SWARM_UDP = (7946, 4789)

UU_TEXT = render_host_file("prepare/20auto-upgrades.j2")
SSHD_TEXT = render_host_file("prepare/sshd-00-zixly.conf.j2")
FIREWALL_UNIT_TEXT = render_host_file("prepare/zixly-firewall.service.j2")

FACTS_SCRIPT = render_host_file("prepare/facts.sh.j2").removesuffix("\n")


def managed_paths(spec: PrepareSpec) -> list[str]:
    """Every file whose sha256 the facts report: the backup and health timers, the health files."""
    timers = [p for job in ("backup", "health", "demo-reap")
              for p in timer_paths(f"zixly-{job}-{spec.env}", spec.cron_dir).values()]
    return timers + [path for path, _, _ in (*spec.health_files, *spec.demo_files)]


def facts_script(spec: PrepareSpec) -> str:
    """:data:`FACTS_SCRIPT` plus the sha256 of the files *spec* manages."""
    check = [f'[ -f {shlex.quote(p)} ] && echo "sha:{p} $(sha256sum < {shlex.quote(p)} | cut -d\' \' -f1)"'
             for p in managed_paths(spec)]
    return "\n".join([FACTS_SCRIPT, *check, "true"])


@dataclass(frozen=True)
class PrepareFacts:
    """What :data:`FACTS_SCRIPT` found (``None`` fields: not reported)."""

    values: Mapping[str, str] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        return self.values.get(key) == "yes"

    def get(self, key: str) -> str:
        return self.values.get(key, "")


def parse_prepare(lines: Sequence[str]) -> PrepareFacts:
    """``key value`` lines -> :class:`PrepareFacts` (later lines win)."""
    out: dict[str, str] = {}
    for line in lines:
        key, _, value = line.strip().partition(" ")
        if key:
            out[key] = value.strip()
    return PrepareFacts(out)


@dataclass(frozen=True)
class PrepareSpec:
    """What to prepare on one host (from ``hosts.yaml``) and the context the steps need."""

    host: str
    env: str
    steps: frozenset[str]  # names of the HostPrepare switches that are on
    ssh_port: int = 22
    swarm: bool = False
    swarm_peers: tuple[str, ...] = ()
    compose_plugin: str | None = None  # a local Compose v2 plugin binary to copy when the host has none
    cron_dir: str = "/etc/cron.d"
    health_files: tuple[tuple[str, str, str], ...] = ()  # the agent's files: (path on the host, text, mode)
    health_units: Mapping[str, str] = field(default_factory=dict)  # service/timer/cron -> text
    demo_files: tuple[tuple[str, str, str], ...] = ()  # the demo host tool (path on the host, text, mode)
    demo_units: Mapping[str, str] = field(default_factory=dict)  # its reap job: service/timer/cron -> text
    channels: bool = False  # the environment has notification channels (the apprise CLI is needed)


@dataclass(frozen=True)
class PrepareChange:
    """One preparation step to run: commands, files (path, text, mode) and an optional local upload."""

    step: str
    summary: str
    files: tuple[tuple[str, str, str], ...] = ()
    argvs: tuple[tuple[str, ...], ...] = ()
    upload: tuple[str, str, str] | None = None  # (local path, remote path, mode)

    def describe(self) -> str:
        return f"prepare {self.step}: {self.summary}"


def firewall_text(spec: PrepareSpec) -> str:
    """The nftables ruleset (replaces only table ``inet zixly``; Docker's own tables are untouched)."""
    peers = [p for p in spec.swarm_peers if _is_ipv4(p)]
    return render_host_file("prepare/firewall.nft.j2", host=spec.host, env=spec.env,
                            tcp=sorted({spec.ssh_port, 80, 443}), swarm=spec.swarm,
                            peers=peers if peers and len(peers) == len(spec.swarm_peers) else [],
                            swarm_tcp=SWARM_TCP, swarm_udp=SWARM_UDP)


def _is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def daemon_json(current: Mapping[str, object], swarm: bool) -> dict[str, object]:
    """*current* plus live-restore and json-file log rotation; the host's own keys are kept.

    Swarm nodes get ``no-new-privileges`` instead (service specs cannot set it per container)
    and ``live-restore`` turned off when set: the engine refuses ``swarm init``/``join`` with it.
    """
    out = dict(current)
    if not swarm:
        out["live-restore"] = True
    else:
        out["no-new-privileges"] = True
        if out.get("live-restore"):
            out["live-restore"] = False
    if out.get("log-driver", "json-file") in ("json-file", "local"):
        opts = dict(out.get("log-opts") or {})  # type: ignore[call-overload]
        for key, value in LOG_OPTS.items():
            opts.setdefault(key, value)
        out["log-opts"] = opts
    return out


def plan_prepare(spec: PrepareSpec | None, facts: PrepareFacts, schedule: Mapping[str, str] | None = None
                 ) -> tuple[tuple[PrepareChange, ...], tuple[str, ...]]:
    """The preparation *spec* still needs on a host with *facts*: (changes, warnings).

    *schedule*: the rendered nightly backup units of the host (``service``/``timer``/``cron`` ->
    text; empty when backups are disabled).
    """
    if spec is None or not facts.values:
        return (), ()
    changes: list[PrepareChange] = []
    warnings: list[str] = []
    root = facts.get("uid") == "0"
    dpkg = facts.has("dpkg")

    def need_root(step: str) -> bool:
        if not root:
            warnings.append(f"prepare {step}: needs root (connected as uid {facts.get('uid') or '?'}); "
                            f"connect as root or set prepare.{step}: false")
        return root

    def apt_install(step: str, package: str, why: str) -> PrepareChange | None:
        if not dpkg:
            warnings.append(f"prepare {step}: {why} and this is not a Debian/Ubuntu host (no dpkg): install "
                            f"{package} yourself or set prepare.{step}: false")
            return None
        return PrepareChange(step, f"install {package} ({why})",
                             argvs=((*APT, "update", "-q"), (*APT, "install", "-y", "-q", package)))

    if "docker" in spec.steps and need_root("docker"):
        if not facts.has("docker_cli") and (c := apt_install("docker", "docker.io", "no docker engine")):
            changes.append(c)
        if not facts.get("compose") and not spec.swarm:  # swarm nodes run stacks: no Compose CLI needed
            if spec.compose_plugin:
                changes.append(PrepareChange("docker",
                                             "install the Docker Compose v2 plugin (copied from this machine)",
                                             upload=(spec.compose_plugin, PLUGIN_DEST, "0755")))
            else:
                warnings.append("prepare docker: `docker compose` does not answer on this host and this machine "
                                "has no Compose v2 plugin to copy: install docker-compose-plugin there")
    if "daemon_json" in spec.steps and need_root("daemon_json"):
        changes += _daemon_json(spec, facts, warnings)
    if "deploy_user" in spec.steps and need_root("deploy_user"):
        changes += _deploy_user(facts)
    if "firewall" in spec.steps and need_root("firewall"):
        changes += _firewall(spec, facts, apt_install)
    if "ssh_hardening" in spec.steps and need_root("ssh_hardening"):
        changes += _ssh(facts, warnings)
    if "unattended_upgrades" in spec.steps and need_root("unattended_upgrades"):
        if not facts.has("uu_pkg") and (
            c := apt_install("unattended_upgrades", "unattended-upgrades", "automatic security updates")
        ):
            changes.append(c)
        if dpkg and facts.get("uu_conf_sha") != sha256(UU_TEXT):
            changes.append(PrepareChange("unattended_upgrades", f"write {UU_CONF} (daily package lists and upgrades)",
                                         files=((UU_CONF, UU_TEXT, "0644"),)))
    if "notify" in spec.steps and spec.channels and not facts.has("apprise") and need_root("notify") and (
        c := apt_install("notify", "apprise", "notifications go out through the apprise CLI")
    ):
        changes.append(c)
    # The schedules: switched off (or nothing rendered) means not installed, so what an
    # earlier deploy installed is removed again.
    jobs = (("backup_schedule", "backup", dict(schedule or {}), (), "the nightly backup"),
            ("health_schedule", "health", dict(spec.health_units), spec.health_files, "the health agent"),
            ("demo_reap_schedule", "demo-reap", dict(spec.demo_units), spec.demo_files, "the client demos' reap job"))
    for step, job, units, extra, what in jobs:
        name = f"zixly-{job}-{spec.env}"
        if step not in spec.steps:
            units, extra = {}, ()
        if not (units or _installed(spec, facts, name)) or not need_root(step):
            continue
        if job == "backup" and units and not facts.has("restic") and (
            c := apt_install(step, "restic", "the nightly backup runs restic")
        ):
            changes.append(c)
        changes += _timer(spec, facts, step, name, units, extra, what)
    return tuple(changes), tuple(warnings)


def _installed(spec: PrepareSpec, facts: PrepareFacts, name: str) -> list[str]:
    return [p for p in timer_paths(name, spec.cron_dir).values() if facts.get(f"sha:{p}")]


def _timer(spec: PrepareSpec, facts: PrepareFacts, step: str, name: str, units: Mapping[str, str],
           extra: Sequence[tuple[str, str, str]], what: str) -> list[PrepareChange]:
    """Install (or, with no *units*, remove) timer *name*: the one installer's plan
    (:func:`~zixly_stack.plan.schedule.schedule_steps`) as a preparation step."""
    paths = [*timer_paths(name, spec.cron_dir).values(), *(f[0] for f in extra)]
    shas = {p: facts.get(f"sha:{p}") for p in paths}
    plan = schedule_steps(name, units, shas, systemd=facts.has("systemd"), cron_dir=spec.cron_dir, extra=extra)
    if plan is None:
        return []
    summary = f"remove {what} (switched off)" if plan.removing else f"install {what}: {plan.how}"
    return [PrepareChange(step, summary, files=plan.files, argvs=plan.argvs)]


def _daemon_json(spec: PrepareSpec, facts: PrepareFacts, warnings: list[str]) -> list[PrepareChange]:
    raw = facts.get("daemon_json")
    current: dict[str, object] = {}
    if raw:
        try:
            doc = json.loads(base64.b64decode(raw).decode() or "{}")
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            warnings.append(f"prepare daemon_json: {DAEMON_JSON} is not a JSON object; fix it by hand "
                            "(left as it is)")
            return []
        current = doc
    wanted = daemon_json(current, spec.swarm)
    if wanted == current and raw:
        return []
    text = json.dumps(wanted, indent=2, sort_keys=True) + "\n"
    reload: tuple[tuple[str, ...], ...] = ()
    if facts.has("systemd"):
        reload = (sd.reload("docker"),)
    elif facts.get("dockerd_pid").isdigit():
        reload = (("kill", "-HUP", facts.get("dockerd_pid")),)
    added = sorted(k for k in wanted if wanted[k] != current.get(k))
    note = ""
    if spec.swarm:
        note = ("; no-new-privileges applies from the engine's next start; live-restore stays off "
                "(swarm mode refuses it)")
    return [PrepareChange("daemon_json", f"{DAEMON_JSON}: set {', '.join(added) or 'defaults'}"
                          + (", reload the engine" if reload else " (applies when the engine next starts)") + note,
                          files=((DAEMON_JSON, text, "0644"),), argvs=reload)]


def _deploy_user(facts: PrepareFacts) -> list[PrepareChange]:
    out: list[PrepareChange] = []
    user = DEPLOY_USER
    home = facts.get("user_home") or f"/home/{user}"
    groups = facts.get("user_groups").split()
    argvs: list[tuple[str, ...]] = []
    what: list[str] = []
    if not facts.get("user_home"):
        argvs.append(("useradd", "--create-home", "--shell", "/bin/bash", "--user-group", user))
        what.append(f"create user {user}")
    if facts.has("docker_group") and "docker" not in groups:
        argvs.append(("usermod", "--append", "--groups", "docker", user))
        what.append("add it to group docker")
    if not facts.has("user_keys"):
        keys = posixpath.join(facts.get("home") or "/root", ".ssh", "authorized_keys")
        ssh = posixpath.join(home, ".ssh")
        argvs += [("install", "-d", "-m", "0700", "-o", user, "-g", user, ssh),
                  ("install", "-m", "0600", "-o", user, "-g", user, keys, posixpath.join(ssh, "authorized_keys"))]
        what.append(f"give it the authorized keys of {keys}")
    if argvs:
        out.append(PrepareChange("deploy_user", ", ".join(what), argvs=tuple(argvs)))
    return out


def _firewall(spec: PrepareSpec, facts: PrepareFacts,
              apt_install: Callable[[str, str, str], PrepareChange | None]) -> list[PrepareChange]:
    out: list[PrepareChange] = []
    if not facts.has("nft"):
        change = apt_install("firewall", "nftables", "the firewall needs nft")
        if change is None:
            return out
        out.append(change)
    text = firewall_text(spec)
    if facts.get("firewall_sha") != sha256(text) or not facts.has("nft_table"):
        tcp = sorted({spec.ssh_port, 80, 443})
        out.append(PrepareChange("firewall", f"nftables table inet zixly: inbound tcp {', '.join(map(str, tcp))} only"
                                 + (" + swarm ports from the other nodes" if spec.swarm else ""),
                                 files=((FIREWALL_FILE, text, "0644"),),
                                 argvs=(sd.nft_check(FIREWALL_FILE), sd.nft_load(FIREWALL_FILE))))
    if facts.has("systemd") and facts.get("firewall_unit_sha") != sha256(FIREWALL_UNIT_TEXT):
        out.append(PrepareChange("firewall", "load it at boot (zixly-firewall.service)",
                                 files=((FIREWALL_UNIT, FIREWALL_UNIT_TEXT, "0644"),),
                                 argvs=(sd.daemon_reload(), sd.enable("zixly-firewall.service"))))
    return out


def sshd_problems(facts: PrepareFacts) -> list[str]:
    """What ``sshd -T`` shows that key-only login forbids (empty: hardened, or sshd unknown)."""
    bad = []
    if facts.get("sshd_passwordauthentication") == "yes":
        bad.append("password login")
    if facts.get("sshd_kbdinteractiveauthentication") == "yes":
        bad.append("keyboard-interactive login")
    if facts.get("sshd_permitrootlogin") == "yes":
        bad.append("root login with a password")
    return bad


def _ssh(facts: PrepareFacts, warnings: list[str]) -> list[PrepareChange]:
    bad = sshd_problems(facts)
    if not bad:
        return []
    if not facts.has("sshd_include"):
        warnings.append("prepare ssh_hardening: sshd allows " + ", ".join(bad) + " and /etc/ssh/sshd_config does "
                        "not include /etc/ssh/sshd_config.d/*.conf: add that Include at its top (Debian's "
                        "default) or turn them off there yourself")
        return []
    reload: tuple[tuple[str, ...], ...] = ()
    if facts.has("systemd"):
        reload = (sd.reload("ssh"),)
    elif facts.get("sshd_pid").isdigit():
        reload = (("kill", "-HUP", facts.get("sshd_pid")),)
    return [PrepareChange("ssh_hardening", "key-only login: turn off " + ", ".join(bad),
                          files=((SSHD_DROPIN, SSHD_TEXT, "0644"),), argvs=(("sshd", "-t"), *reload))]


def change_lines(changes: Sequence[PrepareChange]) -> list[str]:
    """Human lines for plan output (file contents are not secrets, but only paths are shown)."""
    out = []
    for c in changes:
        out.append(c.describe())
        for path, _, mode in c.files:
            out.append(f"    write {path} ({mode})")
        if c.upload:
            out.append(f"    copy {c.upload[0]} -> {c.upload[1]} ({c.upload[2]})")
        out += [f"    $ {shlex.join(a)}" for a in c.argvs]
    return out
