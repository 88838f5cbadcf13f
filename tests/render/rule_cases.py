"""Hardening rules under hostile and careless catalog/environment input (mini repo).

Each negative case tries one way around a rule and pins the exact messages: the location
of the offending key, its path, the rule and a hint (how to declare an exception, or that
none is possible). Each positive case is the legitimate neighbour of a negative one (the
same thing with a reasoned exception, or a harmless spelling) and must render.

An edit is (file, old, new): ``old`` is replaced by ``new`` once; ``old=None`` creates the
file with text ``new``.
"""

from __future__ import annotations

CRM = "services/crm/service.yaml"
ENV = "inventories/base/environment.yaml"
HOSTS = "inventories/base/hosts.yaml"
WORKER = "    depends_on: [web]"

Edit = tuple[str, str | None, str]


def worker(extra: str) -> list[Edit]:
    """Add YAML lines (4-space indented keys) to the crm worker container."""
    return [(CRM, WORKER, WORKER + "\n" + extra)]


def exception(rule: str) -> str:
    """An exceptions: entry for the worker with a real reason."""
    return f"    exceptions: [{{rule: {rule}, reason: \"the test says why this container needs it\"}}]"


def _hint(rule: str) -> str:
    return (f"if this container really needs it, add to containers.worker: exceptions: "
            f"[{{rule: {rule}, reason: \"<why>\"}}]")


NO_EXCEPTION = "no exception is possible for this"
NORM = "(expected an absolute, normalized path such as /var/lib/data, without '..', spaces or quotes)"
SOCKET_WHY = "only the socket proxy (and Portainer) may have it; " + _hint("docker_socket")
DIR_WHY = "the docker_socket exception covers the socket file itself, never its directory; " + NO_EXCEPTION
SENSITIVE_WHY = "use a named volume; " + _hint("sensitive_mount")
CAPS = "CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETGID, SETUID"
AT = "services/crm/service.yaml:25"

