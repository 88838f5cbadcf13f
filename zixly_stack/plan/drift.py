"""Drift: where a host differs from the release zixly deployed there. PURE: (facts, rendered files) -> findings.

Contract
--------
The baseline is the host's own record of the last deploy -- ``current/manifest.json``
(a sha256 per non-secret file, a keyed hash per secret file) -- not the render of
today's git: what git changed since is a pending change (``zixly plan``), what the host
changed since is drift. Each :class:`Finding` names its host, a kind, the subject, what
was expected, what was found and a hint:

* ``edited-file`` / ``missing-file`` -- a file of the release whose sha256 on the host is
  not the manifest's (a secret file is checked only when the render makes the very content
  the release recorded -- same keyed hash -- and then says "differs", never a value or a
  plain hash); ``unknown-file`` -- a file in the release nobody rendered;
  ``traefik-file`` -- such a file in Traefik's file-provider directory (a route zixly
  did not write; ``demo-*.yml`` are ``zixly demo``'s and are ours);
* ``container-config`` -- a container whose Compose config hash is not the one Compose
  computes from the release's compose file (not reported for a project with an edited or
  missing file: that file is the finding);
* ``image`` -- containers running an image other than the one their pinned tag resolves to
  on the host now (the tag was pulled again or retagged after the deploy), one per tag;
* ``stray-container`` / ``stray-volume`` / ``stray-network`` -- in one of the environment's
  Compose projects (or carrying its ``org.zixly.env`` label) but not made by its release:
  a ``docker run --label com.docker.compose.project=...``, a one-off ``compose run``, a
  volume or network the project's compose file does not declare (backup drills' scratch
  projects ``zixly-<env>-drill*`` are ours);
* ``schedule`` -- the backup timer or the health agent's timer (systemd units, or the cron
  line) missing or not the one the release (backup) or the render (health) has.

Secrets never appear in a finding: secret files "differ", env values are never read.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..render.tree import RenderedFile
from .facts import HostFacts
from .prepare import PrepareSpec, sha256, timer_paths
from .release_files import load_compose, manifest_of, projects_of

Kind = Literal[
    "edited-file", "missing-file", "unknown-file", "traefik-file", "container-config", "image",
    "stray-container", "stray-volume", "stray-network", "schedule",
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
CONFIG_HASH = "com.docker.compose.config-hash"
SECRET_SHOWN = "(secret: content not shown)"


@dataclass(frozen=True)
class Finding:
    """One way a host differs from its deployed release."""

    kind: Kind
    host: str
    subject: str
    expected: str
    found: str
    hint: str

    def line(self) -> str:
        """One readable line: ``host: kind subject: found ... (expected ...)``."""
        return f"{self.host}: {self.kind} {self.subject}: {self.found} (expected {self.expected})"

    def to_json(self) -> dict[str, str]:
        """A stable JSON object (keys: kind, host, subject, expected, found, hint)."""
        return {"kind": self.kind, "host": self.host, "subject": self.subject, "expected": self.expected,
                "found": self.found, "hint": self.hint}


def short(digest: str) -> str:
    """The first 12 hex digits of a sha256 (``sha256:`` prefix dropped)."""
    return digest.removeprefix("sha256:")[:12]


def _entries(manifest: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    files = (manifest or {}).get("files") or []
    return {str(e["path"]): e for e in files if isinstance(e, dict) and "path" in e}


def edited_files(files: Mapping[str, RenderedFile], facts: HostFacts) -> dict[str, Literal["edited", "missing"]]:
    """Files of the host's release changed or removed by hand: path -> ``edited`` | ``missing``.

    Non-secret files against the manifest's sha256; a secret file only when the render of
    *files* (host-relative) makes the content the release recorded (equal keyed hashes)."""
    host_entries = _entries(facts.manifest)
    rendered = _entries(manifest_of(files))
    out: dict[str, Literal["edited", "missing"]] = {}
    for path, entry in host_entries.items():
        have = facts.files.get(path)
        if have is None:
            out[path] = "missing"
            continue
        if not entry.get("secret"):
            want = entry.get("sha256")
        elif (r := rendered.get(path)) is not None and r.get("hmac") == entry.get("hmac") and path in files:
            want = files[path].sha256
        else:
            want = None  # a secret the render no longer makes: its deployed content cannot be known here
        if want is not None and have != want:
            out[path] = "edited"
    return out


def _file_findings(host: str, files: Mapping[str, RenderedFile], facts: HostFacts) -> list[Finding]:
    if facts.manifest is None or not isinstance(facts.manifest.get("files"), list):
        found = "missing or not JSON" if facts.manifest is None else "no file list (an older release)"
        return [Finding("missing-file", host, "manifest.json", f"the manifest of release {facts.release}", found,
                        "the release's record of its files is gone: they cannot be checked; the next deploy "
                        "writes a new release")]
    entries = _entries(facts.manifest)
    release = facts.release or "?"
    out = []
    for path, what in sorted(edited_files(files, facts).items()):
        entry = entries[path]
        secret = bool(entry.get("secret"))
        if what == "missing":
            out.append(Finding("missing-file", host, path, f"the file of release {release}", "missing",
                               "deleted by hand; the next deploy writes it again"))
            continue
        expected = SECRET_SHOWN if secret else f"sha256 {short(str(entry.get('sha256')))}"
        found = "differs " + SECRET_SHOWN if secret else f"sha256 {short(facts.files[path])}"
        out.append(Finding("edited-file", host, path, f"{expected} as release {release} wrote it", found,
                           "edited by hand: `zixly deploy` refuses to overwrite it; change the definition in git "
                           "instead, or deploy with --force (it keeps the edited copy beside the release)"))
    dynamic = {posixpath.dirname(p) for p in entries if posixpath.basename(posixpath.dirname(p)) == "dynamic"}
    for path in sorted(set(facts.files) - set(entries) - {"manifest.json"}):
        folder, name = posixpath.split(path)
        if folder in dynamic:
            if name.startswith("demo-") and name.endswith(".yml"):
                continue  # a client demo's routes (`zixly demo`)
            out.append(Finding("traefik-file", host, path, "only the release's dynamic files", "a file zixly did not "
                               "write in Traefik's file-provider directory", "Traefik serves the routes it "
                               "declares; move them into the catalog (or remove the file)"))
        else:
            out.append(Finding("unknown-file", host, path, "not in release " + release, "present",
                               "added by hand; the next deploy leaves it out of the new release"))
    return out


@dataclass(frozen=True)
class _Projects:
    """What the environment's projects are made of: project -> release dir, services, volumes, networks."""

    dirs: dict[str, str]
    services: dict[str, set[str]]
    volumes: dict[str, set[str]]
    networks: dict[str, set[str]]


