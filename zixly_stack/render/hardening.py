"""Hardening rules, judged on the rendered Compose documents (not on the catalog fields).

:mod:`compose` builds hardened output by construction; these rules read what it wrote --
the parsed ``compose.yaml`` -- so a catalog spelling, an environment override or a future
renderer change that weakens the output is refused, whatever produced it. A rule reports a
:class:`~.findings.Finding` unless the container's catalog definition carries a reasoned
exception for it; some rules admit none (privileged, host namespaces, ``cap_add: ALL``,
limits, Traefik labels, unconfined security options, devices, unknown keys).
"""

from __future__ import annotations

import re
from typing import Any

from .budget import size_bytes
from .findings import Origin, PathT, Report
from .mounts import classify, escapes

# Keys the renderer writes for a service. Anything else (privileged, pid, network_mode,
# devices, extra_hosts, dns, sysctls, volumes_from, cgroup_parent ...) is refused.
SERVICE_KEYS = frozenset({
    "image", "entrypoint", "command", "user", "working_dir", "environment", "env_file", "secrets", "volumes",
    "tmpfs", "read_only", "networks", "healthcheck", "depends_on", "restart", "security_opt", "cap_drop",
    "cap_add", "mem_limit", "cpus", "pids_limit", "stop_grace_period", "logging", "labels", "ports",
})
HOST_NAMESPACES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")
# Capabilities images that drop privileges need (docker's default set minus the risky ones:
# NET_RAW, MKNOD, SETPCAP, SETFCAP, SYS_CHROOT, AUDIT_WRITE). Others need an exception.
ALLOWED_CAPS = frozenset({"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETGID",
                          "SETUID"})
NNP = "no-new-privileges:true"
RESTARTS = ("unless-stopped", "always", "on-failure:5")
LABEL_KEYS = frozenset({"org.zixly.env", "org.zixly.service", "org.zixly.container", "org.zixly.files-hash",
                        "org.zixly.standin"})
MIN_MEMORY = 6 * 1024 * 1024  # Docker refuses less; 0 means unlimited
MOUNT_KEYS = frozenset({"type", "source", "target", "read_only"})


def _is_root(user: str) -> bool:
    """``root``, ``0``, ``00``, ``+0``, ``root:x``, ``0:0`` -- the uid part names root."""
    uid = user.split(":", 1)[0].strip()
    return uid == "root" or (re.fullmatch(r"[+-]?[0-9]+", uid) is not None and int(uid) == 0)


def _cap(name: str) -> str:
    """Docker's normalisation: case-insensitive, optional ``CAP_`` prefix."""
    return str(name).strip().upper().removeprefix("CAP_")


