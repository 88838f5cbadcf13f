"""What a host looks like, read in ONE round trip, and the pure parser of that reading.

:func:`facts_script` builds a POSIX ``sh`` script (from argv lists quoted with
:func:`shlex.join`; no user text is ever interpolated unquoted) that prints sections
``@@<name>`` followed by their lines. :func:`parse_facts` turns its output into
:class:`HostFacts`. Neither has side effects; the deploy package runs the script
through pyinfra and hands the output here. Secret files are hashed on the host, never
read back.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..commands import docker as dk
from .paths import EnvPaths
from .prepare import PrepareFacts, PrepareSpec, parse_prepare
from .prepare import facts_script as prepare_script

SECTIONS = (
    "release",
    "releases",
    "files",
    "modes",
    "applied",
    "docker",
    "containers",
    "images",
    "networks",
    "volumes",
    "store",
    "lock",
    "prepare",
    "manifest",
    "labelled",
    "netprojects",
    "confighash",
    "end",
)


@dataclass(frozen=True)
class ContainerFact:
    """One container of the environment as the engine reports it."""

    id: str
    name: str
    project: str
    service: str
    image_id: str
    ref: str
    created: str
    started_at: str
    status: str  # created | running | restarting | exited | paused | dead
    health: str  # "" (no healthcheck) | starting | healthy | unhealthy
    exit_code: int
    files_hash: str
    restart: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    health_log: tuple[str, ...] = ()

    @property
    def is_job(self) -> bool:
        """A one-shot container (restart policy ``no``)."""
        return self.restart == "no"

    @property
    def ok(self) -> bool:
        """Healthy, running without a healthcheck, or a one-shot job that exited 0."""
        if self.is_job and self.status == "exited":
            return self.exit_code == 0
        return self.status == "running" and self.health in ("", "healthy")

    def problem(self) -> str:
        """Why the container is not ok ("" when it is)."""
        if self.ok:
            return ""
        if self.status == "running":
            return "unhealthy" if self.health == "unhealthy" else f"health {self.health or 'unknown'}"
        if self.status == "exited":
            return f"exited ({self.exit_code})"
        return self.status or "missing"


@dataclass(frozen=True)
class LockInfo:
    """Who holds a host's deploy lock."""

    owner: str
    machine: str
    pid: int
    since: str
    command: str = ""

    def describe(self) -> str:
        """``alice@laptop (pid 123, deploy) since 2026-...``."""
        what = f", {self.command}" if self.command else ""
        return f"{self.owner}@{self.machine} (pid {self.pid}{what}) since {self.since}"


@dataclass(frozen=True)
class LabelledContainer:
    """A container carrying a Compose project label, as ``docker ps`` lists it (any project, any env)."""

    id: str
    name: str
    project: str
    env: str  # its org.zixly.env label ("" when it has none)
    service: str
    oneoff: bool  # ``docker compose run`` made it
    image: str


@dataclass(frozen=True)
class HostFacts:
    """Everything the planner needs to know about one host (see :func:`parse_facts`)."""

    release: str | None = None
    releases: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    modes: dict[str, str] = field(default_factory=dict)  # relative path -> "0644"
    docker: bool = True
    containers: tuple[ContainerFact, ...] = ()
    images: dict[str, str] = field(default_factory=dict)  # repo:tag -> image id
    networks: frozenset[str] = frozenset()
    lock: LockInfo | None = None
    applied: dict[str, str] = field(default_factory=dict)  # compose project -> files digest
    prepare: PrepareFacts = field(default_factory=PrepareFacts)
    complete: bool = True
    volumes: dict[str, str] = field(default_factory=dict)  # volume -> compose project (every project's)
    store: str | None = None  # the secrets store id the current release's manifest records
    manifest: dict[str, Any] | None = None  # the current release's manifest.json (None: none or unreadable)
    # read only for drift (facts_script(drift_dirs=...)): every compose-labelled container of the engine,
    # compose-labelled networks -> project, and release dir -> service -> Compose's config hash
    labelled: tuple[LabelledContainer, ...] = ()
    network_projects: dict[str, str] = field(default_factory=dict)
    config_hashes: dict[str, dict[str, str]] = field(default_factory=dict)
    drift_read: bool = False

    def env_volumes(self, env: str, services: Iterable[str]) -> list[str]:
        """Volumes of environment *env*'s projects (``zixly-<env>-<service>`` for *services*), sorted."""
        projects = {f"zixly-{env}-{s}" for s in services}
        return sorted(v for v, p in self.volumes.items() if p in projects)

    def project_containers(self, project: str) -> list[ContainerFact]:
        """Containers labelled with compose project *project*."""
        return [c for c in self.containers if c.project == project]

    @property
    def projects(self) -> list[str]:
        """Compose projects that have at least one container, sorted."""
        return sorted({c.project for c in self.containers if c.project})