def _projects(files: Mapping[str, RenderedFile], facts: HostFacts) -> _Projects:
    dirs = {project: directory for directory, project in projects_of(files)}
    services: dict[str, set[str]] = {}
    volumes: dict[str, set[str]] = {}
    networks: dict[str, set[str]] = {}
    for project, directory in dirs.items():
        doc = load_compose(files[f"{directory}/compose.yaml"].text) or {}
        services[project] = set((doc.get("services") or {}).keys())
        volumes[project] = _declared(doc.get("volumes"), project)
        networks[project] = _declared(doc.get("networks"), project)
    for project in (facts.manifest or {}).get("projects") or []:  # deployed, perhaps no longer rendered
        dirs.setdefault(str(project), "")
    return _Projects(dirs, services, volumes, networks)


def _declared(section: Any, project: str) -> set[str]:
    out = set()
    for key, spec in (section or {}).items():
        spec = spec or {}
        out.add(str(spec.get("name") or f"{project}_{key}"))
    return out


def _container_findings(host: str, env: str, projects: _Projects, facts: HostFacts,
                        drifted_dirs: set[str]) -> list[Finding]:
    out = []
    drill = f"zixly-{env}-drill"
    for c in facts.labelled:
        ours_ns = c.project in projects.dirs or c.env == env
        if not ours_ns or c.project.startswith(drill):
            continue
        why = []
        if c.env != env:
            why.append(f"no org.zixly.env={env} label")
        if c.project not in projects.dirs:
            why.append(f"project {c.project} is not in the release")
        if c.oneoff:
            why.append("a one-off `docker compose run` container")
        if why:
            out.append(Finding("stray-container", host, c.name, "only containers the release's compose files make",
                               f"project {c.project}, image {c.image}: " + "; ".join(why),
                               "made by hand, not by zixly: remove it (`docker rm -f`) once nothing needs it; "
                               "zixly never removes what it did not create"))
    for ct in facts.containers:
        if not ct.project and ct.name not in {c.name for c in facts.labelled}:
            out.append(Finding("stray-container", host, ct.name, "only containers the release's compose files make",
                               f"label org.zixly.env={env} without a Compose project, image {ct.ref}",
                               "made by hand, not by zixly: remove it once nothing needs it"))
    for ct in facts.containers:
        directory = projects.dirs.get(ct.project, "")
        want = facts.config_hashes.get(directory, {}).get(ct.service)
        have = ct.labels.get(CONFIG_HASH, "")
        if not directory or directory in drifted_dirs or not want or not have or want == have:
            continue
        out.append(Finding("container-config", host, ct.name, f"config hash {short(want)} of {directory}/compose.yaml",
                           f"config hash {short(have)}", "created from another definition than the release's "
                           "(a hand-run `docker compose`?): the next deploy recreates it from the release"))
    return out