class _Service:
    """Rules over one rendered service (``services.<key>`` of a compose document)."""

    def __init__(self, report: Report, key: str, doc: dict[str, Any], origin: Origin, kind: str,
                 top: dict[str, Any], env_name: str, *, swarm: bool = False) -> None:
        self.r, self.key, self.doc, self.o, self.kind, self.top, self.env = (
            report, key, doc, origin, kind, top, env_name)
        self.base = f"services.{key}"
        self.swarm = swarm

    def add(self, rule: str, key: PathT, sub: str, message: str, why: str, *, exemptable: bool = True) -> None:
        self.r.add(rule, self.o, key, f"{self.base}.{sub}" if sub else self.base, message, why,
                   exemptable=exemptable)

    def run(self) -> None:
        for check in (self.keys, self.ports, self.privileges, self.capabilities, self.user, self.limits,
                      self.lifecycle, self.image, self.mounts, self.labels, self.networks):
            check()

    def keys(self) -> None:
        d = self.doc
        for field in HOST_NAMESPACES:
            if field in d:
                self.add("host_namespaces", (), field, f"{field}: {d[field]} shares a host namespace",
                         "containers keep their own namespaces", exemptable=False)
        if "privileged" in d:
            self.add("privileged", (), "privileged", f"privileged: {d['privileged']}",
                     "a privileged container is root on the host", exemptable=False)
        if "devices" in d:
            self.add("devices", (), "devices", "maps host devices into the container",
                     "containers get no host devices", exemptable=False)
        for field in sorted(set(d) - SERVICE_KEYS - set(HOST_NAMESPACES) - {"privileged", "devices"}):
            self.add("compose_keys", (), field, f"{field!r} is not a key the renderer writes",
                     "the rules cannot vouch for it", exemptable=False)

    def ports(self) -> None:
        if self.doc.get("ports") and self.kind != "edge":
            self.add("no_ports", (), "ports", "publishes ports; only Traefik may publish",
                     "route it through Traefik instead")

    def privileges(self) -> None:
        opts = [str(o) for o in self.doc.get("security_opt") or []]
        if NNP not in opts:
            self.add("no_new_privileges", (), "security_opt", "no-new-privileges is not set",
                     "setuid binaries could regain the dropped capabilities")
        for i, opt in enumerate(opts):
            if opt != NNP:
                self.add("security_opt", (), f"security_opt[{i}]", f"security option {opt!r}",
                         "seccomp, AppArmor and SELinux confinement stay on", exemptable=False)

    def capabilities(self) -> None:
        if self.doc.get("cap_drop") != ["ALL"]:
            self.add("cap_drop", (), "cap_drop", "capabilities are not dropped",
                     "cap_drop: [ALL] plus the cap_add the image needs")
        for i, cap in enumerate(self.doc.get("cap_add") or []):
            name = _cap(cap)
            if name == "ALL":
                self.add("cap_add", ("cap_add", i), f"cap_add[{i}]", "cap_add: ALL gives every capability",
                         "add the capabilities the image needs by name", exemptable=False)
            elif name not in ALLOWED_CAPS:
                self.add("cap_add", ("cap_add", i), f"cap_add[{i}]", f"adds capability {name}",
                         f"allowed without an exception: {', '.join(sorted(ALLOWED_CAPS))}")

    def user(self) -> None:
        user = self.doc.get("user")
        if user is not None and _is_root(str(user)):
            self.add("non_root", ("user",), "user", f"runs as root (user: {user})",
                     "use the image's unprivileged user")

    def limits(self) -> None:
        d = self.doc
        mem = size_bytes(d.get("mem_limit"))
        if mem is None or mem < MIN_MEMORY:
            self.add("limits", ("resources", "memory"), "mem_limit",
                     f"memory limit {d.get('mem_limit')!r} (0 or none is unlimited)",
                     "set resources: memory to at least 6m", exemptable=False)
        cpus = d.get("cpus")
        if not isinstance(cpus, (int, float)) or isinstance(cpus, bool) or cpus <= 0:
            self.add("limits", ("resources", "cpus"), "cpus", f"cpu limit {cpus!r}", "set resources: cpus",
                     exemptable=False)
        pids = d.get("pids_limit")
        if not isinstance(pids, int) or isinstance(pids, bool) or pids <= 0:
            self.add("limits", ("resources", "pids"), "pids_limit", f"pids limit {pids!r} (0 or -1 is unlimited)",
                     "set resources: pids", exemptable=False)
        logging = d.get("logging") or {}
        opts = logging.get("options") or {}
        if logging.get("driver") not in ("json-file", "local") or not opts.get("max-size") or not opts.get("max-file"):
            self.add("limits", (), "logging", "logs are not rotated", "json-file with max-size and max-file",
                     exemptable=False)

    def lifecycle(self) -> None:
        d = self.doc
        restart = d.get("restart")
        job = self.o.is_job if self.o.spec is not None else restart == "no"
        if (job and restart != "no") or (not job and restart not in RESTARTS):
            self.add("restart", ("role",), "restart", f"restart policy {restart!r} not allowed",
                     "long-running: unless-stopped; jobs: no")
        if job:
            return
        hc = d.get("healthcheck")
        test = hc.get("test") if isinstance(hc, dict) else None
        if hc is None:
            self.add("healthcheck", ("healthcheck",), "", "long-running container without healthcheck",
                     "add a healthcheck that works in the image")
        elif (not isinstance(test, list) or len(test) < 2 or test[0] not in ("CMD", "CMD-SHELL")
              or not all(isinstance(t, str) and t.strip() for t in test) or hc.get("disable")
              or (test[0] == "CMD-SHELL" and " ".join(test[1:]).strip().upper() == "NONE")):
            # `test: NONE` written as a string is Compose's shell form: `sh -c NONE`, never passes
            self.add("healthcheck", ("healthcheck", "test"), "healthcheck",
                     f"healthcheck {test!r} checks nothing (NONE, disabled or empty)",
                     "a test that exercises the service")

    def image(self) -> None:
        image = str(self.doc.get("image", ""))
        name = image.split("@", 1)[0]
        tag = name.rsplit(":", 1)[-1] if ":" in name.rsplit("/", 1)[-1] else ""
        if not tag or tag == "latest":
            self.add("pinned_image", ("image", "tag"), "image", f"image {image!r} is not pinned",
                     "pin an exact version")

    def mounts(self) -> None:
        spec = self.o.spec
        declared = self.top.get("volumes") or {}
        for i, v in enumerate(self.doc.get("volumes") or []):
            where = f"volumes[{i}]"
            if not isinstance(v, dict):
                self.add("mounts", (), where, f"short-syntax mount {v!r}", "the renderer writes long syntax",
                         exemptable=False)
                continue
            src, kind = str(v.get("source", "")), v.get("type")
            extra = sorted(set(v) - MOUNT_KEYS)
            if extra:
                self.add("mounts", (), where, f"mount options {', '.join(extra)}",
                         "no propagation, no host path creation", exemptable=False)
            if kind == "volume":
                if src not in declared:
                    self.add("mounts", (), where, f"volume {src!r} is not declared by the project",
                             "named volumes belong to the project", exemptable=False)
                continue
            if kind == "tmpfs" and self.swarm:  # swarm writes compose's tmpfs: as tmpfs mounts
                continue
            if kind != "bind":
                self.add("mounts", (), where, f"mount type {kind!r}", "volumes, binds and tmpfs only",
                         exemptable=False)
                continue
            if not src.startswith("/"):
                if escapes(src):
                    self.add("mounts", (), where, f"bind source {src!r} leaves the project directory",
                             "rendered files stay under the project", exemptable=False)
                continue
            target = v.get("target")
            j = next((n for n, h in enumerate(spec.host_mounts if spec else [])
                      if h.source == src and h.target == target), None)
            self._host_mount(("host_mounts", j, "source") if j is not None else (), where, src, v)

    def _host_mount(self, key: PathT, where: str, src: str, v: dict[str, Any]) -> None:
        found = classify(src)
        if found is None:
            return
        kind, text = found
        if kind == "socket":
            self.add("docker_socket", key, where, text, "only the socket proxy (and Portainer) may have it")
            if not v.get("read_only"):
                self.add("docker_socket", key, where, "mounts the Docker socket read-write", "mount it read_only")
        elif kind == "socket_dir":
            self.add("docker_socket", key, where, text,
                     "the docker_socket exception covers the socket file itself, never its directory",
                     exemptable=False)
        else:
            self.add("sensitive_mount", key, where, text, "use a named volume")

    def labels(self) -> None:
        labels = self.doc.get("labels") or {}
        expected = {"org.zixly.env": self.env, "org.zixly.container": self.key}
        for name, value in labels.items():
            low = str(name).lower()
            if low.startswith("traefik"):
                self.add("traefik_labels", ("labels", name), f"labels.{name}",
                         "Traefik label in a container definition",
                         "routes come only from 'routes:', which the renderer turns into Traefik config",
                         exemptable=False)
            elif low.startswith(("com.docker.", "org.zixly.")) and (
                    name not in LABEL_KEYS or expected.get(name, value) != value):
                self.add("labels", ("labels", name), f"labels.{name}", f"label {name} is reserved",
                         "org.zixly.* and com.docker.* labels are written by the renderer and Compose",
                         exemptable=False)

    def networks(self) -> None:
        nets = set(self.doc.get("networks") or {})
        if self.kind == "store" and nets - {"internal"}:
            self.add("internal_only", ("networks",), "networks",
                     f"data store joins {', '.join(sorted(nets - {'internal'}))}",
                     "data stores stay on their internal network")


