"""A host plan as ordered, executable steps. Pure.

The deploy executor (:mod:`zixly_stack.deploy.apply`) maps each step to pyinfra
operations; the printing executor (:func:`print_steps`) prints them: a dry run is the
same steps with a different executor. A plan that changes nothing yields no steps.

Order (the rollback contract): prepare the new release beside the old one, upload,
validate it with ``compose config`` on the host, provide networks and images (before
anything is stopped), switch ``current`` atomically, converge projects behind the
health gate (which rolls back on failure), record the release, run hooks.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..commands import docker as dk
from ..render.tree import RenderedFile
from ..safepath import posix_inside
from .model import HostPlan, ImageChange, ProjectChange
from .paths import EnvPaths
from .prepare import PrepareChange
from .upgrade import checkpoint_tag, checkpointed

KEEP_RELEASES = 5


@dataclass(frozen=True)
class Step:
    """Base class: ``describe()`` for humans, ``argvs()`` for plain command steps."""

    def describe(self) -> str:
        """One line saying what the step does."""
        raise NotImplementedError

    def argvs(self) -> list[list[str]]:
        """The commands this step runs, if it is a plain command step."""
        return []


@dataclass(frozen=True)
class PrepareRelease(Step):
    """Create the release directory as a copy of ``current``, minus removed files, dirs in place."""

    paths: EnvPaths
    release_id: str
    copy_current: bool
    dirs: tuple[str, ...]
    secret_dirs: tuple[str, ...]
    remove: tuple[str, ...] = ()
    chmod: tuple[tuple[str, str], ...] = ()

    @property
    def directory(self) -> str:
        """The new release directory."""
        return self.paths.release(self.release_id)

    def describe(self) -> str:
        src = "a copy of current" if self.copy_current else "empty"
        return f"prepare release {self.release_id} ({src})"

    def argvs(self) -> list[list[str]]:
        d = self.directory
        tmp = posixpath.join(self.paths.root, ".tmp")
        out = [["mkdir", "-p", "-m", "0711", self.paths.root], ["mkdir", "-p", "-m", "0700", tmp, d]]
        if self.copy_current:
            out.append(["cp", "-a", self.paths.current + "/.", d + "/"])
        if self.remove:
            out.append(["rm", "-f", "--", *(posix_inside(d, p) for p in self.remove)])
        if self.dirs:
            out.append(["mkdir", "-p", "--", *(posix_inside(d, p) for p in self.dirs)])
        if self.secret_dirs:
            out.append(["chmod", "0700", "--", *(posix_inside(d, p) for p in self.secret_dirs)])
        for path, mode in self.chmod:
            out.append(["chmod", mode, "--", posix_inside(d, path)])
        return out


@dataclass(frozen=True)
class KeepEdited(Step):
    """``deploy --force``: copy the files edited by hand on the host out of ``current`` before the new
    release replaces them, to ``<env>/edited/<release id>/<path>`` (modes kept, 0700 directories)."""

    paths: EnvPaths
    release_id: str
    files: tuple[str, ...]

    @property
    def directory(self) -> str:
        """Where the edited copies go: beside ``releases/<id>``."""
        return posix_inside(posixpath.join(self.paths.root, "edited"), self.release_id)

    def kept(self, rel: str) -> str:
        """Where the edited copy of release-relative *rel* is kept."""
        return posix_inside(self.directory, rel)

    def describe(self) -> str:
        return f"keep {len(self.files)} file(s) edited by hand in {self.directory}"

    def argvs(self) -> list[list[str]]:
        dirs = sorted({posixpath.dirname(self.kept(f)) for f in self.files})
        out = [["mkdir", "-p", "-m", "0700", "--", self.directory, *dirs]]
        out += [["cp", "-p", "--", self.paths.in_current(f), self.kept(f)] for f in self.files]
        return out


@dataclass(frozen=True)
class PutFile:
    """One rendered file to upload into the new release (content comes from the render)."""

    dest: str
    rel: str
    mode: str
    secret: bool
    size: int

    def describe(self) -> str:
        """``app/env/web.env (secret, 212 bytes, mode 0600)``."""
        what = f"secret, {self.size} bytes" if self.secret else f"{self.size} bytes"
        return f"{self.rel} ({what}, mode {self.mode})"


@dataclass(frozen=True)
class UploadFiles(Step):
    """Upload the added and changed files as one archive (mode 0600, in the 0700 ``.tmp``), unpack, delete it.

    One transfer whatever the number of files; modes travel in the archive; existing
    directories (0700 for secrets, made by :class:`PrepareRelease`) keep their modes.
    """

    paths: EnvPaths
    release_id: str
    files: tuple[PutFile, ...]

    @property
    def archive(self) -> str:
        """Where the archive is uploaded."""
        return posixpath.join(self.paths.root, ".tmp", f"{self.release_id}.tar")

    def describe(self) -> str:
        secret = sum(f.secret for f in self.files)
        return f"upload {len(self.files)} file(s) ({secret} secret) as one archive"

    def argvs(self) -> list[list[str]]:
        """The unpack commands (the upload itself is a file transfer)."""
        d = self.paths.release(self.release_id)
        return [["tar", "-x", "-p", "-f", self.archive, "-C", d], ["rm", "-f", self.archive]]


@dataclass(frozen=True)
class CreateNetworks(Step):
    """Create the external networks projects join."""

    names: tuple[str, ...]

    def describe(self) -> str:
        return "create networks " + ", ".join(self.names)

    def argvs(self) -> list[list[str]]:
        return [dk.network_create(n) for n in self.names]


@dataclass(frozen=True)
class ProvideImages(Step):
    """Images to load from the deployer's engine, pull from a registry or build locally."""

    images: tuple[ImageChange, ...]

    def describe(self) -> str:
        return "images: " + ", ".join(f"{i.action} {i.ref}" for i in self.images)


