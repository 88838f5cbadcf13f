"""Run every rule on the rendered tree of a host (compose mode) or of the swarm (stack files).

Pure. Input: what the renderer wrote (files, parsed back from their text) plus, for each
rendered container, the catalog :class:`Origin` it came from; output: findings.
"""

from __future__ import annotations

import posixpath
from typing import Any

from ..catalog.stack import Stack
from .budget import Consumer, check_budget, size_bytes
from .edge_rules import (
    RouteSource,
    check_modes,
    check_rules,
    check_static,
    file_routers,
    label_routers,
    route_sources,
)
from .findings import Finding, Origin, PathT, Report
from .hardening import check_compose, check_swarm_service
from .swarm import node_labels
from .tree import RenderedFile, parse_yaml
from .units import Project

ROUTES = "/config/dynamic/routes.yml"
STATIC = "/config/traefik.yml"


def origins(proj: Project) -> dict[str, Origin]:
    """Compose key -> catalog origin for every unit of a project (generated jobs: container None)."""
    out: dict[str, Origin] = {}
    for u in proj.units:
        cname = next((n for n, c in u.owner.containers.items() if c is u.container), None)
        # a generated job takes its project's kind (a provisioning job is a client, not a store)
        out[u.key] = Origin(u.owner.name, cname, u.container, "store" if u.store else proj.placed.service.kind)
    return out


def catalog_origin(stack: Stack, svc: str, cname: str) -> Origin:
    """The origin of catalog container ``cname`` of service ``svc`` as this environment runs it."""
    service = stack.services[svc]
    return Origin(svc, cname, service.containers[cname], service.kind)


def file_sources(host: str, proj: Project, found: dict[str, Origin]) -> dict[str, tuple[Origin, PathT]]:
    """Rendered path of each catalog ``files:`` entry -> (origin, its ``mode`` key)."""
    out: dict[str, tuple[Origin, PathT]] = {}
    for u in proj.units:
        for i, f in enumerate(u.container.files):
            path = f"{host}/{proj.placed.service.name}/files/{u.key}/{posixpath.basename(f.target)}"
            out[path] = (found[u.key], ("files", i, "mode"))
    return out


def _consumers(project: str, doc: dict[str, Any]) -> list[Consumer]:
    out = []
    for key, s in (doc.get("services") or {}).items():
        mem = size_bytes(s.get("mem_limit")) or 0
        out.append(Consumer(f"{project}.{key}", mem, s.get("restart") == "no"))
    return out


class _Judge:
    """What both modes collect: findings so far, catalog sources of file modes, the edge."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.findings: list[Finding] = []
        self.modes: dict[str, tuple[Origin, PathT]] = {}
        self.edge: Origin | None = None

    def _tree(self, files: list[RenderedFile]) -> list[Finding]:
        """Findings so far, plus Traefik's static config and the mode of every file."""
        out = list(self.findings)
        for f in files:
            if f.path.endswith(STATIC):
                report = Report(f.path)
                check_static(report, parse_yaml(f.text), self.edge)
                out.extend(report.findings)
        for report in check_modes(files, self.modes):
            out.extend(report.findings)
        return out

    def _sources(self, hosts: list[str] | None) -> dict[str, RouteSource]:
        return route_sources(self.stack, lambda s, c: catalog_origin(self.stack, s, c), hosts)


