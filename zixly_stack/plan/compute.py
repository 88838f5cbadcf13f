"""PURE planner: (rendered files of a host, host facts) -> :class:`HostPlan`.

Contract
--------
* Files: every rendered file is compared by sha256 (and mode) with the host's
  ``current`` release. Changed non-secret files get a unified diff when their old text
  is given (:func:`texts_needed` says which to fetch); secret files never do.
* Projects: a project is brought ``up`` when one of its files changed or one of its
  containers is missing, stopped, failed (jobs) or runs an outdated image; it is brought
  ``down`` when the host still runs it but the release no longer has it. Per service the
  plan says what Compose will do: ``create`` (no container), ``recreate`` (definition,
  mounted-file hash or image changed), ``start`` (stopped), ``rerun`` (one-shot job),
  ``remove`` (no longer defined).
* Networks named in the manifest that the host lacks are created; images the host lacks
  (or holds in an older build than the deployer's engine, offline kit) are loaded,
  pulled (registries) or built (the local engine).
* Hooks of projects brought up are listed; they run after a healthy deploy.
* A host with nothing to change yields a plan whose ``changed`` is False and whose
  ``release_to`` is None: the deploy then touches nothing at all.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..catalog.upgrades import Move
from ..render.tree import RenderedFile
from .datamove import DataMove, data_move
from .drift import edited_files, find_drift
from .facts import ContainerFact, HostFacts
from .model import ComposeShape, FileChange, HostPlan, ImageChange, ProjectChange, ServiceChange
from .paths import EnvPaths
from .prepare import PrepareSpec, plan_prepare
from .release_files import load_compose, manifest_of, projects_of
from .upgrade import UpgradeInputs, host_upgrades, manifest_versions

ImageSource = Literal["upstream", "mirror", "offline"]
DEFAULT_WAIT = 180


@dataclass(frozen=True)
class ProjectSpec:
    """Catalog facts about a project that the rendered files do not carry."""

    directory: str
    stage: int = 3
    wait_timeout: int = DEFAULT_WAIT
    hooks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """One host to plan for and how images reach it."""

    host: str
    env: str
    base_dir: str
    image_source: ImageSource = "upstream"
    local: bool = False  # the host's engine is the deployer's engine
    prepare: PrepareSpec | None = None  # host preparation (None: none, e.g. @local)

    @property
    def paths(self) -> EnvPaths:
        """Where the environment lives on the host."""
        return EnvPaths(self.base_dir, self.env)


def host_files(files: Sequence[RenderedFile], host: str) -> dict[str, RenderedFile]:
    """The host's files keyed by release-relative path."""
    prefix = host + "/"
    return {f.path[len(prefix) :]: f for f in files if f.path.startswith(prefix)}


def _mode(f: RenderedFile) -> str:
    return f"{f.mode:04o}"


def texts_needed(files: Mapping[str, RenderedFile], facts: HostFacts) -> list[str]:
    """Non-secret files whose old text the planner needs: changed and removed ones (never secrets)."""
    secret_old = _old_secret_paths(facts, files)
    out = [p for p, f in files.items() if not f.secret and p in facts.files and facts.files[p] != f.sha256]
    out += [p for p in facts.files if p not in files and p not in secret_old]
    return sorted(out)


def _old_secret_paths(facts: HostFacts, files: Mapping[str, RenderedFile]) -> set[str]:
    """Removed files that held secrets: render keeps them under ``env/`` and ``secrets/``."""
    return {p for p in facts.files if p not in files and ({"env", "secrets"} & set(p.split("/")[:-1]))}


def project_digest(hashes: Mapping[str, str], directory: str) -> str:
    """Digest of a project's files (release-relative path -> sha256): what ``.applied/<project>`` records."""
    digest = hashlib.sha256()
    for path in sorted(p for p in hashes if p.startswith(directory + "/")):
        digest.update(f"{path}\0{hashes[path]}\n".encode())
    return digest.hexdigest()


