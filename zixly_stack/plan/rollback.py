"""PURE rollback planning: which release to go back to and which projects to converge.

* :func:`previous_release` picks the release to return to: the newest release the log
  records as deployed ``ok`` that is not the current one, else the newest older
  directory in ``releases/``.
* :func:`rollback_projects` compares the current release's file hashes with the target
  release's: every project with a differing file, or whose containers are not all ok,
  is brought up from the target release (its compose file decides services and jobs);
  projects the target release does not have are brought down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from .compute import ProjectSpec, compose_shape, project_digest
from .facts import HostFacts
from .model import ProjectChange, ServiceChange
from .release_files import load_compose


def previous_release(current: str | None, releases: Sequence[str], log_lines: Sequence[str]) -> str | None:
    """The release to roll back to (see module doc), or None when there is none."""
    present = set(releases)
    for line in reversed(log_lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        rid = entry.get("release")
        if entry.get("result") == "ok" and rid and rid != current and rid in present:
            return str(rid)
    older = sorted(r for r in releases if current is None or r < current)
    return older[-1] if older else None


def rollback_projects(
    current_hashes: Mapping[str, str],
    target_hashes: Mapping[str, str],
    target_texts: Mapping[str, str],
    facts: HostFacts,
    specs: Mapping[str, ProjectSpec],
    env: str,
) -> list[ProjectChange]:
    """Projects to converge when ``current`` goes back to the target release (see module doc)."""
    manifest = json.loads(target_texts.get("manifest.json", "{}") or "{}")
    order: list[str] = [str(p) for p in manifest.get("projects", [])]
    prefix = f"zixly-{env}-"
    dirs = {p: p[len(prefix) :] if p.startswith(prefix) else p for p in order}
    out: list[ProjectChange] = []
    for project in order:
        directory = dirs[project]
        doc = load_compose(target_texts.get(f"{directory}/compose.yaml"))
        if doc is None:
            continue
        changed = sorted(
            p
            for p in set(current_hashes) | set(target_hashes)
            if p.startswith(directory + "/") and current_hashes.get(p) != target_hashes.get(p)
        )
        conts = facts.project_containers(project)
        unhealthy = [c.name for c in conts if not c.ok]
        if not changed and conts and not unhealthy:
            continue
        spec = specs.get(directory, ProjectSpec(directory))
        reasons = [f"{len(changed)} file(s) differ"] if changed else []
        if unhealthy or not conts:
            reasons.append("containers not all healthy" if conts else "no containers")
        shape = compose_shape(doc)
        out.append(
            ProjectChange(
                project=project,
                directory=directory,
                action="up",
                stage=spec.stage,
                wait_timeout=spec.wait_timeout,
                shape=shape,
                reasons=tuple(reasons),
                services=tuple(ServiceChange(s, "recreate", "back to the previous release") for s in shape.waited),
                previous_shape=None,
                digest=project_digest(target_hashes, directory),
            )
        )
    for project in facts.projects:
        if project not in dirs:
            out.insert(
                0,
                ProjectChange(
                    project=project,
                    directory=project[len(prefix) :] if project.startswith(prefix) else project,
                    action="down",
                    stage=99,
                    wait_timeout=180,
                    shape=compose_shape({}),
                    reasons=("not in the release rolled back to",),
                ),
            )
    return out


def target_paths(target_hashes: Mapping[str, str]) -> list[str]:
    """The non-secret files of the target release the rollback needs to read."""
    return sorted(p for p in target_hashes if p == "manifest.json" or p.endswith("/compose.yaml"))