@dataclass(frozen=True)
class CheckpointData(Step):
    """Before anything stops: a restic checkpoint of each upgraded service's data (tagged for its move,
    checked readable) and a free-space check (:mod:`zixly_stack.upgrade.checkpoint`)."""

    tags: tuple[str, ...]  # ``upgrade:<service>:<from>-><to>`` per move

    def describe(self) -> str:
        return "checkpoint (restic, checked readable) and free space: " + ", ".join(self.tags)


@dataclass(frozen=True)
class CheckCompose(Step):
    """``docker compose config --quiet`` for each changed project of the new release."""

    files: tuple[str, ...]

    def describe(self) -> str:
        return f"validate {len(self.files)} compose file(s) on the host"

    def argvs(self) -> list[list[str]]:
        return [dk.compose_config_check(f) for f in self.files]


@dataclass(frozen=True)
class SwitchCurrent(Step):
    """Point ``current`` at a release atomically (a renamed symlink)."""

    paths: EnvPaths
    release_id: str

    def describe(self) -> str:
        return f"switch current -> releases/{self.release_id}"

    def argvs(self) -> list[list[str]]:
        return switch_argvs(self.paths, self.release_id)


def switch_argvs(paths: EnvPaths, release_id: str) -> list[list[str]]:
    """``ln -sfn releases/<id> .current.tmp && mv -Tf .current.tmp current``."""
    return [
        ["ln", "-sfn", posixpath.join("releases", release_id), paths.current_tmp],
        ["mv", "-Tf", paths.current_tmp, paths.current],
    ]


@dataclass(frozen=True)
class Converge(Step):
    """Bring projects up/down in stages behind the health gate; roll back on failure."""

    paths: EnvPaths
    projects: tuple[ProjectChange, ...]
    previous_release: str | None
    new_release: str | None

    def describe(self) -> str:
        ups = [p.project for p in self.projects if p.action == "up"]
        downs = [p.project for p in self.projects if p.action == "down"]
        parts = []
        if downs:
            parts.append("down " + ", ".join(downs))
        if ups:
            parts.append("up --wait " + ", ".join(ups))
        return "; ".join(parts) + " (health-gated)"

    def stages(self) -> list[list[ProjectChange]]:
        """Downs first, then ups grouped by stage (stores, infra, edge, apps)."""
        return converge_stages(self.projects)

    def argvs(self) -> list[list[str]]:
        out: list[list[str]] = []
        for group in self.stages():
            for p in group:
                out.extend(project_argvs(self.paths, p))
        return out


