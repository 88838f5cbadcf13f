"""The checkpoint of an upgrade: a restic snapshot of exactly one service's data, proven readable.

:func:`take` runs the environment's own backup script on the host for that one service
(``ZIXLY_BACKUP_ONLY``, no retention run: the nightly backup's code path, so a checkpoint is
restored like any backup), then tags its snapshots ``upgrade:<service>:<from>-><to>``
(:func:`~zixly_stack.plan.upgrade_steps.checkpoint_tag`) and checks them readable: every item
of the service has a snapshot, every dump is listed with a non-zero size, and every volume's
checksum manifest lists exactly the files the snapshot holds. :func:`check_free_space` then
asks the host for room to write the checkpoint's size again (a restore stages dumps and
volume copies beside the data). :func:`find` reads a service's newest checkpoint back for a
data rollback. Nothing here stops a container.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..backup.local import run_backup
from ..backup.restore import read_manifest
from ..backup.site import Repo
from ..backup.snapshots import Snapshot, latest_per_item
from ..commands import docker as dk
from ..commands import hostfs
from ..commands import restic as rc
from ..progress import human_bytes
from ..render.backup.faults import BackupError
from ..render.backup.plan import BackupPlan, Item, ServicePlan
from ..render.backup.repo import CHECKPOINT_TAG, host_tag
from .work import HostWork, UpgradeFailed

TAG_KEY = "upgrade"  # restic tag ``upgrade:<service>:<from>-><to>`` (key ``upgrade``)


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint of one service on one host: its tag, the snapshot of each item, its size."""

    tag: str
    service: str
    host: str
    snapshots: tuple[tuple[str, str], ...] = ()  # (item, snapshot short id)
    size: int = 0  # bytes the snapshots hold

    def describe(self) -> str:
        """``upgrade:... (3 snapshots, 1.2 MB)``."""
        return f"{self.tag} ({len(self.snapshots)} snapshot(s), {human_bytes(self.size)})"

    def to_json(self) -> dict[str, object]:
        """What the host's release log records of it."""
        return {"tag": self.tag, "host": self.host, "size": self.size,
                "snapshots": {item: short for item, short in self.snapshots}}


def inside(item: Item, project: str) -> bool:
    """True when *item*'s server container belongs to Compose project *project*. Pure."""
    return bool(item.container) and item.container.startswith(project + "-")


def checkpoint_plan(plan: BackupPlan, service: str, project: str) -> ServicePlan:
    """What the checkpoint of *service* (Compose project *project*) holds, from the host's backup plan. Pure.

    Its own items, and the databases other services keep in its servers: a shared store
    (MariaDB, PostgreSQL) declares no data of its own, its apps' dumps are what it holds."""
    own = [i for sp in plan.services if sp.service == service for i in sp.items]
    held = [i for sp in plan.services if sp.service != service for i in sp.items if inside(i, project)]
    return ServicePlan(service, project, tuple(own + held))


def tagged(snaps: Sequence[Snapshot], tag: str, host_label: str) -> dict[str, Snapshot]:
    """The newest snapshot per item carrying restic tag *tag*, written by host *host_label*. Pure."""
    key, _, value = tag.partition(":")
    return latest_per_item(s for s in snaps if s.tags.get(key) == value and s.host == host_label)


def take(work: HostWork, sp: ServicePlan, tag: str) -> Checkpoint:
    """Snapshot the data of *sp* (:func:`checkpoint_plan`) on the work's host, tag it, prove it readable."""
    service = sp.service
    if not sp.items:
        work.say(f"checkpoint {tag}: {service} declares no data (backup spec): nothing to save")
        return Checkpoint(tag, service, work.host)
    work.say(f"checkpoint {tag}: restic snapshot of {service}'s data ({', '.join(i.name for i in sp.items)})")
    owners = sorted({i.service for i in sp.items})
    try:
        saved = run_backup(work.env, {work.host: work.site}, owners, maintenance=False)
        names = {i.name for i in sp.items}
        mine = [s for s in saved.items if s.snapshot and s.name in names]
        size = sum(s.bytes_processed for s in mine)
        with Repo(work.site, work.env) as repo:
            if mine:
                repo.run(rc.tag_add(f"{tag},{CHECKPOINT_TAG}", [s.snapshot for s in mine]),
                         what=f"tagging the checkpoint {tag}")
            chosen = {k: v for k, v in find(repo, work, tag).items() if k in names}
            verify(repo, sp, chosen)
    except BackupError as exc:
        raise UpgradeFailed(f"checkpoint {tag} of {service} failed: {exc}; nothing was stopped") from None
    cp = Checkpoint(tag, service, work.host, tuple((i, chosen[i].short_id) for i in sorted(chosen)), size)
    work.say(f"checkpoint {cp.describe()}: readable (every dump listed, every manifest complete)")
    return cp


