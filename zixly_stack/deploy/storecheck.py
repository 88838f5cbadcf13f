"""Gathering the evidence that an environment's secrets were used before (see :mod:`zixly_stack.secrets.guard`).

* :func:`local_evidence` looks on this machine: the environment's releases under its
  ``base_dir``, volumes and containers of its Compose projects in the local engine, and a
  local backup repository. ``zixly up`` asks it before creating or using a store.
* :func:`facts_evidence` reads the same from a host's facts (one round trip the deploy
  makes anyway), with the plain hashes of the release's secret files compared in memory
  for releases older than store ids.
* :func:`preflight` is the deploy's check: every reachable host's evidence judged before
  anything runs, then the prepared secrets committed.

Only names, paths and store ids are read or reported; no secret file is read here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..commands import docker as dk
from ..plan.facts import HostFacts
from ..plan.paths import EnvPaths
from ..project import Loaded
from ..render.backup.repo import repository
from ..render.tree import RECOVERY_PATH, RenderedFile
from ..runner import LocalRunner
from ..secrets.guard import Evidence, Release

_OWN = (RECOVERY_PATH,)  # a new store writes a new one anyway: it says nothing about the others


def secrets_match(hashes: Mapping[str, str], files: Mapping[str, RenderedFile]) -> bool | None:
    """Whether any secret file of a release (path -> sha256) equals ours (None: none in common)."""
    common = [p for p, f in files.items() if f.secret and p not in _OWN and p in hashes]
    if not common:
        return None
    return any(hashes[p] == files[p].sha256 for p in common)


def _release(where: str, store: str | None, hashes: Mapping[str, str], files: Mapping[str, RenderedFile] | None
             ) -> Release:
    match = secrets_match(hashes, files) if store is None and files is not None else None
    return Release(where, store, match)


def facts_evidence(host: str, paths: EnvPaths, facts: HostFacts, files: Mapping[str, RenderedFile],
                   services: Iterable[str]) -> Evidence:
    """The evidence one host's facts show (*files*: the host's rendered files by release-relative path)."""
    releases = (_release(f"{host}:{paths.current}", facts.store, facts.files, files),) if facts.release else ()
    return Evidence(
        releases=releases,
        volumes=tuple(f"{host}:{v}" for v in facts.env_volumes(paths.env, services)),
        containers=tuple(f"{host}:{c.name}" for c in facts.containers),
    )


def _local_release(paths: EnvPaths) -> Release | None:
    current = Path(paths.current)
    if not current.is_dir():
        releases = Path(paths.releases)
        if releases.is_dir() and any(releases.iterdir()):
            return Release(str(releases), None)
        return None
    store = None
    try:
        doc = json.loads((current / "manifest.json").read_text(encoding="utf-8"))
        store = doc.get("store") if isinstance(doc, dict) and isinstance(doc.get("store"), str) else None
    except (OSError, ValueError):
        pass
    return Release(str(current), store)


def _engine_lines(argv: list[str]) -> list[str] | None:
    """Lines a local docker command prints, or None when no engine answers (or no client is installed yet)."""
    res = LocalRunner().run(argv, timeout=60, read=True)
    if not res.ok:
        return None
    return [line.strip() for line in res.out.splitlines() if line.strip()]


def local_evidence(loaded: Loaded) -> Evidence:
    """What of *loaded*'s environment exists on this machine (an engine that does not answer shows nothing)."""
    env = loaded.config.name
    settings = loaded.config.environment
    release = _local_release(EnvPaths(settings.base_dir, env))
    projects = {f"zixly-{env}-{s}" for s in loaded.catalog.services}
    volumes = []
    for line in _engine_lines(dk.volume_projects()) or []:
        name, _, project = line.partition(" ")
        if project in projects:
            volumes.append(name)
    containers = _engine_lines(dk.env_containers(env))
    backups = []
    if settings.backup.enabled and settings.backup.target.type == "local":
        repo = Path(repository(env, settings))
        if (repo / "config").is_file():
            backups.append(f"restic repository {repo}")
    return Evidence((release,) if release else (), tuple(sorted(volumes)), tuple(sorted(containers or [])),
                    tuple(backups))


def hosts_evidence(et: Any, facts: Mapping[str, HostFacts], services: Iterable[str]) -> Evidence:
    """Every host's evidence together (*et*: the deploy's EnvTarget)."""
    names = list(services)
    evidence = Evidence()
    for host, f in facts.items():
        evidence = evidence.merged(facts_evidence(host, et.targets[host].paths, f, et.files_of(host), names))
    return evidence


def preflight(prepared: Any, et: Any, services: Iterable[str], *, commit: bool = True
              ) -> Callable[[Mapping[str, HostFacts]], None]:
    """The deploy's check (see module doc): judge every host's facts, then (*commit*) save the secrets."""

    def check(facts: Mapping[str, HostFacts]) -> None:
        prepared.check(hosts_evidence(et, facts, services))
        if commit:
            prepared.commit()

    return check