def converge_stages(projects: Sequence[ProjectChange]) -> list[list[ProjectChange]]:
    """Downs first, then ups grouped by stage (stores 0, infra 1, edge 2, apps 3); order kept."""
    downs = [p for p in projects if p.action == "down"]
    ups = [p for p in projects if p.action == "up"]
    out = [downs] if downs else []
    out += [[p for p in ups if p.stage == s] for s in sorted({p.stage for p in ups})]
    return out


def undo_stages(projects: Sequence[ProjectChange]) -> list[list[ProjectChange]]:
    """For a rollback: every touched project grouped by stage, stores first."""
    return [[p for p in projects if p.stage == s] for s in sorted({p.stage for p in projects})]


def project_argvs(paths: EnvPaths, p: ProjectChange) -> list[list[str]]:
    """The compose commands that converge one project."""
    if p.action == "down":
        return [dk.compose_down(p.project)]
    file = paths.in_current(p.compose_file)
    out = [dk.compose_up_wait(file, p.shape.waited, p.wait_timeout)] if p.shape.waited else []
    out += [dk.compose_run_job(file, job) for job in p.shape.jobs]
    return out


PRUNE_UNLESS_MOUNTED = 'grep -qsF -- "$1" /proc/[0-9]*/mountinfo || rm -rf -- "$2"'


@dataclass(frozen=True)
class RecordRelease(Step):
    """Append to the release log and prune old releases (never current or previous)."""

    paths: EnvPaths
    release_id: str | None
    prune: tuple[str, ...] = ()

    def describe(self) -> str:
        extra = f", prune {len(self.prune)} old release(s)" if self.prune else ""
        return f"record release {self.release_id or '(same files)'}{extra}"

    def argvs(self) -> list[list[str]]:
        # A release a running container still mounts is kept: a bind mount is pinned to the
        # release directory it was created from (``current`` is resolved when the container
        # starts), so removing it emptied /etc/traefik under a Traefik that no deploy had to
        # recreate: its routes vanished (404 everywhere) and its healthcheck failed. The mount
        # table of every process names the directory a bind mount comes from.
        return [["sh", "-c", PRUNE_UNLESS_MOUNTED, "sh", f"/releases/{r}/", self.paths.release(r)] for r in self.prune]


@dataclass(frozen=True)
class RunHooks(Step):
    """Post-deploy hooks of the projects brought up (idempotent by contract)."""

    names: tuple[str, ...]

    def describe(self) -> str:
        return "hooks: " + ", ".join(self.names)


@dataclass(frozen=True)
class PrepareHost(Step):
    """Host preparation (:mod:`.prepare`): files written atomically, then each change's commands."""

    changes: tuple[PrepareChange, ...]
    # the schedules of the release being deployed: written only when it converged
    if_converged: bool = False

    def describe(self) -> str:
        return "prepare the host: " + "; ".join(f"{c.step}: {c.summary}" for c in self.changes)

    def argvs(self) -> list[list[str]]:
        return [list(a) for c in self.changes for a in c.argvs]


@dataclass(frozen=True)
class HostSteps:
    """The steps of one host, in order."""

    host: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


def _dirs(paths: Sequence[str]) -> list[str]:
    out: set[str] = set()
    for p in paths:
        parent = posixpath.dirname(p)
        while parent:
            out.add(parent)
            parent = posixpath.dirname(parent)
    return sorted(out)


RELEASE_SCHEDULES = frozenset({"backup_schedule", "health_schedule"})