def _diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}", n=2
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def file_changes(
    files: Mapping[str, RenderedFile], facts: HostFacts, old_texts: Mapping[str, str]
) -> tuple[FileChange, ...]:
    """Added/changed/removed files and mode drift, sorted by path."""
    out: list[FileChange] = []
    for path, f in sorted(files.items()):
        size = len(f.text.encode())
        old = facts.files.get(path)
        if old is None:
            out.append(FileChange(path, "added", f.secret, size, _mode(f)))
        elif old != f.sha256:
            diff = None
            if not f.secret and path in old_texts:
                diff = _diff(path, old_texts[path], f.text)
            out.append(FileChange(path, "changed", f.secret, size, _mode(f), diff=diff))
        elif facts.modes.get(path, _mode(f)) != _mode(f):
            out.append(FileChange(path, "mode", f.secret, size, _mode(f), old_mode=facts.modes[path]))
    secret_old = _old_secret_paths(facts, files)
    for path in sorted(set(facts.files) - set(files)):
        out.append(FileChange(path, "removed", path in secret_old, 0, facts.modes.get(path, "")))
    return tuple(sorted(out, key=lambda c: c.path))




def backup_units(files: Mapping[str, RenderedFile]) -> dict[str, str]:
    """The nightly backup's rendered units: ``service``/``timer``/``cron`` -> text (empty: no backups)."""
    out = {}
    for path, f in files.items():
        head, _, name = path.rpartition("/")
        stem, _, suffix = name.rpartition(".")
        if head == "backup" and stem.startswith("zixly-backup-") and suffix in ("service", "timer", "cron"):
            out[suffix] = f.text
    return out


def compose_shape(doc: Mapping[str, Any]) -> ComposeShape:
    """Split services into those ``up --wait`` waits for and stand-alone one-shot jobs.

    A one-shot job (``restart: "no"``) that some service depends on is handled by
    Compose's ``depends_on`` and waited for as part of the project; one that nothing
    depends on is run on its own, because ``up --wait`` reports any exited container,
    even one that exited 0, as a failure (compose#11638).
    """
    services: Mapping[str, Any] = doc.get("services") or {}
    depended = {dep for s in services.values() for dep in _depends(s)}
    jobs = tuple(n for n, s in services.items() if _is_job(s) and n not in depended)
    waited = tuple(n for n in services if n not in jobs)
    return ComposeShape(waited, jobs)


def _depends(service: Mapping[str, Any]) -> list[str]:
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, (list, dict)) else []


def _is_job(service: Mapping[str, Any]) -> bool:
    return service.get("restart") in ("no", False)


def _image_changes(
    target: Target, refs: Sequence[str], facts: HostFacts, local_images: Mapping[str, str] | None
) -> tuple[ImageChange, ...]:
    out: list[ImageChange] = []
    for ref in sorted(set(refs)):
        have = facts.images.get(ref)
        want = (local_images or {}).get(ref)
        if have and (not want or target.local or have == want):
            continue
        if target.local:
            out.append(ImageChange(ref, "build", "not in this machine's engine"))
        elif target.image_source == "offline" or (want and not have):
            reason = "not on the host" if not have else "the host has an older build"
            out.append(ImageChange(ref, "load", reason))
        else:
            out.append(ImageChange(ref, "pull", "not on the host"))
    return tuple(out)


def _service_changes(
    doc: Mapping[str, Any],
    old_doc: Mapping[str, Any] | None,
    containers: Sequence[ContainerFact],
    image_ids: Mapping[str, str],
) -> list[ServiceChange]:
    services: Mapping[str, Any] = doc.get("services") or {}
    old_services: Mapping[str, Any] = (old_doc or {}).get("services") or {}
    by_service: dict[str, list[ContainerFact]] = {}
    for c in containers:
        by_service.setdefault(c.service, []).append(c)
    out: list[ServiceChange] = []
    for name, svc in services.items():
        conts = by_service.get(name, [])
        reason = _service_reason(name, svc, old_services, old_doc is not None, conts, image_ids)
        if reason is not None:
            out.append(ServiceChange(name, reason[0], reason[1]))  # type: ignore[arg-type]
    for name in sorted(set(by_service) - set(services)):
        out.append(ServiceChange(name, "remove", "no longer defined"))
    return out