_STORE_RE = re.compile(r'"store": "([0-9a-f]+)"')


def _q(argv: list[str]) -> str:
    return shlex.join(argv)


def facts_script(
    paths: EnvPaths, env: str, *, prepare: PrepareSpec | None = None, drift_dirs: Sequence[str] | None = None
) -> str:
    """The read-only script that prints every section of :class:`HostFacts`.

    The three engine queries run concurrently (into a private temp dir) while the files
    are hashed: the script's wall time is the slowest part, not their sum. With *prepare*
    it also reports what host preparation needs (:mod:`.prepare`). With *drift_dirs* (the
    release directories of the environment's compose projects) it also reads what drift
    needs: every compose-labelled container and network of the engine, and Compose's own
    config hash of each service of those projects (``compose config --hash``, run on the
    release's files as the deploy gives them, concurrently).
    """
    cur = shlex.quote(paths.current + "/")
    find = ["find", ".", "-type", "f", "-exec", "sha256sum", "{}", "+"]
    modes = ["find", ".", "-type", "f", "-printf", "%m %P\\n"]
    containers = f"{_q(dk.container_ids(env))} | xargs -r {_q(dk.container_inspect())}"
    lines = [
        "t=$(mktemp -d) || exit 1",
        "if command -v docker >/dev/null 2>&1; then",
        f'  ({containers}) > "$t/c" 2>/dev/null &',
        f'  {_q(dk.image_ls())} > "$t/i" 2>/dev/null &',
        f'  {_q(dk.network_ls())} > "$t/n" 2>/dev/null &',
        f'  {_q(dk.volume_projects())} > "$t/v" 2>/dev/null &',
        *_drift_queries(paths, drift_dirs),
        "fi",
        "echo @@release",
        f"readlink {shlex.quote(paths.current)} || true",
        "echo @@releases",
        f"ls -1 {shlex.quote(paths.releases)} 2>/dev/null || true",
        "echo @@files",
        f"if [ -d {cur} ]; then (cd {cur} && {_q(find)}); fi",
        "echo @@modes",
        f"if [ -d {cur} ]; then (cd {cur} && {_q(modes)}); fi",
        "echo @@applied",
        f"if [ -d {shlex.quote(paths.applied)} ]; then"
        f" (cd {shlex.quote(paths.applied)} && grep -H '' -- * 2>/dev/null); fi",
        "echo @@store",
        f"grep -o -m 1 '\"store\": \"[0-9a-f]*\"' {cur}manifest.json 2>/dev/null || true",
        "echo @@manifest",
        f"cat {cur}manifest.json 2>/dev/null || true",
        "echo",
        "echo @@lock",
        f"cat {shlex.quote(paths.lock_owner)} 2>/dev/null || true",
        "echo",
        "wait",
        "echo @@docker",
        'if [ -s "$t/n" ]; then echo yes; else echo no; fi',
        "echo @@containers",
        'cat "$t/c" 2>/dev/null',
        "echo @@images",
        'cat "$t/i" 2>/dev/null',
        "echo @@networks",
        'cat "$t/n" 2>/dev/null',
        "echo @@volumes",
        'cat "$t/v" 2>/dev/null',
        *(["echo @@labelled", 'cat "$t/l" 2>/dev/null', "echo @@netprojects", 'cat "$t/p" 2>/dev/null',
           "echo @@confighash", 'cat "$t"/h.* 2>/dev/null'] if drift_dirs is not None else []),
        'rm -rf "$t"',
        *(prepare_script(prepare).splitlines() if prepare is not None else []),
        "echo @@end",
    ]
    return "\n".join(lines)


def _drift_queries(paths: EnvPaths, dirs: Sequence[str] | None) -> list[str]:
    """Background engine queries of drift (see :func:`facts_script`); none without *dirs*."""
    if dirs is None:
        return []
    out = [f'  {_q(dk.compose_labelled())} > "$t/l" 2>/dev/null &',
           f'  {_q(dk.network_projects())} > "$t/p" 2>/dev/null &']
    for i, d in enumerate(sorted(set(dirs))):
        file = paths.in_current(f"{d}/compose.yaml")
        out.append(f"  if [ -f {shlex.quote(file)} ]; then ({_q(dk.compose_config_hashes(file))} 2>/dev/null"
                   f" | sed {shlex.quote('s|^|' + d + ' |')}) > \"$t/h.{i}\" & fi")
    return out


