"""The plan: what a deploy would change on each host. Immutable data, no behaviour but views.

A :class:`HostPlan` lists file changes (with unified diffs for non-secret files; secret
files only as ``changed (secret, N bytes)``), the Compose projects to bring up or down
with the services Compose will create/recreate/start/remove, networks and images to
provide, and the hooks that would run. ``steps`` (see :mod:`.steps`) is the same plan
as an ordered list of executable steps: the deploy executor runs them, the printing
executor prints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..catalog.upgrades import Move
from ..errors import Problem
from .datamove import DataMove
from .drift import Finding
from .facts import LockInfo
from .prepare import PrepareChange
from .upgrade import upgrade_json

FileKind = Literal["added", "changed", "removed", "mode"]
ServiceAction = Literal["create", "recreate", "start", "rerun", "remove"]
ImageAction = Literal["load", "pull", "build"]


@dataclass(frozen=True)
class FileChange:
    """One file of the release that differs from the host's ``current``."""

    path: str
    kind: FileKind
    secret: bool
    size: int
    mode: str
    old_mode: str = ""
    diff: str | None = None  # unified diff, never for secret files

    def summary(self) -> str:
        """One line; secret files never show content."""
        if self.kind == "mode":
            return f"mode {self.path}: {self.old_mode} -> {self.mode}"
        if self.secret:
            return f"{self.kind} {self.path} (secret, {self.size} bytes)"
        return f"{self.kind} {self.path} ({self.size} bytes)"


@dataclass(frozen=True)
class ServiceChange:
    """What Compose will do to one service of a project, and why."""

    service: str
    action: ServiceAction
    reason: str


@dataclass(frozen=True)
class ComposeShape:
    """Which services ``up --wait`` waits for and which one-shot jobs run on their own."""

    waited: tuple[str, ...]
    jobs: tuple[str, ...]  # one-shot services nothing depends on (compose#11638)


@dataclass(frozen=True)
class ProjectChange:
    """A Compose project to bring up (``up``) or remove (``down``)."""

    project: str
    directory: str
    action: Literal["up", "down"]
    stage: int
    wait_timeout: int
    shape: ComposeShape
    reasons: tuple[str, ...] = ()
    services: tuple[ServiceChange, ...] = ()
    hooks: tuple[str, ...] = ()
    # how to undo it when the health gate rolls back: None = bring it down
    previous_shape: ComposeShape | None = None
    digest: str = ""  # of the files it is brought up from (recorded on the host once healthy)
    previous_digest: str = ""

    @property
    def compose_file(self) -> str:
        """Release-relative compose file."""
        return f"{self.directory}/compose.yaml"


@dataclass(frozen=True)
class ImageChange:
    """An image the host needs before anything is stopped."""

    ref: str
    action: ImageAction
    reason: str


@dataclass(frozen=True)
class HostPlan:
    """Everything a deploy would do on one host."""

    host: str
    env: str
    base_dir: str
    release_from: str | None
    release_to: str | None  # None: the files on the host are already these
    files: tuple[FileChange, ...] = ()
    projects: tuple[ProjectChange, ...] = ()
    networks: tuple[str, ...] = ()
    images: tuple[ImageChange, ...] = ()
    warnings: tuple[str, ...] = ()
    lock: LockInfo | None = None
    unchanged_projects: tuple[str, ...] = ()
    docker: bool = True
    releases: tuple[str, ...] = ()  # releases present on the host, oldest first
    prepare: tuple[PrepareChange, ...] = ()  # host preparation still needed
    drift: tuple[Finding, ...] = ()  # how the host differs from its release (not changes: see plan.drift)
    edited: tuple[str, ...] = ()  # files edited by hand on the host that this plan overwrites or removes
    upgrades: tuple[Move, ...] = ()  # version moves against the host's current release (plan.upgrade)
    refused: tuple[Problem, ...] = ()  # version moves the catalog's upgrade rules forbid
    data_moves: tuple[DataMove, ...] = ()  # data-store majors moved to a new volume (plan.datamove)

    @property
    def changed(self) -> bool:
        """True when a deploy would change anything on this host."""
        return bool(self.files or self.projects or self.networks or self.images or self.prepare)

    @property
    def hooks(self) -> tuple[str, ...]:
        """Hooks that would run after a healthy deploy, in project order."""
        return tuple(h for p in self.projects if p.action == "up" for h in p.hooks)

    def counts(self) -> dict[str, int]:
        """Numbers for summaries."""
        svc = [s for p in self.projects for s in p.services]
        return {
            "files": len(self.files),
            "projects": len(self.projects),
            "create": sum(s.action == "create" for s in svc),
            "recreate": sum(s.action == "recreate" for s in svc),
            "remove": sum(s.action == "remove" for s in svc) + sum(p.action == "down" for p in self.projects),
            "networks": len(self.networks),
            "images": len(self.images),
            "prepare": len(self.prepare),
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (secret files carry no content, diffs only for non-secret files)."""
        return {
            "host": self.host,
            "changed": self.changed,
            "release": {"from": self.release_from, "to": self.release_to},
            "lock": None if self.lock is None else self.lock.describe(),
            "files": [
                {
                    "path": f.path,
                    "change": f.kind,
                    "secret": f.secret,
                    "bytes": f.size,
                    "mode": f.mode,
                    **({"old_mode": f.old_mode} if f.old_mode else {}),
                    **({"diff": f.diff} if f.diff is not None and not f.secret else {}),
                }
                for f in self.files
            ],
            "projects": [
                {
                    "project": p.project,
                    "action": p.action,
                    "reasons": list(p.reasons),
                    "services": [{"service": s.service, "action": s.action, "reason": s.reason} for s in p.services],
                    "hooks": list(p.hooks),
                }
                for p in self.projects
            ],
            "unchanged_projects": list(self.unchanged_projects),
            "networks": list(self.networks),
            "images": [{"ref": i.ref, "action": i.action, "reason": i.reason} for i in self.images],
            "hooks": list(self.hooks),
            "prepare": [
                {
                    "step": c.step,
                    "summary": c.summary,
                    "files": [f[0] for f in c.files],
                    "commands": [list(a) for a in c.argvs],
                }
                for c in self.prepare
            ],
            "warnings": list(self.warnings),
            "drift": [f.to_json() for f in self.drift],
            "overwrites_edited": list(self.edited),
            "upgrades": upgrade_json(self.upgrades, self.data_moves),
            "counts": self.counts(),
        }


@dataclass(frozen=True)
class Plan:
    """The plan of one environment: one :class:`HostPlan` per host."""

    env: str
    hosts: tuple[HostPlan, ...]

    @property
    def changed(self) -> bool:
        """True when any host would change."""
        return any(h.changed for h in self.hosts)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready view of the whole plan."""
        return {"environment": self.env, "changed": self.changed, "hosts": [h.to_json() for h in self.hosts]}
