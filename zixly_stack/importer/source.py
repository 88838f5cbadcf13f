"""The install being imported: where it is, which Compose project, its containers and its key. Read-only.

Contract
--------
* :func:`parse_from` turns ``ssh://user@host[:port]`` into a :class:`~zixly_stack.models.environment.Host`
  (the same SSH settings as ``hosts.yaml``: ``ZIXLY_SSH_KNOWN_HOSTS``/``ZIXLY_SSH_STRICT`` apply).
* :func:`discover` reads, through the source host's runner, ``docker compose ls``, the project's compose
  file and ``docker inspect`` of its containers; every command it runs is marked ``read``: nothing on
  the source changes, ever (the old install keeps running).
* Values of settings whose names look secret (``PASS``, ``KEY``, ``TOKEN``, ``SECRET``, ``AUTH``...
  anywhere in the name) are :class:`~zixly_stack.secrets.value.Secret` from the moment they are parsed;
  :meth:`SourceInstall.redact` masks them (and the encryption key) in any text shown to the user.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..commands import docker as dk
from ..commands import hostfs
from ..commands import importer as ic
from ..errors import ZixlyError
from ..models.environment import Host
from ..runner import Result, Runner
from ..secrets.value import Secret, redact

SECRET_NAME = re.compile(r"PASS|PWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PRIVATE|SALT|COOKIE|SESSION")
N8N_DATA = "/home/node/.n8n"


class ImportRefused(ZixlyError):
    """The import cannot go on (a source it cannot read, a conflict without ``--replace``); nothing changed."""

    exit_code = 4


def parse_from(url: str, ssh_key: str | None = None) -> Host:
    """``ssh://user@host[:port]`` as a host model (user defaults to root)."""
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise ImportRefused(f"--from {url!r}: expected ssh://USER@HOST[:PORT] (the host the old install runs on)")
    try:
        port = parts.port or 22
    except ValueError:
        raise ImportRefused(f"--from {url!r}: the port is not a number") from None
    try:
        return Host(address=parts.hostname, user=parts.username or "root", port=port, ssh_key=ssh_key)
    except ValueError as exc:
        raise ImportRefused(f"--from {url!r}: {' '.join(str(exc).split())[:300]}") from None


@dataclass(frozen=True)
class Container:
    """One container of the source project, as ``docker inspect`` shows it."""

    name: str
    service: str
    image: str
    running: bool
    env: dict[str, str | Secret]
    mounts: tuple[tuple[str, str, str], ...]  # (type, source/volume name, destination)
    ports: tuple[str, ...]
    args: tuple[str, ...]

    @property
    def image_name(self) -> str:
        """The image's repository without registry and tag: ``n8nio/n8n`` -> ``n8n``."""
        return self.image.rsplit(":", 1)[0].rsplit("/", 1)[-1] if "/" in self.image or ":" in self.image \
            else self.image

    @property
    def tag(self) -> str:
        """The image tag (``latest`` when none)."""
        last = self.image.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else "latest"

    def plain(self, name: str, default: str = "") -> str:
        """A setting's value when it is not secret (secret ones give *default*)."""
        value = self.env.get(name, default)
        return value if isinstance(value, str) else default


@dataclass
class SourceInstall:
    """The Compose project being imported (module contract)."""

    where: str  # user@host
    project: str
    files: tuple[str, ...]
    compose_text: str
    containers: tuple[Container, ...]
    image_env: dict[str, dict[str, str]] = field(default_factory=dict)  # image -> its own Config.Env
    secrets: list[Secret] = field(default_factory=list)

    def redact(self, text: str) -> str:
        """*text* with every secret value of the source masked."""
        return redact(text, self.secrets)

    def compose_services(self) -> list[str]:
        """The services its (first) compose file declares; empty when it cannot be parsed."""
        try:
            doc = YAML(typ="safe").load(self.compose_text) if self.compose_text else None
        except YAMLError:
            return []
        services = doc.get("services") if isinstance(doc, dict) else None
        return sorted(str(k) for k in services) if isinstance(services, dict) else []


def _json(res: Result, what: str, where: str) -> Any:
    if not res.ok:
        raise ImportRefused(f"{where}: {what} failed: {res.tail()}")
    try:
        return json.loads(res.out or "null")
    except json.JSONDecodeError as exc:
        raise ImportRefused(f"{where}: {what} did not print JSON ({exc})") from None


def _env(raw: Sequence[str]) -> dict[str, str | Secret]:
    out: dict[str, str | Secret] = {}
    for item in raw:
        name, _, value = item.partition("=")
        out[name] = Secret(value) if SECRET_NAME.search(name) and value else value
    return out


def parse_container(doc: dict[str, Any]) -> Container:
    """One ``docker inspect`` object as a :class:`Container` (secret-looking values wrapped at once)."""
    cfg = doc.get("Config") or {}
    labels = cfg.get("Labels") or {}
    mounts = tuple((m.get("Type", ""), m.get("Name") or m.get("Source", ""), m.get("Destination", ""))
                   for m in doc.get("Mounts") or [])
    bindings = (doc.get("HostConfig") or {}).get("PortBindings") or {}
    ports = tuple(sorted(p for p, b in bindings.items() if b))
    return Container(
        name=str(doc.get("Name", "")).lstrip("/"),
        service=labels.get("com.docker.compose.service", ""),
        image=cfg.get("Image", ""),
        running=bool((doc.get("State") or {}).get("Running")),
        env=_env(cfg.get("Env") or []),
        mounts=mounts,
        ports=ports,
        args=tuple(doc.get("Args") or ()),
    )