def check_swarm_service(report: Report, key: str, doc: dict[str, Any], origin: Origin, top: dict[str, Any],
                        env_name: str) -> None:
    """The rules a swarm stack service can break beyond its compose document: mounts (the
    Portainer agent is added here), labels and published ports."""
    s = _Service(report, key, doc, origin, origin.kind, top, env_name, swarm=True)
    for check in (s.ports, s.mounts, s.labels):
        check()


def check_compose(report: Report, doc: dict[str, Any], origins: dict[str, Origin], env_name: str) -> None:
    """Every rule over one parsed compose document; ``origins`` maps its service keys to the
    catalog containers they come from."""
    nets = doc.get("networks") or {}
    internal = nets.get("internal") or {}
    if internal.get("internal") is not True and not internal.get("external"):
        report.add("internal_network", None, (), "networks.internal", "the project network is not internal",
                   "internal: true keeps data stores off the internet", exemptable=False)
    for name, vol in (doc.get("volumes") or {}).items():
        if set(vol or {}) - {"name"}:
            report.add("mounts", None, (), f"volumes.{name}", f"volume {name} has driver options",
                       "a local volume with driver_opts can bind any host path", exemptable=False)
    for key, sdoc in (doc.get("services") or {}).items():
        origin = origins.get(key) or Origin("?", None, None)
        _Service(report, key, sdoc or {}, origin, origin.kind, doc, env_name).run()
