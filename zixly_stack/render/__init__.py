"""PURE rendering: (stack, secrets) -> tuple of RenderedFile, byte-identical for equal inputs."""

from __future__ import annotations

import json

from ..catalog.datastores import moved_volumes
from ..catalog.upgrades import host_versions, stack_versions
from ..errors import ConfigError, Problem
from ..notify.channels import apprise_config, resolve
from .backup.plan import container_name
from .backup.repo import PASSWORD_SECRET
from .backup.script import render_backup
from .compose import render_project
from .context import RenderContext
from .findings import Finding
from .judge import HostJudge, SwarmJudge
from .swarm import check_stack, manager_host, stack_doc, swarm_project
from .tree import RECOVERY_PATH, RenderedFile, manifest
from .units import build_projects

__all__ = ["NOTIFY_CONFIG", "RenderContext", "RenderedFile", "render_stack"]

NOTIFY_CONFIG = "notify/apprise.txt"  # in each host's release: the channels for the apprise CLI


def _backup_files(ctx: RenderContext, host: str) -> list[RenderedFile]:
    """The host's nightly backup (script, systemd units, cron line, repository password)."""
    if not ctx.stack.environment.backup.enabled:
        return []
    standins = {container_name(p.project, key) for p in ctx.stack.placements
                for key, c in p.service.containers.items() if ctx.images(c.image).standin}
    return render_backup(ctx.stack, host, ctx.secret(PASSWORD_SECRET), standins)


def _recovery_sheet(ctx: RenderContext, host: str, everything: bool = False) -> RenderedFile:
    """``.zixly/recovery.json`` (0600): the values of the secrets of *host*'s services, for ``secrets recover``.

    Besides what the host's env and secret files already hold, it keeps what only zixly
    uses (app admin passwords the hooks set, a password of which only the bcrypt hash is
    deployed) and the fingerprint key, so a lost store comes back complete. Per host, so
    it changes exactly when a secret of that host's services changes.
    """
    on_host = {p.name for p in ctx.stack.placements if everything or p.host == host}
    owners = on_host | {"zixly", "backup", "notify"}
    if any(ctx.stack.services[n].kind == "edge" for n in on_host):
        owners.add("edge")
    values = {n: v.reveal() for n, v in sorted(ctx.secrets.items()) if n.split(".", 1)[0] in owners}
    doc = {"version": 1, "environment": ctx.stack.env_name, "store": ctx.fingerprint.store_id, "secrets": values}
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return RenderedFile(f"{host}/{RECOVERY_PATH}", text, 0o600, True)
def _notify_files(ctx: RenderContext, host: str) -> list[RenderedFile]:
    """The channels' Apprise configuration (``notify/apprise.txt``, secret) the host's ``apprise`` CLI
    reads for the backup script and the health agent; none when no channel is configured."""
    targets = resolve(ctx.stack.environment, ctx.secrets, ctx.stack.env_name)
    if not targets:
        return []
    return [RenderedFile(f"{host}/{NOTIFY_CONFIG}", apprise_config(targets), 0o600, secret=True)]


def render_stack(ctx: RenderContext) -> tuple[RenderedFile, ...]:
    """Render every host of the stack, then judge the output with every rule (hardening,
    Traefik rules, file modes, memory budget). Raises ConfigError with all findings."""
    if ctx.stack.environment.mode == "swarm":
        return render_swarm(ctx)
    files: list[RenderedFile] = []
    findings: list[Finding] = []
    for host in ctx.stack.host_names():
        host_files: list[RenderedFile] = []
        judge = HostJudge(ctx.stack, host)
        projects = build_projects(ctx, host)
        for proj in projects:
            out, doc = render_project(ctx, host, proj)
            host_files.extend(out)
            judge.project(proj, out, doc)
        host_files.extend(_backup_files(ctx, host))
        host_files.extend(_notify_files(ctx, host))
        host_files.append(_recovery_sheet(ctx, host))
        findings.extend(judge.finish(host_files))
        meta = {
            "environment": ctx.stack.env_name,
            "projects": [p.placed.project for p in projects],
            "networks": [f"{ctx.stack.prefix}-proxy"],
            "versions": host_versions(ctx.stack, host),
        }
        moved = moved_volumes(ctx.stack, host)
        if moved:  # only after a data-store major move: every other manifest stays as it was
            meta["volumes"] = moved
        files.extend(host_files)
        files.append(manifest(host_files, host, meta, ctx.fingerprint))
    if findings:
        raise ConfigError(list(findings))
    return tuple(sorted(files, key=lambda f: f.path))


def render_swarm(ctx: RenderContext) -> tuple[RenderedFile, ...]:
    """``mode: swarm``: one stack file per project, all under the first manager's directory
    (stacks are deployed from there); same rules plus the swarm-specific ones."""
    manager = manager_host(ctx.stack)
    files: list[RenderedFile] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    projects = []
    shared: dict[str, bool] = {}
    judge = SwarmJudge(ctx.stack)
    for host in ctx.stack.host_names():
        for proj in build_projects(ctx, host):
            if proj.placed.project in seen:
                continue
            seen.add(proj.placed.project)
            projects.append(proj.placed.project)
            out, doc = render_project(ctx, manager, proj)
            stack_files = swarm_project(ctx, proj, doc, out)
            parsed = stack_doc(stack_files[0])
            judge.project(proj, out[0], doc, stack_files, parsed)
            problems.extend(check_stack(stack_files[0].path, proj.placed.service.name, parsed))
            for key, net in parsed["networks"].items():
                if net.get("external"):
                    shared[net["name"]] = key != "proxy"
            files.extend(stack_files)
    files.append(_recovery_sheet(ctx, manager, everything=True))
    problems.extend(judge.finish(files))
    meta = {"environment": ctx.stack.env_name, "mode": "swarm", "stacks": projects,
            "networks": sorted(shared), "internal_networks": sorted(n for n, i in shared.items() if i),
            "versions": stack_versions(ctx.stack)}
    files.append(manifest(files, manager, meta, ctx.fingerprint))
    if problems:
        raise ConfigError(problems)
    return tuple(sorted(files, key=lambda f: f.path))