def host_steps(plan: HostPlan, files: Mapping[str, RenderedFile], release_id: str | None = None) -> HostSteps:
    """The ordered steps that carry out *plan* (*files*: the host's rendered files by relative path).

    Files edited by hand that the plan replaces (``plan.edited``; the deploy runs such a plan
    only with ``--force``) are first copied out of ``current`` (:class:`KeepEdited`)."""
    paths = EnvPaths(plan.base_dir, plan.env)
    if not plan.changed:
        return HostSteps(plan.host)
    rid = release_id or plan.release_to
    if plan.prepare and not (plan.files or plan.projects or plan.networks or plan.images):
        return HostSteps(plan.host, (PrepareHost(plan.prepare),))
    # The schedules (backup timer, health agent) describe the release being deployed: they are
    # installed once it is current and recorded, and only if it converged, so a deploy that
    # fails and rolls back leaves the previous release's schedules (and a second plan shows
    # nothing left to do).
    late = tuple(c for c in plan.prepare if c.step in RELEASE_SCHEDULES)
    early = tuple(c for c in plan.prepare if c.step not in RELEASE_SCHEDULES)
    steps: list[Step] = [PrepareHost(early)] if early else []
    new_files = plan.release_to is not None and rid is not None
    if new_files and rid is not None and plan.edited:
        steps.append(KeepEdited(paths, rid, plan.edited))
    if new_files and rid is not None:
        secret_dirs = sorted({posixpath.dirname(p) for p, f in files.items() if f.secret})
        steps.append(
            PrepareRelease(
                paths,
                rid,
                copy_current=plan.release_from is not None,
                dirs=tuple(_dirs(list(files))),
                secret_dirs=tuple(secret_dirs),
                remove=tuple(c.path for c in plan.files if c.kind == "removed"),
                chmod=tuple((c.path, c.mode) for c in plan.files if c.kind == "mode"),
            )
        )
        base = paths.release(rid)
        puts = tuple(
            PutFile(posix_inside(base, c.path), c.path, c.mode, c.secret, c.size)
            for c in plan.files
            if c.kind in ("added", "changed")
        )
        if puts:
            steps.append(UploadFiles(paths, rid, puts))
        checks = tuple(posixpath.join(base, p.compose_file) for p in plan.projects if p.action == "up")
        if checks:
            steps.append(CheckCompose(checks))
    if plan.networks:
        steps.append(CreateNetworks(plan.networks))
    if plan.images:
        steps.append(ProvideImages(plan.images))
    tags = tuple(checkpoint_tag(m) for m in plan.upgrades if checkpointed(m))
    if tags and plan.projects:
        steps.append(CheckpointData(tags))
    if new_files and rid is not None:
        steps.append(SwitchCurrent(paths, rid))
    if plan.projects:
        steps.append(Converge(paths, plan.projects, plan.release_from, rid if new_files else None))
    steps.append(RecordRelease(paths, rid if new_files else None, prune_candidates(plan, rid if new_files else None)))
    if late:
        steps.append(PrepareHost(late, if_converged=True))
    if plan.hooks:
        steps.append(RunHooks(plan.hooks))
    return HostSteps(plan.host, tuple(steps))


def prune_candidates(plan: HostPlan, new_release: str | None, keep: int = KEEP_RELEASES) -> tuple[str, ...]:
    """Releases beyond the newest *keep* (never the previous nor the new one)."""
    if new_release is None:
        return ()
    present = sorted(set(plan.releases) | {new_release})
    protect = {new_release, plan.release_from}
    old = present[: max(0, len(present) - keep)]
    return tuple(r for r in old if r not in protect)


def print_steps(steps: HostSteps) -> list[str]:
    """The printing executor: every step and the commands it would run, as text lines."""
    lines = [f"host {steps.host}:"]
    if not steps.steps:
        return [*lines, "  nothing to do"]
    for i, step in enumerate(steps.steps, 1):
        lines.append(f"  {i}. {step.describe()}")
        if isinstance(step, UploadFiles):
            lines.extend(f"       + {f.describe()}" for f in step.files)
        lines.extend(f"       $ {shlex.join(argv)}" for argv in step.argvs())
    return lines
