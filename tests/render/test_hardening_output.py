"""The rendered Compose files are hardened: every rule checked on the OUTPUT, against the catalog.

Independent of ``zixly_stack/render/hardening.py`` (which re-checks the renderer from the
inside): this reads the written ``compose.yaml`` files as Compose would and compares each
service with its catalog container (role, cap_add, resources). The checker itself is tested
on mutated copies of real rendered services, so a rule that stopped being checked fails here.
Sources: ../shared/reference/hardening-and-reliability.md (no-new-privileges, cap_drop ALL,
memory/CPU/pids limits, healthchecks, log rotation, restart policy, pinned images, only the
edge publishes ports, data stores on internal networks, docker.sock only read-only and only
for the socket proxy and Portainer).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO
from zixly_stack.catalog.stack import STORE_KINDS, Stack
from zixly_stack.models.service import Container
from zixly_stack.project import load

from .conftest import ALL_ENVS

SOCKET = "/var/run/docker.sock"
READ_WRITE_SOCKET = "portainer"  # the socket proxy reads it; only Portainer (its purpose) may write
Doc = dict[str, Any]


def catalog_container(stack: Stack, project: str, key: str) -> Container | None:
    """The catalog container a rendered service comes from (None: a renderer-made provisioning job)."""
    svc = stack.services[project]
    if key in svc.containers:
        return svc.containers[key]
    if key in STORE_KINDS:  # dedicated mode: the store's server inside the app's project
        return stack.services[key].containers["server"]
    return None


def service_problems(stack: Stack, project: str, key: str, svc: Doc, doc: Doc) -> list[str]:
    """Every hardening rule one rendered service breaks (empty: hardened)."""
    c = catalog_container(stack, project, key)
    job = c is None or c.role == "job"
    edge = stack.services[project].kind == "edge"
    out: list[str] = []
    if "ports" in svc and not (edge and all(str(p).endswith((":80", ":443")) for p in svc["ports"])):
        out.append(f"publishes ports {svc['ports']}")
    if "no-new-privileges:true" not in svc.get("security_opt", []):
        out.append("no-new-privileges is not set")
    if svc.get("cap_drop") != ["ALL"]:
        out.append(f"cap_drop is {svc.get('cap_drop')!r}, not [ALL]")
    wanted_caps = sorted(c.cap_add) if c is not None else []
    if sorted(svc.get("cap_add", [])) != wanted_caps:
        out.append(f"cap_add {svc.get('cap_add')!r} is not the catalog's {wanted_caps!r}")
    for limit in ("mem_limit", "cpus", "pids_limit"):
        if not svc.get(limit):
            out.append(f"no {limit}")
    if c is not None and svc.get("cpus") and float(svc["cpus"]) != c.resources.cpus:
        out.append(f"cpus {svc['cpus']} is not the catalog's {c.resources.cpus}")
    wanted_restart = "no" if job else "unless-stopped"
    if svc.get("restart") != wanted_restart:
        out.append(f"restart {svc.get('restart')!r}, expected {wanted_restart!r}")
    if not job and "healthcheck" not in svc:
        out.append("long-running container without a healthcheck")
    options = (svc.get("logging") or {}).get("options", {})
    if not (options.get("max-size") and options.get("max-file")):
        out.append("logs are not rotated")
    image = str(svc.get("image", ""))
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    if not tag or tag == "latest":
        out.append(f"image {image!r} is not pinned")
    if svc.get("privileged"):
        out.append("privileged")
    out += [f"{f}: host" for f in ("network_mode", "pid", "ipc", "uts", "userns_mode") if svc.get(f) == "host"]
    for v in svc.get("volumes", []):
        if v.get("source") != SOCKET:
            continue
        if c is None or not any(e.rule == "docker_socket" for e in c.exceptions):
            out.append("mounts docker.sock without a catalog exception")
        elif not v.get("read_only") and project != READ_WRITE_SOCKET:
            out.append("mounts docker.sock read-write")
    store = stack.services[project].kind == "store" or key in STORE_KINDS
    for net in svc.get("networks", {}):
        spec = doc.get("networks", {}).get(net, {})
        if store and not (spec.get("internal") or spec.get("external")):
            out.append(f"data store on non-internal network {net}")
    return out


def project_problems(stack: Stack, project: str, doc: Doc) -> list[str]:
    """Every problem of one rendered compose document, prefixed with ``project/service``."""
    out = [] if doc.get("networks", {}).get("internal", {}).get("internal") else [f"{project}: network not internal"]
    for key, svc in doc["services"].items():
        out += [f"{project}/{key}: {p}" for p in service_problems(stack, project, key, svc, doc)]
    return out


def _documents(root: Path) -> dict[str, Doc]:
    return {f.parent.name: yaml.safe_load(f.read_text()) for f in sorted(root.rglob("compose.yaml"))}


@pytest.mark.parametrize("env", ALL_ENVS)
def test_every_rendered_service_is_hardened(env: str, rendered_trees: dict[str, Path]) -> None:
    stack = load(REPO, env).stack
    docs = _documents(rendered_trees[env])
    assert docs.keys() >= {"traefik", "socket-proxy", "n8n"}, sorted(docs)
    problems = [p for project, doc in docs.items() for p in project_problems(stack, project, doc)]
    assert not problems, "\n".join(problems)
    edge = [s for s in docs["traefik"]["services"].values() if "ports" in s]
    assert edge, "traefik must publish the edge ports"


def _set(field: str, value: object) -> Callable[[Doc], None]:
    return lambda svc: svc.__setitem__(field, value)


def _drop(field: str) -> Callable[[Doc], None]:
    return lambda svc: svc.pop(field, None)


# (project, service, how the rendered service is weakened, what the checker must say)
MUTATIONS = [
    ("n8n", "n8n", _drop("cap_drop"), "cap_drop is None"),
    ("n8n", "n8n", _set("cap_drop", ["NET_RAW"]), "not [ALL]"),
    ("n8n", "n8n", _drop("security_opt"), "no-new-privileges is not set"),
    ("n8n", "n8n", _set("security_opt", ["no-new-privileges:false"]), "no-new-privileges is not set"),
    ("n8n", "n8n", _drop("cpus"), "no cpus"),
    ("n8n", "n8n", _set("cpus", 4.0), "is not the catalog's"),
    ("n8n", "n8n", _drop("mem_limit"), "no mem_limit"),
    ("n8n", "n8n", _drop("pids_limit"), "no pids_limit"),
    ("n8n", "n8n", _set("restart", "no"), "restart 'no', expected 'unless-stopped'"),
    ("n8n", "n8n", _drop("restart"), "restart None"),
    ("postgres", "provision", _set("restart", "unless-stopped"), "expected 'no'"),
    ("n8n", "n8n", _drop("healthcheck"), "without a healthcheck"),
    ("n8n", "n8n", _set("cap_add", ["SYS_ADMIN"]), "cap_add"),
    ("n8n", "n8n", _set("logging", {"driver": "json-file"}), "logs are not rotated"),
    ("n8n", "n8n", _set("image", "n8nio/n8n:latest"), "not pinned"),
    ("n8n", "n8n", _set("image", "n8nio/n8n"), "not pinned"),
    ("n8n", "n8n", _set("ports", ["8080:5678"]), "publishes ports"),
    ("traefik", "traefik", _set("ports", ["127.0.0.1:8080:8080"]), "publishes ports"),
    ("n8n", "n8n", _set("privileged", True), "privileged"),
    ("n8n", "n8n", _set("pid", "host"), "pid: host"),
    ("n8n", "n8n", _set("volumes", [{"type": "bind", "source": SOCKET, "target": SOCKET, "read_only": True}]),
     "without a catalog exception"),
    ("socket-proxy", "socket-proxy", _set("volumes", [{"type": "bind", "source": SOCKET, "target": SOCKET}]),
     "mounts docker.sock read-write"),
    ("postgres", "server", _set("networks", {"internal": {}, "egress": {}}), "non-internal network egress"),
]


@pytest.mark.parametrize(("project", "key", "weaken", "says"), MUTATIONS,
                         ids=[f"{p}-{k}-{s}" for p, k, _, s in MUTATIONS])
def test_the_checker_catches_each_weakened_rule(project: str, key: str, weaken: Callable[[Doc], None], says: str,
                                                rendered_trees: dict[str, Path]) -> None:
    env = "local" if project in _documents(rendered_trees["local"]) else "production"
    stack = load(REPO, env).stack
    doc = copy.deepcopy(_documents(rendered_trees[env])[project])
    if "egress" not in doc["networks"]:
        doc["networks"]["egress"] = {"name": "x-egress"}
    assert not project_problems(stack, project, doc), "the rendered document is hardened before the mutation"
    weaken(doc["services"][key])
    problems = project_problems(stack, project, doc)
    assert problems and all(p.startswith(f"{project}/{key}: ") for p in problems), problems
    assert any(says in p for p in problems), problems


def test_a_project_network_that_is_not_internal_is_caught(rendered_trees: dict[str, Path]) -> None:
    stack = load(REPO, "local").stack
    doc = copy.deepcopy(_documents(rendered_trees["local"])["n8n"])
    doc["networks"]["internal"]["internal"] = False
    assert project_problems(stack, "n8n", doc) == ["n8n: network not internal"]