def pick_project(projects: Sequence[dict[str, Any]], project: str | None, compose: str | None, where: str) -> \
        dict[str, Any]:
    """The project named *project*, or the one whose config files include *compose* (module doc)."""
    names = ", ".join(str(p.get("Name")) for p in projects) or "none"
    if project is None and compose is None:
        if len(projects) == 1:
            files = [f.strip() for f in str(projects[0].get("ConfigFiles", "")).split(",") if f.strip()]
            return {**projects[0], "files": files}
        raise ImportRefused(f"{where}: {len(projects)} Compose projects there ({names}): say which one with "
                            "--project NAME or --compose FILE")
    for p in projects:
        files = [f.strip() for f in str(p.get("ConfigFiles", "")).split(",") if f.strip()]
        if (project and p.get("Name") == project) or (compose and posixpath.normpath(compose) in files):
            return {**p, "files": files}
    wanted = f"project {project!r}" if project else f"a project with compose file {compose}"
    raise ImportRefused(f"{where}: no {wanted} among the Compose projects there ({names}); "
                        "`docker compose ls --all` on that host lists them")


def discover(runner: Runner, where: str, project: str | None, compose: str | None) -> SourceInstall:
    """Read the source install (module contract)."""
    chosen = pick_project(_json(runner.run(ic.compose_ls(), read=True, timeout=120), "docker compose ls", where) or [],
                          project, compose, where)
    name = str(chosen["Name"])
    text = ""
    if chosen["files"]:
        res = runner.run(hostfs.read(chosen["files"][0]), read=True, timeout=60)
        if not res.ok:
            raise ImportRefused(f"{where}: cannot read {chosen['files'][0]}: {res.tail()}")
        text = res.out
    ids = runner.run(dk.project_container_ids(name), read=True, timeout=120).out.split()
    if not ids:
        raise ImportRefused(f"{where}: Compose project {name} has no containers")
    docs = _json(runner.run(ic.inspect_containers(ids), read=True, timeout=120), "docker inspect", where)
    containers = tuple(sorted((parse_container(d) for d in docs), key=lambda c: c.name))
    install = SourceInstall(where, name, tuple(chosen["files"]), text, containers)
    install.secrets = [v for c in containers for v in c.env.values() if isinstance(v, Secret)]
    for image in sorted({c.image for c in containers}):
        res = runner.run(ic.image_env(image), read=True, timeout=60)
        raw = json.loads(res.out) if res.ok and res.out.strip().startswith("[") else []
        install.image_env[image] = {k: v for k, _, v in (e.partition("=") for e in raw)}
    return install


def read_file(runner: Runner, container: str, path: str) -> bytes | None:
    """The bytes of one file in *container* (``docker cp`` as a tar stream), None when it is not there."""
    res = runner.run(ic.copy_out(container, path), read=True, timeout=120)
    if not res.ok:
        return None
    with tarfile.open(fileobj=io.BytesIO(res.stdout), mode="r:") as tar:
        for member in tar:
            if member.isfile():
                f = tar.extractfile(member)
                return f.read() if f is not None else None
    return None


@dataclass(frozen=True)
class Key:
    """n8n's encryption key and where it came from."""

    value: Secret
    origin: str
    warning: str = ""


def encryption_key(runner: Runner, n8n: Container) -> Key:
    """``N8N_ENCRYPTION_KEY`` from the container's environment, its ``_FILE``, or else the ``encryptionKey`` n8n
    wrote to ``<user folder>/.n8n/config`` at its first start."""
    folder = posixpath.join(n8n.plain("N8N_USER_FOLDER", "/home/node"), ".n8n")
    raw = read_file(runner, n8n.name, posixpath.join(folder, "config"))
    stored = ""
    if raw:
        try:
            stored = str(json.loads(raw).get("encryptionKey") or "")
        except (json.JSONDecodeError, AttributeError):
            stored = ""
    env = n8n.env.get("N8N_ENCRYPTION_KEY")
    value, origin = (env.reveal(), "N8N_ENCRYPTION_KEY") if isinstance(env, Secret) else ("", "")
    file = n8n.env.get("N8N_ENCRYPTION_KEY_FILE")
    if not value and isinstance(file, Secret | str) and (path := file.reveal() if isinstance(file, Secret) else file):
        content = read_file(runner, n8n.name, path)
        value, origin = (content or b"").decode().strip(), f"N8N_ENCRYPTION_KEY_FILE ({path})"
    if not value and stored:
        value, origin = stored, f"{folder}/config (n8n generated it; N8N_ENCRYPTION_KEY is not set)"
    if not value:
        raise ImportRefused(f"{n8n.name}: no encryption key: neither N8N_ENCRYPTION_KEY(_FILE) is set nor "
                            f"{folder}/config holds one; nothing was changed")
    warning = ""
    if stored and stored != value:
        warning = (f"{folder}/config holds another key than {origin}: n8n refuses to start with both "
                   "(\"Mismatching encryption keys\"); the import uses " + origin)
    return Key(Secret(value), origin, warning)