def _service_reason(
    name: str,
    svc: Mapping[str, Any],
    old_services: Mapping[str, Any],
    have_old: bool,
    conts: Sequence[ContainerFact],
    image_ids: Mapping[str, str],
) -> tuple[str, str] | None:
    if not conts:
        return ("create", "no container")
    c = conts[0]
    labels = svc.get("labels") or {}
    want_hash = str(labels.get("org.zixly.files-hash", ""))
    if want_hash and c.files_hash != want_hash:
        return ("recreate", "mounted files or env changed")
    if have_old and old_services.get(name) != svc:
        return ("recreate", "definition changed")
    want_image = image_ids.get(str(svc.get("image", "")))
    if want_image and c.image_id and c.image_id != want_image:
        return ("recreate", "image changed")
    if _is_job(svc):
        if c.status == "exited" and c.exit_code != 0:
            return ("rerun", f"last run exited {c.exit_code}")
        if c.status == "created":
            return ("rerun", "never ran")
        return None
    if c.status != "running":
        return ("start", f"container is {c.status or 'missing'}")
    return None


def _project_change(
    target: Target,
    directory: str,
    project: str,
    spec: ProjectSpec,
    files: Mapping[str, RenderedFile],
    changes: Sequence[FileChange],
    facts: HostFacts,
    old_texts: Mapping[str, str],
    image_ids: Mapping[str, str],
) -> ProjectChange | None:
    compose_path = f"{directory}/compose.yaml"
    doc = load_compose(files[compose_path].text) or {}
    changed_files = [c for c in changes if c.path.startswith(directory + "/")]
    old_doc: Mapping[str, Any] | None
    if compose_path in facts.files:
        if facts.files[compose_path] == files[compose_path].sha256:
            old_doc = doc
        else:
            old_doc = load_compose(old_texts.get(compose_path))
    else:
        old_doc = None
    conts = facts.project_containers(project)
    services = _service_changes(doc, old_doc, conts, image_ids)
    digest = project_digest({p: f.sha256 for p, f in files.items()}, directory)
    applied = facts.applied.get(project)
    unfinished = bool(conts) and applied is not None and applied != digest and not changed_files
    if not changed_files and not services and not unfinished:
        return None
    reasons = []
    if changed_files:
        reasons.append(f"{len(changed_files)} file(s) changed")
    if services:
        reasons.append(f"{len(services)} service(s) to change")
    if unfinished:
        reasons.append("an earlier deploy did not finish bringing it up from these files")
    previous = compose_shape(old_doc) if old_doc is not None and conts else None
    if old_doc is None and compose_path in facts.files and conts:
        previous = compose_shape(doc)  # old text unknown: same shape is the best guess
    return ProjectChange(
        project=project,
        directory=directory,
        action="up",
        stage=spec.stage,
        wait_timeout=spec.wait_timeout,
        shape=compose_shape(doc),
        reasons=tuple(reasons),
        services=tuple(services),
        hooks=spec.hooks,
        previous_shape=previous,
        digest=digest,
        previous_digest=project_digest(facts.files, directory) if compose_path in facts.files else "",
    )


def _removed_projects(
    target: Target, keep: set[str], facts: HostFacts, old_texts: Mapping[str, str]
) -> list[ProjectChange]:
    out = []
    for project in facts.projects:
        if project in keep:
            continue
        prefix = f"zixly-{target.env}-"
        directory = project[len(prefix) :] if project.startswith(prefix) else project
        old_doc = load_compose(old_texts.get(f"{directory}/compose.yaml"))
        conts = facts.project_containers(project)
        out.append(
            ProjectChange(
                project=project,
                directory=directory,
                action="down",
                stage=99,
                wait_timeout=DEFAULT_WAIT,
                shape=ComposeShape((), ()),
                reasons=("no longer in the release",),
                services=tuple(ServiceChange(c.service, "remove", "project removed") for c in conts),
                previous_shape=compose_shape(old_doc) if old_doc is not None else None,
                previous_digest=project_digest(facts.files, directory),
            )
        )
    return out