CASES: list[tuple[str, list[Edit], list[str]]] = [
    ("socket-under-run", worker("    host_mounts: [{source: /run/docker.sock, target: /s}]"),
     [f"{AT}:20: containers.worker.host_mounts[0].source: hardening [docker_socket]: mounts the Docker socket "
      f"/run/docker.sock ({SOCKET_WHY})"]),
    ("socket-dotdot", worker("    host_mounts: [{source: /var/run/../run/docker.sock, target: /s, read_only: true}]"),
     # refused by the model before the rules see it (normalized paths); the judge's own
     # resolution of such spellings is pinned in test_rules_output.py
     [f"{AT}:28: containers.worker.host_mounts[0].source: invalid path '/var/run/../run/docker.sock': path "
      f"contains '..' {NORM}"]),
    ("socket-double-slash", worker("    host_mounts: [{source: //var/run//docker.sock, target: /s}]"),
     [f"{AT}:28: containers.worker.host_mounts[0].source: invalid path '//var/run//docker.sock': path is not "
      f"normalized: empty component or trailing '/' {NORM}"]),
    ("socket-rootless", worker("    host_mounts: [{source: /home/deploy/.docker/run/docker.sock, target: /s}]"),
     [f"{AT}:20: containers.worker.host_mounts[0].source: hardening [docker_socket]: mounts the Docker socket "
      f"/home/deploy/.docker/run/docker.sock ({SOCKET_WHY})"]),
    ("socket-dir-var-run", worker("    host_mounts: [{source: /var/run, target: /s}]"),
     [f"{AT}:20: containers.worker.host_mounts[0].source: hardening [docker_socket]: mounts /var/run (that is "
      f"/run), a directory that holds the Docker socket ({DIR_WHY})"]),
    ("socket-dir-run-even-with-exception",
     worker("    host_mounts: [{source: /run/, target: /s}]\n" + exception("docker_socket")),
     [f"{AT}:28: containers.worker.host_mounts[0].source: invalid path '/run/': path is not normalized: empty "
      f"component or trailing '/' {NORM}"]),
    ("socket-dir-var", worker("    host_mounts: [{source: /var, target: /s}]"),
     [f"{AT}:20: containers.worker.host_mounts[0].source: hardening [docker_socket]: mounts /var, a directory "
      f"that holds the Docker socket ({DIR_WHY})"]),
    ("containerd-socket", worker("    host_mounts: [{source: /run/containerd/containerd.sock, target: /s}]"),
     [f"{AT}:20: containers.worker.host_mounts[0].source: hardening [sensitive_mount]: bind-mounts the sensitive "
      f"host path /run/containerd/containerd.sock ({SENSITIVE_WHY})"]),
    ("docker-volumes-dir", worker("    host_mounts: [{source: /var/lib/docker/volumes, target: /v}]"),
     [f"{AT}:20: containers.worker.host_mounts[0].source: hardening [sensitive_mount]: bind-mounts the sensitive "
      f"host path /var/lib/docker/volumes ({SENSITIVE_WHY})"]),
    ("etc-via-dotdot", worker("    host_mounts: [{source: /opt/../etc, target: /e}]"),
     [f"{AT}:28: containers.worker.host_mounts[0].source: invalid path '/opt/../etc': path contains '..' {NORM}"]),
    ("cap-add-all", worker("    cap_add: [ALL]"),
     [f"{AT}:15: containers.worker.cap_add[0]: hardening [cap_add]: cap_add: ALL gives every capability (add the "
      f"capabilities the image needs by name; {NO_EXCEPTION})"]),
    ("cap-add-all-even-with-exception", worker("    cap_add: [cap_all]\n" + exception("cap_add")),
     [f"{AT}:15: containers.worker.cap_add[0]: hardening [cap_add]: cap_add: ALL gives every capability (add the "
      f"capabilities the image needs by name; {NO_EXCEPTION})"]),
    ("cap-add-sys-admin", worker("    cap_add: [CHOWN, sys_admin, CAP_NET_ADMIN]"),
     [f"{AT}:22: containers.worker.cap_add[1]: hardening [cap_add]: adds capability SYS_ADMIN (allowed without an "
      f"exception: {CAPS}; {_hint('cap_add')})",
      f"{AT}:33: containers.worker.cap_add[2]: hardening [cap_add]: adds capability NET_ADMIN (allowed without an "
      f"exception: {CAPS}; {_hint('cap_add')})"]),
    ("user-root", worker("    user: root"),
     [f"{AT}:5: containers.worker.user: hardening [non_root]: runs as root (user: root) (use the image's "
      f"unprivileged user; {_hint('non_root')})"]),
    ("user-uid-0-with-group", worker("    user: '0:0'"),
     [f"{AT}:5: containers.worker.user: hardening [non_root]: runs as root (user: 0:0) (use the image's "
      f"unprivileged user; {_hint('non_root')})"]),
    ("user-uid-00", worker("    user: '00:www-data'"),
     [f"{AT}:5: containers.worker.user: hardening [non_root]: runs as root (user: 00:www-data) (use the image's "
      f"unprivileged user; {_hint('non_root')})"]),
    ("healthcheck-none", [(CRM, 'test: "pgrep -f queue:work"', "test: [NONE]")],
     [f"{AT}:19: containers.worker.healthcheck.test: hardening [healthcheck]: healthcheck ['NONE'] checks nothing "
      f"(NONE, disabled or empty) (a test that exercises the service; {_hint('healthcheck')})"]),
    ("healthcheck-none-string", [(CRM, 'test: "pgrep -f queue:work"', "test: NONE")],
     [f"{AT}:19: containers.worker.healthcheck.test: hardening [healthcheck]: healthcheck ['CMD-SHELL', 'NONE'] "
      f"checks nothing (NONE, disabled or empty) (a test that exercises the service; {_hint('healthcheck')})"]),
    ("healthcheck-empty", [(CRM, 'test: "pgrep -f queue:work"', "test: []")],
     [f"{AT}:19: containers.worker.healthcheck.test: hardening [healthcheck]: healthcheck ['CMD'] checks nothing "
      f"(NONE, disabled or empty) (a test that exercises the service; {_hint('healthcheck')})"]),
    ("memory-zero", worker("    resources: {memory: 0m}"),
     [f"{AT}:17: containers.worker.resources.memory: hardening [limits]: memory limit '0m' (0 or none is "
      f"unlimited) (set resources: memory to at least 6m; {NO_EXCEPTION})"]),
    ("memory-too-small", worker("    resources: {memory: 1k, cpus: 0.5, pids: 64}"),
     [f"{AT}:17: containers.worker.resources.memory: hardening [limits]: memory limit '1k' (0 or none is "
      f"unlimited) (set resources: memory to at least 6m; {NO_EXCEPTION})"]),
    ("memory-zero-from-environment", [(ENV, "  crm:\n", "  crm:\n    resources:\n      worker: {memory: 0g}\n")],
     ["inventories/base/environment.yaml:16:16: services.crm.resources.worker.memory: hardening [limits]: memory "
      f"limit '0g' (0 or none is unlimited) (set resources: memory to at least 6m; {NO_EXCEPTION})"]),
    ("traefik-labels", worker("    labels: {traefik.enable: 'true', 'traefik.http.routers.x.rule': "
                              "'Host(`n8n.example.com`)'}"),
     [f"{AT}:14: containers.worker.labels.traefik.enable: hardening [traefik_labels]: Traefik label in a container "
      "definition (routes come only from 'routes:', which the renderer turns into Traefik config; "
      f"{NO_EXCEPTION})",
      f"{AT}:38: containers.worker.labels.traefik.http.routers.x.rule: hardening [traefik_labels]: Traefik label "
      "in a container definition (routes come only from 'routes:', which the renderer turns into Traefik config; "
      f"{NO_EXCEPTION})"]),
    ("traefik-labels-other-case", worker("    labels: {Traefik.HTTP.Routers.x.Rule: 'HostRegexp(`.*`)'}"),
     [f"{AT}:14: containers.worker.labels.Traefik.HTTP.Routers.x.Rule: hardening [traefik_labels]: Traefik label "
      "in a container definition (routes come only from 'routes:', which the renderer turns into Traefik config; "
      f"{NO_EXCEPTION})"]),
    ("reserved-labels", worker("    labels: {org.zixly.env: production, com.docker.compose.project: other}"),
     [f"{AT}:14: containers.worker.labels.org.zixly.env: hardening [labels]: label org.zixly.env is reserved "
      f"(org.zixly.* and com.docker.* labels are written by the renderer and Compose; {NO_EXCEPTION})",
      f"{AT}:41: containers.worker.labels.com.docker.compose.project: hardening [labels]: label "
      "com.docker.compose.project is reserved (org.zixly.* and com.docker.* labels are written by the renderer "
      f"and Compose; {NO_EXCEPTION})"]),
]