def nodes(text: str) -> list[dict[str, object]]:
    """The file nodes of ``restic ls --json`` output (the snapshot line left out). Pure."""
    out = []
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("struct_type") == "node" and doc.get("type") == "file":
            out.append(doc)
    return out


def unreadable(sp: ServicePlan, chosen: Mapping[str, Snapshot], listed: Mapping[str, list[dict[str, object]]],
               manifests: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Why the checkpoint is not complete and readable (empty: it is). Pure.

    *listed*: item -> the file nodes of its snapshot; *manifests*: item -> its checksum manifest
    (volumes: relative path -> sha256)."""
    out = []
    for item in sp.items:
        snap = chosen.get(item.name)
        if snap is None:
            out.append(f"{item.name}: no snapshot")
            continue
        files = listed.get(item.name, [])
        if item.kind == "db":
            path = snap.source or "/" + item.filename
            hit = next((n for n in files if n.get("path") == path), None)
            size = hit.get("size") if hit else None
            if not isinstance(size, int) or size <= 0:
                out.append(f"{item.name}: the dump {path} is not listed in snapshot {snap.short_id}"
                           if hit is None else f"{item.name}: the dump {path} is empty")
            continue
        source = snap.source.rstrip("/")
        inside = {posixpath.relpath(str(n.get("path")), source) for n in files
                  if str(n.get("path", "")).startswith(source + "/")}
        expected = set(manifests.get(item.name, {}))
        if inside != expected:
            gone, extra = sorted(expected - inside), sorted(inside - expected)
            out.append(f"{item.name}: the manifest does not match snapshot {snap.short_id} "
                       f"({len(gone)} listed but not saved, {len(extra)} saved but not listed"
                       + (f": {(gone + extra)[0]}" if gone or extra else "") + ")")
    return out


def verify(repo: Repo, sp: ServicePlan, chosen: Mapping[str, Snapshot]) -> None:
    """Raise :class:`BackupError` unless every item of *sp* has a readable snapshot in *chosen*."""
    listed: dict[str, list[dict[str, object]]] = {}
    manifests: dict[str, Mapping[str, str]] = {}
    for name, snap in chosen.items():
        listed[name] = nodes(repo.run(rc.ls_json(snap.id), what=f"{name}: listing snapshot {snap.short_id}").out)
        if snap.kind != "db":
            manifests[name] = read_manifest(repo, snap)
    problems = unreadable(sp, chosen, listed, manifests)
    if problems:
        raise BackupError("the checkpoint is not readable: " + "; ".join(problems))


def space_problem(where: str, label: str, available: int, needed: int) -> str:
    """Why *available* bytes are not enough for *needed* ("" when they are). Pure."""
    if available >= needed:
        return ""
    return (f"not enough free space on {label} for the upgrade: {human_bytes(available)} free in {where}, "
            f"{human_bytes(needed)} needed (the checkpoint's size again, for a restore); free some space "
            "(`docker image prune`, old releases) and deploy again; nothing was stopped")


def check_free_space(work: HostWork, needed: int) -> None:
    """Refuse (:class:`UpgradeFailed`) when the engine's data directory cannot hold *needed* bytes more."""
    site = work.site
    root = site.try_run(dk.root_dir(), timeout=60, read=True).out.strip() or "/var/lib/docker"
    res = site.try_run(hostfs.free_kib(root), timeout=60, read=True)
    kib = hostfs.available_kib(res.out)
    if kib is None:
        raise UpgradeFailed(f"cannot read the free space of {root} on {site.label}: "
                            f"{site.redact(res.tail())}; nothing was stopped")
    why = space_problem(root, site.label, kib * 1024, needed)
    if why:
        raise UpgradeFailed(why)
    work.say(f"free space: {human_bytes(kib * 1024)} in {root} (checkpoint {human_bytes(needed)})")


def find(repo: Repo, work: HostWork, tag: str) -> dict[str, Snapshot]:
    """The snapshots of checkpoint *tag* written by the work's host (newest per item)."""
    return tagged(repo.snapshots(), tag, host_tag(work.env.name, work.host))