def plan_host(
    target: Target,
    files: Sequence[RenderedFile],
    facts: HostFacts,
    specs: Mapping[str, ProjectSpec],
    *,
    old_texts: Mapping[str, str] | None = None,
    local_images: Mapping[str, str] | None = None,
    release_id: str = "<new>",
    upgrades: UpgradeInputs | None = None,
) -> HostPlan:
    """Plan one host (see module doc). *files* may hold every host's files; only *target*'s are used.

    With *upgrades* (the catalog's rules), version moves against the host's current release are
    planned too (:mod:`.upgrade`)."""
    mine = host_files(files, target.host)
    texts = old_texts or {}
    changes = file_changes(mine, facts, texts)
    refs = []
    for path, f in mine.items():
        if path.endswith("/compose.yaml"):
            doc = load_compose(f.text) or {}
            refs += [str(s["image"]) for s in (doc.get("services") or {}).values() if s.get("image")]
    images = _image_changes(target, refs, facts, local_images)
    image_ids = {**facts.images, **(local_images or {})}
    projects: list[ProjectChange] = []
    unchanged: list[str] = []
    ordered = projects_of(mine)
    for directory, project in ordered:
        spec = specs.get(directory, ProjectSpec(directory))
        change = _project_change(target, directory, project, spec, mine, changes, facts, texts, image_ids)
        if change is None:
            unchanged.append(project)
        else:
            projects.append(change)
    removed = _removed_projects(target, {p for _, p in ordered}, facts, texts)
    networks = tuple(n for n in manifest_of(mine).get("networks", []) if n not in facts.networks)
    prepare, warnings_ = plan_prepare(target.prepare, facts.prepare, backup_units(mine))
    warnings = list(warnings_)
    if not facts.docker and not any(c.step == "docker" for c in prepare):
        warnings.append("no docker engine answers on this host")
    for c in facts.containers:
        if c.status == "running" and c.health == "unhealthy":
            warnings.append(f"container {c.name} is unhealthy")
    replaced = {c.path for c in changes if c.kind in ("changed", "removed")}
    edited = tuple(sorted(p for p, what in edited_files(mine, facts).items() if what == "edited" and p in replaced))
    inputs = upgrades or UpgradeInputs()
    moves, refused = host_upgrades(inputs, manifest_versions(facts.manifest), manifest_versions(manifest_of(mine)))
    return HostPlan(
        upgrades=moves,
        refused=refused,
        data_moves=_data_moves(target.env, inputs, moves, mine, facts),
        drift=find_drift(target.host, target.env, mine, facts, target.prepare),
        edited=edited,
        host=target.host,
        env=target.env,
        base_dir=target.base_dir,
        release_from=facts.release,
        release_to=release_id if changes else None,
        files=changes,
        projects=tuple(removed + projects),
        networks=networks,
        images=images,
        warnings=tuple(warnings),
        lock=facts.lock,
        unchanged_projects=tuple(unchanged),
        docker=facts.docker,
        releases=facts.releases,
        prepare=prepare,
    )


def _data_moves(env: str, inputs: UpgradeInputs, moves: Sequence[Move], mine: Mapping[str, RenderedFile],
                facts: HostFacts) -> tuple[DataMove, ...]:
    """The data-store majors of *moves* whose data goes to a new volume (:mod:`.datamove`)."""
    out = []
    for m in moves:
        f = mine.get(f"{m.service}/compose.yaml")
        found = data_move(env, m, inputs.engines.get(m.service), load_compose(f.text) if f else None,
                          facts.manifest, inputs.major(m.service, m.dst))
        if found is not None:
            out.append(found)
    return tuple(out)