def _sections(lines: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in lines:
        if line.startswith("@@") and line[2:] in SECTIONS:
            current = line[2:]
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def container_from_json(doc: dict[str, Any]) -> ContainerFact:
    labels = {str(k): str(v) for k, v in (doc.get("labels") or {}).items()}
    state = doc.get("state") or {}
    health = state.get("Health") or {}
    log = tuple(
        f"exit {entry.get('ExitCode')}: " + (str(entry.get("Output", "")).strip() or "(no output)")
        for entry in (health.get("Log") or [])[-3:]
        if isinstance(entry, dict)
    )
    return ContainerFact(
        id=str(doc.get("id", "")),
        name=str(doc.get("name", "")).lstrip("/"),
        project=labels.get("com.docker.compose.project", ""),
        service=labels.get("com.docker.compose.service", ""),
        image_id=str(doc.get("image", "")),
        ref=str(doc.get("ref", "")),
        created=str(doc.get("created", "")),
        started_at=str(state.get("StartedAt", "")),
        status=str(state.get("Status", "")),
        health=str(health.get("Status", "")),
        exit_code=int(state.get("ExitCode", 0) or 0),
        files_hash=labels.get("org.zixly.files-hash", ""),
        restart=str(doc.get("restart", "")),
        labels=labels,
        health_log=log,
    )


def parse_lock(text: str) -> LockInfo | None:
    """The lock owner file (JSON) or None when empty; a damaged file still reads as held."""
    text = text.strip()
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return LockInfo("unknown", "unknown", 0, "unknown", "unreadable lock file")
    return LockInfo(
        owner=str(doc.get("owner", "?")),
        machine=str(doc.get("machine", "?")),
        pid=int(doc.get("pid", 0) or 0),
        since=str(doc.get("since", "?")),
        command=str(doc.get("command", "")),
    )


def parse_facts(output: str | list[str]) -> HostFacts:
    """Parse what :func:`facts_script` printed. ``complete`` is False when it was cut short."""
    lines = output.splitlines() if isinstance(output, str) else list(output)
    sec = _sections(lines)
    release_lines = [x.strip() for x in sec.get("release", []) if x.strip()]
    release = release_lines[0].rstrip("/").rsplit("/", 1)[-1] if release_lines else None
    files: dict[str, str] = {}
    for line in sec.get("files", []):
        digest, _, path = line.partition("  ")
        if len(digest) == 64 and path:
            files[path[2:] if path.startswith("./") else path] = digest
    modes: dict[str, str] = {}
    for line in sec.get("modes", []):
        mode, _, path = line.partition(" ")
        if mode.isdigit() and path:
            modes[path] = mode.rjust(4, "0")
    containers = []
    for line in sec.get("containers", []):
        line = line.strip()
        if line.startswith("{"):
            try:
                containers.append(container_from_json(json.loads(line)))
            except (ValueError, TypeError):
                continue
    images: dict[str, str] = {}
    for line in sec.get("images", []):
        ref, _, image_id = line.strip().rpartition(" ")
        if ref and not ref.startswith("<none>") and not ref.endswith(":<none>"):
            images[ref] = image_id
    applied = {}
    for line in sec.get("applied", []):
        project, sep, digest = line.partition(":")
        if sep and digest.strip():
            applied[project] = digest.strip()
    volumes = {}
    for line in sec.get("volumes", []):
        name, _, project = line.strip().partition(" ")
        if name and project:
            volumes[name] = project
    stores = [m.group(1) for x in sec.get("store", []) if (m := _STORE_RE.search(x))]
    return HostFacts(
        manifest=_manifest(sec.get("manifest", [])),
        labelled=tuple(_labelled(sec.get("labelled", []))),
        network_projects=_pairs(sec.get("netprojects", [])),
        config_hashes=_config_hashes(sec.get("confighash", [])),
        drift_read="labelled" in sec,
        volumes=volumes,
        store=stores[0] if stores else None,
        release=release,
        releases=tuple(sorted(x.strip() for x in sec.get("releases", []) if x.strip())),
        files=files,
        modes=modes,
        docker=[x.strip() for x in sec.get("docker", [])][:1] == ["yes"],
        containers=tuple(sorted(containers, key=lambda c: c.name)),
        images=images,
        networks=frozenset(x.strip() for x in sec.get("networks", []) if x.strip()),
        lock=parse_lock("\n".join(sec.get("lock", []))),
        applied=applied,
        prepare=parse_prepare(sec.get("prepare", [])),
        complete="end" in sec,
    )


def _manifest(lines: list[str]) -> dict[str, Any] | None:
    text = "\n".join(lines).strip()
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _labelled(lines: list[str]) -> list[LabelledContainer]:
    out = []
    for line in lines:
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 7 and parts[0]:
            cid, name, project, env, service, oneoff, image = parts
            out.append(LabelledContainer(cid, name, project, env, service, oneoff.lower() == "true", image))
    return sorted(out, key=lambda c: c.name)


def _pairs(lines: list[str]) -> dict[str, str]:
    out = {}
    for line in lines:
        name, _, value = line.strip().partition(" ")
        if name and value:
            out[name] = value
    return out


def _config_hashes(lines: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            out.setdefault(parts[0], {})[parts[1]] = parts[2]
    return out