class HostJudge(_Judge):
    """Collects the rendered projects of one compose-mode host, then judges them together."""

    def __init__(self, stack: Stack, host: str) -> None:
        super().__init__(stack)
        self.host = host
        self.consumers: list[Consumer] = []

    def project(self, proj: Project, files: list[RenderedFile], doc: dict[str, Any]) -> None:
        """Judge one project's compose document ``doc``, written as ``files[0]`` (the document
        itself, not its text re-parsed: serialising it is lossless, tests/render pins that)."""
        found = origins(proj)
        report = Report(files[0].path)
        check_compose(report, doc, found, self.stack.env_name)
        self.findings.extend(report.findings)
        self.consumers.extend(_consumers(proj.placed.service.name, doc))
        self.modes.update(file_sources(self.host, proj, found))
        if proj.placed.service.kind == "edge":
            self.edge = found[proj.units[0].key]

    def finish(self, files: list[RenderedFile]) -> list[Finding]:
        """Router rules, the static config, file modes and the memory budget over the host's tree."""
        out = self._tree(files)
        for f in files:
            if f.path.endswith(ROUTES):
                report = Report(f.path)
                check_rules(report, file_routers(parse_yaml(f.text)), self.stack.environment.domain,
                            self._sources([self.host]), "http.routers.{name}.rule")
                out.extend(report.findings)
        out.extend(check_budget(self.stack, self.host, self.consumers, self.host))
        return out


class SwarmJudge(_Judge):
    """The same rules for ``mode: swarm``: compose documents per project, then the stack files."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack)
        self.routers: dict[str, str] = {}
        self.per_node: dict[str, list[Consumer]] = {h: [] for h in stack.hosts}

    def project(self, proj: Project, compose: RenderedFile, doc: dict[str, Any], stack_files: list[RenderedFile],
                stack_doc: dict[str, Any]) -> None:
        """Judge a project's compose document and the stack file made from it."""
        found = origins(proj)
        report = Report(compose.path)
        check_compose(report, doc, found, self.stack.env_name)
        primary = next(iter(found.values()))
        stack_report = Report(stack_files[0].path)
        for key, s in (stack_doc.get("services") or {}).items():
            origin = found.get(key, primary)  # the portainer agent belongs to portainer's definition
            check_swarm_service(stack_report, key, s, origin, stack_doc, self.stack.env_name)
            deploy = s.get("deploy") or {}
            self.routers.update(label_routers(deploy.get("labels") or {}))
            self._count(proj.placed.service.name, key, deploy)
        self.findings.extend(report.findings + stack_report.findings)
        self.modes.update(file_sources(stack_files[0].path.split("/", 1)[0], proj, found))
        if proj.placed.service.kind == "edge":
            self.edge = primary

    def _count(self, project: str, key: str, deploy: dict[str, Any]) -> None:
        mem = size_bytes(((deploy.get("resources") or {}).get("limits") or {}).get("memory")) or 0
        job = deploy.get("mode") == "replicated-job"
        copies = 1 if deploy.get("mode") != "replicated" else max(int(deploy.get("replicas", 1)), 1)
        for node in self._nodes(project, deploy):
            self.per_node[node].extend([Consumer(f"{project}.{key}", mem, job)] * copies)

    def _nodes(self, project: str, deploy: dict[str, Any]) -> list[str]:
        """Nodes a swarm service may run on: its constraints against the node labels; a
        service free to move is counted on the node the stack places it on."""
        labels = node_labels(self.stack)
        nodes = list(self.stack.hosts)
        for c in (deploy.get("placement") or {}).get("constraints", []):
            left, _, right = str(c).partition("==")
            if left.startswith("node.labels."):
                nodes = [n for n in nodes if labels[n].get(left.removeprefix("node.labels.")) == right]
            elif left == "node.role":
                nodes = [n for n in nodes if right in self.stack.hosts[n].roles]
        if deploy.get("mode") == "global" or len(nodes) <= 1:
            return nodes
        home = self.stack.hosts_of(project)
        return [n for n in nodes if n in home][:1] or nodes[:1]

    def finish(self, files: list[RenderedFile]) -> list[Finding]:
        """Router labels, the static config, file modes and a memory budget per node."""
        out = self._tree(files)
        report = Report(f"{files[0].path.split('/', 1)[0]}/*/stack.yaml" if files else "stack.yaml")
        check_rules(report, self.routers, self.stack.environment.domain, self._sources(None),
                    "deploy.labels.traefik.http.routers.{name}.rule")
        out.extend(report.findings)
        for node, consumers in self.per_node.items():
            out.extend(check_budget(self.stack, node, consumers, node))
        return out