FILE_WHY = ("modes like 0o644 or 0o640 (the mode is octal: write 0o644 or 0644; 644 alone is decimal); "
            + NO_EXCEPTION)
TEMPLATE: Edit = ("services/crm/worker.ini", None, "memory_limit = 256M\n")
for case_id, mode, shown in (("file-mode-setuid", "0o4755", "0o4755"), ("file-mode-decimal", "644", "0o1204"),
                             ("file-mode-world-writable", "'0666'", "0o666")):
    CASES.append((case_id, [TEMPLATE, *worker(f"    files: [{{template: worker.ini, target: /etc/w.ini, "
                                                  f"mode: {mode}}}]")],
                  [f"{AT}:56: containers.worker.files[0].mode: hardening [file_mode]: mode {shown} has "
                   f"setuid/setgid/sticky or world-write bits ({FILE_WHY})"]))

BUDGET_WHY = ("lower services.<name>.resources.<container>.memory in environment.yaml, place services on another "
              f"host, or declare the host's real memory; {NO_EXCEPTION}")
CASES += [
    ("memory-budget-host", [(HOSTS, "    roles: [edge, apps, stores]", "    roles: [edge, apps, stores]\n"
                             "    memory: 3g")],
     ["inventories/base/hosts.yaml:6:5: hosts.vps1.memory: hardening [memory_budget]: the containers on vps1 may "
      "use 2.38 GiB (2.25 GiB of memory limits of 9 long-running containers + 128 MiB for the largest one-shot "
      "job, mariadb.provision), 896 MiB more than its budget of 1.50 GiB (memory 3g minus memory_reserved 1536m); "
      "largest: crm.web 256 MiB, crm.worker 256 MiB, mariadb.server 256 MiB, n8n.n8n 256 MiB, postgres.server "
      f"256 MiB ({BUDGET_WHY})"]),
    ("memory-budget-environment", [(ENV, "stores: shared", "stores: shared\nmemory_budget: 2g")],
     ["inventories/base/environment.yaml:5:1: memory_budget: hardening [memory_budget]: the containers on vps1 may "
      "use 2.38 GiB (2.25 GiB of memory limits of 9 long-running containers + 128 MiB for the largest one-shot "
      "job, mariadb.provision), 384 MiB more than its budget of 2.00 GiB (the environment's memory_budget 2g); "
      "largest: crm.web 256 MiB, crm.worker 256 MiB, mariadb.server 256 MiB, n8n.n8n 256 MiB, postgres.server "
      f"256 MiB ({BUDGET_WHY})"]),
]

POSITIVE: list[tuple[str, list[Edit]]] = [
    ("socket-with-exception", worker("    host_mounts: [{source: /var/run/docker.sock, target: /var/run/docker.sock, "
                                     "read_only: true}]\n" + exception("docker_socket"))),
    ("harmless-host-path", worker("    host_mounts: [{source: /srv/crm-exports, target: /exports}]")),
    ("sensitive-with-exception", worker("    host_mounts: [{source: /etc/localtime, target: /etc/localtime}]\n"
                                        + exception("sensitive_mount"))),
    ("allowed-caps", worker("    cap_add: [chown, CAP_SETUID, SETGID]")),
    ("cap-with-exception", worker("    cap_add: [SYS_PTRACE]\n" + exception("cap_add"))),
    ("user-unprivileged", worker("    user: '1000:0'")),
    ("user-root-with-exception", worker("    user: root\n" + exception("non_root"))),
    ("healthcheck-none-with-exception", [(CRM, 'test: "pgrep -f queue:work"', "test: [NONE]"),
                                         *worker(exception("healthcheck"))]),
    ("memory-smallest", worker("    resources: {memory: 6m}")),
    ("own-labels", worker("    labels: {com.example.team: billing, org.opencontainers.image.title: crm}")),
    ("file-mode-octal", [TEMPLATE, *worker("    files: [{template: worker.ini, target: /etc/w.ini, mode: '0640'}]")]),
    ("file-mode-decimal-420", [TEMPLATE, *worker("    files: [{template: worker.ini, target: /etc/w.ini, "
                                                 "mode: 420}]")]),
    ("memory-budget-fits", [(HOSTS, "    roles: [edge, apps, stores]", "    roles: [edge, apps, stores]\n"
                             "    memory: 4g")]),
    ("memory-budget-environment-fits", [(ENV, "stores: shared", "stores: shared\nmemory_budget: 3g")]),
]
