"""The rules judge rendered output: each spelling of a violation, planted in a real rendered
document (production's, parsed back from its text), is found -- including keys the catalog
cannot even express, so a future renderer change that writes them is caught too. The
untouched documents of every shipped environment pass (the positive case of every rule).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.helpers import REPO, fake_secrets
from zixly_stack.project import image_mapper, load
from zixly_stack.render.budget import size_bytes
from zixly_stack.render.compose import render_project
from zixly_stack.render.context import RenderContext
from zixly_stack.render.edge_rules import check_modes, check_rules, check_static, file_routers, route_sources
from zixly_stack.render.findings import Origin, Report
from zixly_stack.render.hardening import check_compose
from zixly_stack.render.judge import catalog_origin
from zixly_stack.render.mounts import canonical, classify
from zixly_stack.render.tree import RenderedFile, parse_yaml
from zixly_stack.render.units import build_projects

from .conftest import ALL_ENVS, render_env


def _compose(env: str, project: str) -> tuple[dict[str, Any], dict[str, Origin]]:
    files = {f.path: f for f in render_env(env)}
    doc = parse_yaml(files[f"vps1/{project}/compose.yaml"].text)
    stack = load(REPO, env).stack
    svc = stack.services[project]
    origins = {k: catalog_origin(stack, project, k) for k in doc["services"] if k in svc.containers}
    for k in doc["services"]:  # dedicated stores and provisioning jobs in the app's project
        if k not in origins:
            kind = k.removesuffix("-provision")
            store = stack.services[kind]
            origins[k] = (Origin(kind, "server", store.containers["server"], "store") if k == kind
                          else Origin(kind, None, None, svc.kind))
    return doc, origins


def _rules(doc: dict[str, Any], origins: dict[str, Origin], env: str = "production") -> list[str]:
    report = Report("compose.yaml")
    check_compose(report, doc, origins, env)
    return [f"{f.rule}@{f.rendered.split(' ', 1)[1]}" for f in report.findings]


@pytest.mark.parametrize("env", ALL_ENVS)
def test_every_shipped_environment_passes(env: str) -> None:
    assert render_env(env)  # render_stack raises on any finding


def test_untouched_documents_pass() -> None:
    for project in ("n8n", "traefik", "socket-proxy", "portainer", "chatwoot"):
        doc, origins = _compose("production", project)
        assert _rules(doc, origins) == [], project


N8N: list[tuple[str, Any, list[str]]] = [
    ("privileged", lambda s, d: s.update(privileged=True), ["privileged@services.n8n.privileged"]),
    ("pid host", lambda s, d: s.update(pid="host"), ["host_namespaces@services.n8n.pid"]),
    ("network host", lambda s, d: s.update(network_mode="host"), ["host_namespaces@services.n8n.network_mode"]),
    ("ipc host", lambda s, d: s.update(ipc="host"), ["host_namespaces@services.n8n.ipc"]),
    ("devices", lambda s, d: s.update(devices=["/dev/kmsg:/dev/kmsg"]), ["devices@services.n8n.devices"]),
    ("extra_hosts", lambda s, d: s.update(extra_hosts=["n8n.example.com:10.0.0.1"]),
     ["compose_keys@services.n8n.extra_hosts"]),
    ("dns", lambda s, d: s.update(dns=["10.0.0.1"]), ["compose_keys@services.n8n.dns"]),
    ("sysctls", lambda s, d: s.update(sysctls={"net.ipv4.ip_forward": 1}), ["compose_keys@services.n8n.sysctls"]),
    ("volumes_from", lambda s, d: s.update(volumes_from=["other"]), ["compose_keys@services.n8n.volumes_from"]),
    ("seccomp unconfined", lambda s, d: s["security_opt"].append("seccomp=unconfined"),
     ["security_opt@services.n8n.security_opt[1]"]),
    ("apparmor unconfined", lambda s, d: s.update(security_opt=["no-new-privileges:true", "apparmor:unconfined"]),
     ["security_opt@services.n8n.security_opt[1]"]),
    ("nnp removed", lambda s, d: s.update(security_opt=["label=disable"]),
     ["no_new_privileges@services.n8n.security_opt", "security_opt@services.n8n.security_opt[0]"]),
    ("nnp false", lambda s, d: s.update(security_opt=["no-new-privileges:false"]),
     ["no_new_privileges@services.n8n.security_opt", "security_opt@services.n8n.security_opt[0]"]),
    ("cap_drop gone", lambda s, d: s.pop("cap_drop"), ["cap_drop@services.n8n.cap_drop"]),
    ("cap_add all", lambda s, d: s.update(cap_add=["all"]), ["cap_add@services.n8n.cap_add[0]"]),
    ("ports", lambda s, d: s.update(ports=["0.0.0.0:5678:5678"]), ["no_ports@services.n8n.ports"]),
    ("logging none", lambda s, d: s.update(logging={"driver": "none"}), ["limits@services.n8n.logging"]),
    ("memory unlimited", lambda s, d: s.update(mem_limit=0), ["limits@services.n8n.mem_limit"]),
    ("memory missing", lambda s, d: s.pop("mem_limit"), ["limits@services.n8n.mem_limit"]),
    ("cpus zero", lambda s, d: s.update(cpus=0), ["limits@services.n8n.cpus"]),
    ("pids unlimited", lambda s, d: s.update(pids_limit=-1), ["limits@services.n8n.pids_limit"]),
    ("healthcheck disabled", lambda s, d: s["healthcheck"].update(disable=True),
     ["healthcheck@services.n8n.healthcheck"]),
    ("healthcheck gone", lambda s, d: s.pop("healthcheck"), ["healthcheck@services.n8n"]),
    ("restart no", lambda s, d: s.update(restart="no"), ["restart@services.n8n.restart"]),
    ("image latest", lambda s, d: s.update(image="n8nio/n8n:latest"), ["pinned_image@services.n8n.image"]),
    ("image untagged", lambda s, d: s.update(image="n8nio/n8n"), ["pinned_image@services.n8n.image"]),
    ("user root", lambda s, d: s.update(user="+0"), ["non_root@services.n8n.user"]),
    ("short volume", lambda s, d: s["volumes"].append("/:/host"), ["mounts@services.n8n.volumes[1]"]),
    ("bind propagation", lambda s, d: s["volumes"].append(
        {"type": "bind", "source": "/srv/x", "target": "/x", "bind": {"propagation": "rshared"}}),
     ["mounts@services.n8n.volumes[1]"]),
    ("relative escape", lambda s, d: s["volumes"].append({"type": "bind", "source": "./../../etc", "target": "/x"}),
     ["mounts@services.n8n.volumes[1]"]),
    ("undeclared volume", lambda s, d: s["volumes"].append({"type": "volume", "source": "other", "target": "/x"}),
     ["mounts@services.n8n.volumes[1]"]),
    ("volume driver", lambda s, d: d["volumes"]["data"].update(driver_opts={"type": "none", "o": "bind",
                                                                            "device": "/"}),
     ["mounts@volumes.data"]),
    ("socket bind", lambda s, d: s["volumes"].append({"type": "bind", "source": "/var/run/docker.sock",
                                                      "target": "/s"}),
     ["docker_socket@services.n8n.volumes[1]", "docker_socket@services.n8n.volumes[1]"]),
    ("traefik label", lambda s, d: s["labels"].update({"traefik.http.routers.x.rule": "HostRegexp(`.*`)"}),
     ["traefik_labels@services.n8n.labels.traefik.http.routers.x.rule"]),
    ("project net not internal", lambda s, d: d["networks"]["internal"].pop("internal"),
     ["internal_network@networks.internal"]),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), N8N, ids=[c[0] for c in N8N])
def test_rendered_violation_is_found(name: str, mutate: Any, expected: list[str]) -> None:
    doc, origins = _compose("production", "n8n")
    doc = copy.deepcopy(doc)
    mutate(doc["services"]["n8n"], doc)
    assert _rules(doc, origins) == expected


def test_data_store_on_a_public_network_is_found() -> None:
    doc, origins = _compose("production", "n8n")
    doc = copy.deepcopy(doc)
    doc["services"]["postgres"]["networks"]["egress"] = {}
    assert _rules(doc, origins) == ["internal_only@services.postgres.networks"]


def test_exceptions_cover_only_their_rule() -> None:
    doc, origins = _compose("production", "socket-proxy")  # carries docker_socket + non_root exceptions
    assert _rules(doc, origins) == []
    doc = copy.deepcopy(doc)
    doc["services"]["socket-proxy"]["user"] = "root"
    doc["services"]["socket-proxy"]["privileged"] = True
    assert _rules(doc, origins) == ["privileged@services.socket-proxy.privileged"]


ROUTES: list[tuple[str, str, list[str]]] = [
    ("or HostRegexp", "Host(`n8n.zixly.example.com`) || HostRegexp(`.*`)", ["route_rule"]),
    ("backtick in label", "Host(`x`) || Host(`n8n.zixly.example.com`)", ["route_rule"]),
    ("other domain", "Host(`n8n.evil.example`)", ["route_rule"]),
    ("two labels", "Host(`a.b.zixly.example.com`)", ["route_rule"]),
    ("bare domain", "Host(`zixly.example.com`)", ["route_rule"]),
    ("path dotdot", "Host(`n8n.zixly.example.com`) && PathPrefix(`/../admin`)", ["route_rule"]),
    ("path double slash", "Host(`n8n.zixly.example.com`) && PathPrefix(`//x`)", ["route_rule"]),
    ("duplicate", "Host(`portainer.zixly.example.com`)", ["route_conflict"]),
    ("fine", "Host(`new.zixly.example.com`) && PathPrefix(`/api/v1/`)", []),
]


@pytest.mark.parametrize(("name", "rule", "expected"), ROUTES, ids=[c[0] for c in ROUTES])
def test_router_rules_are_strict(name: str, rule: str, expected: list[str]) -> None:
    files = {f.path: f for f in render_env("production")}
    routers = file_routers(parse_yaml(files["vps1/traefik/config/dynamic/routes.yml"].text))
    stack = load(REPO, "production").stack
    sources = route_sources(stack, lambda s, c: catalog_origin(stack, s, c), ["vps1"])
    report = Report("routes.yml")
    check_rules(report, routers, "zixly.example.com", sources, "http.routers.{name}.rule")
    assert report.findings == []
    check_rules(report, {**routers, "zz-planted": rule}, "zixly.example.com", sources, "http.routers.{name}.rule")
    assert [f.rule for f in report.findings] == expected


def test_static_config_rules() -> None:
    files = {f.path: f for f in render_env("production")}
    static = parse_yaml(files["vps1/traefik/config/traefik.yml"].text)
    report = Report("traefik.yml")
    check_static(report, static, None)
    assert report.findings == []
    static["api"]["insecure"] = True
    static["providers"]["docker"]["exposedByDefault"] = True
    check_static(report, static, None)
    assert [f.rendered for f in report.findings] == ["traefik.yml api.insecure",
                                                     "traefik.yml providers.docker.exposedByDefault"]


@pytest.mark.parametrize(("mode", "bad"), [(0o644, False), (0o600, False), (0o755, False), (0o444, False),
                                           (0o4755, True), (0o2755, True), (0o1644, True), (0o646, True),
                                           (0o777, True), (0o10644, True)])
def test_file_modes(mode: int, bad: bool) -> None:
    reports = check_modes([RenderedFile("vps1/x/files/a/b.conf", "x", mode)], {})
    assert bool(reports) is bad


@pytest.mark.parametrize(("path", "canon", "kind"), [
    ("/var/run/docker.sock", "/run/docker.sock", "socket"),
    ("/run/docker.sock", "/run/docker.sock", "socket"),
    ("//run//docker.sock/", "/run/docker.sock", "socket"),
    ("/var/run/../run/./docker.sock", "/run/docker.sock", "socket"),
    ("/var/run/../../run/docker.sock", "/run/docker.sock", "socket"),
    ("/run/user/1000/docker.sock", "/run/user/1000/docker.sock", "socket"),
    ("/var/run", "/run", "socket_dir"),
    ("/var/run/", "/run", "socket_dir"),
    ("/run", "/run", "socket_dir"),
    ("/var", "/var", "socket_dir"),
    ("/", "/", "socket_dir"),
    ("/opt/../", "/", "socket_dir"),
    ("/run/containerd/containerd.sock", "/run/containerd/containerd.sock", "sensitive"),
    ("/var/lock", "/run/lock", "sensitive"),
    ("/var/lib", "/var/lib", "sensitive"),
    ("/etc/localtime", "/etc/localtime", "sensitive"),
    ("/proc/1/root", "/proc/1/root", "sensitive"),
    ("/srv/data", "/srv/data", None),
    ("/var/backups/zixly", "/var/backups/zixly", None),
    ("/home/deploy/exports", "/home/deploy/exports", None),
])
def test_host_paths(path: str, canon: str, kind: str | None) -> None:
    assert canonical(path) == canon
    found = classify(path)
    assert (found[0] if found else None) == kind


@pytest.mark.parametrize(("text", "value"), [("512m", 512 * 1024**2), ("1g", 1024**3), ("1.5GB", 1536 * 1024**2),
                                             ("0m", 0), (6291456, 6291456), ("lots", None), (None, None),
                                             (True, None)])
def test_sizes(text: Any, value: int | None) -> None:
    assert size_bytes(text) == value


@pytest.mark.parametrize("env", ["production", "local", "demo"])
def test_rules_see_exactly_what_is_written(env: str) -> None:
    """The rules judge each compose document in memory; writing it must not change its meaning
    (a YAML 1.1 'no', a float, an anchor...): parsing every written compose.yaml back gives the
    very document the rules judged."""
    loaded = load(REPO, env)
    ctx = RenderContext(loaded.stack, fake_secrets(loaded), loaded.root, image_mapper(loaded))
    checked = 0
    for host in loaded.stack.host_names():
        for proj in build_projects(ctx, host):
            files, doc = render_project(ctx, host, proj)
            assert parse_yaml(files[0].text) == doc, files[0].path
            checked += 1
    assert checked >= 8