def _image_findings(host: str, projects: _Projects, facts: HostFacts) -> list[Finding]:
    by_ref: dict[str, list[tuple[str, str]]] = {}
    for ct in facts.containers:
        if ct.project not in projects.dirs or not ct.ref or not ct.image_id:
            continue
        tagged = facts.images.get(ct.ref, "")
        if tagged != ct.image_id:
            by_ref.setdefault(ct.ref, []).append((ct.name, ct.image_id))
    out = []
    for ref, conts in sorted(by_ref.items()):
        tagged = facts.images.get(ref, "")
        ran = sorted({short(i) for _, i in conts})
        out.append(Finding("image", host, ref, f"{ref} = {', '.join(ran)}, the image {', '.join(n for n, _ in conts)} "
                           "run", f"{ref} = {short(tagged)}" if tagged else f"no image tagged {ref}",
                           "the tag was pulled again or retagged after the deploy: the next deploy recreates these "
                           "containers from the image it names now; review it, or tag the old image back "
                           f"(`docker tag {ran[0]} {ref}`)"))
    return out


def _volume_network_findings(host: str, projects: _Projects, facts: HostFacts) -> list[Finding]:
    out = []
    for name, project in sorted(facts.volumes.items()):
        if project in projects.volumes and name not in projects.volumes[project]:
            out.append(Finding("stray-volume", host, name, f"only the volumes {project}'s compose file declares",
                               f"volume of project {project}", "not declared by the release: made by hand, or data "
                               "of an earlier definition; zixly never deletes it, check before you do"))
    for name, project in sorted(facts.network_projects.items()):
        if project in projects.networks and name not in projects.networks[project]:
            out.append(Finding("stray-network", host, name, f"only the networks {project}'s compose file declares",
                               f"network of project {project}", "not declared by the release: made by hand; "
                               "remove it once no container uses it"))
    return out


def _schedule_findings(host: str, env: str, files: Mapping[str, RenderedFile], facts: HostFacts,
                       spec: PrepareSpec | None) -> list[Finding]:
    if spec is None or not facts.prepare.values:
        return []
    systemd = facts.prepare.has("systemd")
    kinds = ("service", "timer") if systemd else ("cron",)
    entries = _entries(facts.manifest)
    jobs: list[tuple[str, dict[str, str], str]] = []
    if "backup_schedule" in spec.steps:
        name = f"zixly-backup-{env}"
        want = {k: str(entries[f"backup/{name}.{k}"].get("sha256")) for k in kinds if f"backup/{name}.{k}" in entries}
        jobs.append((name, want, "release " + (facts.release or "?")))
    if "health_schedule" in spec.steps and spec.health_units:
        name = f"zixly-health-{env}"
        jobs.append((name, {k: sha256(spec.health_units[k]) for k in kinds if k in spec.health_units}, "the render"))
    out = []
    for name, want, source in jobs:
        paths = timer_paths(name, spec.cron_dir)
        for kind, digest in sorted(want.items()):
            path = paths[kind]
            have = facts.prepare.get(f"sha:{path}")
            if have == digest:
                continue
            out.append(Finding("schedule", host, path, f"sha256 {short(digest)} as {source} has it",
                               "missing" if not have else f"sha256 {short(have)}",
                               "the schedule was removed or edited by hand: the next deploy installs it again"))
    return out


def find_drift(host: str, env: str, files: Mapping[str, RenderedFile], facts: HostFacts,
               spec: PrepareSpec | None = None) -> tuple[Finding, ...]:
    """Every finding of *host* (see module doc); *files* are the host's rendered files (release-relative).

    A host without a release has no drift (nothing was deployed to differ from). Containers,
    images and strays are judged only when the facts were read for drift (``drift_read``)."""
    if facts.release is None:
        return ()
    found = _file_findings(host, files, facts)
    projects = _projects(files, facts)
    drifted = {f.subject.split("/", 1)[0] for f in found if f.kind in ("edited-file", "missing-file")}
    if facts.drift_read:
        found += _container_findings(host, env, projects, facts, drifted)
        found += _image_findings(host, projects, facts)
        found += _volume_network_findings(host, projects, facts)
    found += _schedule_findings(host, env, files, facts, spec)
    return tuple(found)


def drift_dirs(files: Mapping[str, RenderedFile]) -> list[str]:
    """Release directories of the host's compose projects (what :func:`~.facts.facts_script` hashes)."""
    return [directory for directory, _ in projects_of(files)]


def lines(findings: Sequence[Finding]) -> list[str]:
    """Readable lines: each finding, then its hint indented."""
    out = []
    for f in findings:
        out.append(f"  {f.kind} {f.subject}")
        out.append(f"      found:    {f.found}")
        out.append(f"      expected: {f.expected}")
        out.append(f"      hint:     {f.hint}")
    return out
