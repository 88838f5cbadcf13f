"""Load the catalog and an environment from a repo, reporting every problem at once.

Side effects: reads files only. Nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, Location, Problem
from ..models.environment import Environment, Hosts
from ..models.names import require_name
from ..models.service import Service
from .problems import did_you_mean, problems_from
from .yamlsrc import Positions, display_path, load_yaml

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Source:
    """A validated model plus where its keys came from."""

    path: Path
    positions: Positions


@dataclass(frozen=True)
class Catalog:
    """Every ``services/<name>/service.yaml``, validated."""

    services: dict[str, Service]
    sources: dict[str, Source]
    root: Path
    invalid: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EnvConfig:
    """One environment: ``environment.yaml`` + ``hosts.yaml``."""

    name: str
    environment: Environment
    hosts: Hosts
    env_source: Source
    hosts_source: Source
    directory: Path


def _validate(model: type[M], data: Any, pos: Positions, problems: list[Problem]) -> M | None:
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from(exc, model, pos, data))
        return None


def _load_model(
    root: Path, path: Path, model: type[M], problems: list[Problem]
) -> tuple[M | None, Positions, Any]:
    shown = display_path(root, path)
    try:
        data, pos = load_yaml(path, shown, root)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None, Positions(shown), None
    if data is not None and not isinstance(data, dict):
        problems.append(Problem(Location(shown, 1, 1), "", "expected a mapping at the top level"))
        return None, pos, data
    return _validate(model, data, pos, problems), pos, data


def load_catalog(root: Path, problems: list[Problem] | None = None) -> Catalog:
    """Discover and validate ``services/*/service.yaml`` under ``root``."""
    own = problems if problems is not None else []
    services: dict[str, Service] = {}
    sources: dict[str, Source] = {}
    invalid: set[str] = set()
    base = root / "services"
    if not base.is_dir():
        own.append(
            Problem(Location(display_path(root, base)), "", "no services/ directory (is this a zixly repo?)")
        )
    for path in sorted(base.glob("*/service.yaml")) if base.is_dir() else []:
        svc, pos, _ = _load_model(root, path, Service, own)
        if svc is None:
            invalid.add(path.parent.name)
            continue
        if svc.name != path.parent.name:
            own.append(
                Problem(
                    pos.loc(("name",)),
                    "name",
                    f"service name {svc.name!r} does not match its directory {path.parent.name!r}",
                    "rename one of them",
                )
            )
            invalid.add(path.parent.name)
            continue
        services[svc.name] = svc
        sources[svc.name] = Source(path, pos)
    if problems is None and own:
        raise ConfigError(own)
    return Catalog(services, sources, root, frozenset(invalid))


def environment_names(root: Path) -> list[str]:
    """Environments present under ``inventories/``."""
    base = root / "inventories"
    return (
        sorted(p.name for p in base.iterdir() if (p / "environment.yaml").is_file()) if base.is_dir() else []
    )


def load_environment(root: Path, name: str, problems: list[Problem] | None = None) -> EnvConfig | None:
    """Load ``inventories/<name>/``; problems are appended (or raised if none given).

    ``name`` must be a valid environment name (:func:`require_name`): it is never joined to a
    path otherwise, so ``../inventories/production`` cannot reach outside ``inventories/``.
    """
    require_name(name)
    own = problems if problems is not None else []
    directory = root / "inventories" / name
    env_path = directory / "environment.yaml"
    hosts_path = directory / "hosts.yaml"
    if not env_path.is_file():
        known = environment_names(root)

        hint = did_you_mean(name, known) or ("known: " + ", ".join(known) if known else "")
        if env_path.exists() or env_path.is_symlink():  # a directory, a FIFO, a dangling link
            own.append(Problem(Location(display_path(root, env_path)), "", "not a regular file",
                               "environment.yaml must be a YAML file"))
        else:
            own.append(Problem(Location(display_path(root, env_path)), "", f"unknown environment {name!r}", hint))
        if problems is None:
            raise ConfigError(own)
        return None
    env, env_pos, _ = _load_model(root, env_path, Environment, own)
    if hosts_path.is_file():
        hosts, hosts_pos, _ = _load_model(root, hosts_path, Hosts, own)
    else:
        hosts_pos = Positions(display_path(root, hosts_path))
        own.append(Problem(Location(hosts_pos.file), "", "missing hosts.yaml", "list at least one host"))
        hosts = None
    if env is None or hosts is None:
        if problems is None:
            raise ConfigError(own)
        return None
    cfg = EnvConfig(name, env, hosts, Source(env_path, env_pos), Source(hosts_path, hosts_pos), directory)
    if problems is None and own:
        raise ConfigError(own)
    return cfg
