"""Disaster recovery: put back the release tree and the encrypted secrets store from a snapshot.

``zixly restore ENV --release``: per host, the ``zixly.files.release`` snapshot its own
backup wrote (host tag ``zixly-<env>-<host>``) is restored ON the host into
``<base_dir>/<env>/releases/<id>`` -- the path it was backed up from, which must lie there
-- checked file by file against its manifest, and ``current`` points at it when the host has
no ``current`` yet (a fresh host). A host that already has that release keeps it as it is;
one whose ``current`` points elsewhere is left alone (``zixly rollback ENV --to ID`` switches
and converges). The release holds the host's recovery sheet, so ``zixly secrets recover ENV
--from-release`` can rebuild a lost store from it.

The encrypted store (``zixly.files.secrets``, saved by ``zixly backup ENV`` run from the
control machine) comes back to ``inventories/<env>/secrets.age`` on THIS machine -- still
encrypted: the age identity is never needed for it and never leaves this machine -- only when
that file is missing; an existing store is never overwritten (an identical one is "in place",
a different one is reported and kept).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..commands import hostfs
from ..commands import restic as rc
from ..plan.paths import EnvPaths
from ..plan.steps import switch_argvs
from ..render.backup.faults import BackupError
from ..render.backup.repo import host_tag
from ..safepath import posix_inside
from .local import Env
from .restore import compare, for_host, read_manifest
from .site import Repo, Site
from .snapshots import Snapshot, select

Say = Callable[[str], None]
RELEASE_ITEM = "zixly.files.release"
SECRETS_ITEM = "zixly.files.secrets"


@dataclass
class ReleaseOutcome:
    """What ``restore --release`` did on one host and for the store."""

    host: str
    release: str = ""
    snapshot: str = ""
    action: str = ""  # restored | present | skipped
    current: str = ""  # set | kept (points at X) | unchanged
    files_checked: int = 0
    notes: list[str] = field(default_factory=list)


def release_id(env: Env, snap: Snapshot) -> str:
    """The release id a release snapshot was taken of (its path must be ``<base>/<env>/releases/<id>``)."""
    releases = posixpath.join(env.stack.environment.base_dir, env.name, "releases")
    source = snap.source.rstrip("/")
    if posixpath.dirname(source) != releases:
        raise BackupError(f"snapshot {snap.short_id} holds {source!r}, not a release under {releases}; "
                          "nothing was changed")
    rid = posixpath.basename(source)
    posix_inside(releases, rid)
    return rid


def restore_release(env: Env, site: Site, ref: str, say: Say) -> ReleaseOutcome:
    """Put back *site*'s release from snapshot *ref* (module doc)."""
    out = ReleaseOutcome(site.host)
    with Repo(site, env) as repo:
        chosen = select(for_host(repo.snapshots(), host_tag(env.name, site.host)), ref)
        snap = chosen.get(RELEASE_ITEM)
        if snap is None:
            out.action = "skipped"
            out.notes.append(f"no release snapshot {ref!r} of {env.name} for {site.host}")
            return out
        out.snapshot, out.release = snap.short_id, release_id(env, snap)
        root = posixpath.join(env.stack.environment.base_dir, env.name)
        target = posixpath.join(root, "releases", out.release)
        present = site.try_run(hostfs.is_dir(target), read=True).ok
        if present:
            out.action = "present"
        else:
            say(f"{site.label}: restoring release {out.release} from snapshot {snap.short_id} "
                f"({snap.time:%Y-%m-%d %H:%M:%S} UTC)")
            site.run(hostfs.mkdirs(posixpath.join(root, "releases"), "0711"), what="creating the releases dir")
            scratch = site.temp_dir(posixpath.join(root, "releases"), ".zixly-restore-")
            try:
                repo.run(rc.restore(snap.id, scratch, snap.source), what=f"{RELEASE_ITEM}: restore", read=False)
                restored = posix_inside(scratch, snap.source.lstrip("/"))
                site.run(hostfs.rename(restored, target), what="moving the restored release in place")
            finally:
                site.remove(scratch)
            out.action = "restored"
        if site.runner.executes:
            expected = read_manifest(repo, snap)
            diff = compare(expected, site.checksums(target))
            if diff:
                raise BackupError(f"release {out.release} on {site.label} differs from the backup: "
                                  f"{'; '.join(diff[:8])}")
            out.files_checked = len(expected)
        current = posixpath.join(root, "current")
        link = site.try_run(hostfs.readlink(current), read=True)
        if not link.ok:
            for argv in switch_argvs(EnvPaths(env.stack.environment.base_dir, env.name), out.release):
                site.run(argv, what="pointing current at the restored release")
            out.current = "set"
        elif posixpath.basename(link.out.strip().rstrip("/")) == out.release:
            out.current = "unchanged"
        else:
            out.current = f"kept (points at {posixpath.basename(link.out.strip())})"
            out.notes.append(f"current stays at {posixpath.basename(link.out.strip())}; "
                             f"`zixly rollback {env.name} --to {out.release}` switches to the restored release")
    return out


def restore_store(env: Env, site: Site, ref: str, store: Path, say: Say) -> str:
    """Bring the encrypted store back to *store* on this machine when it is missing; a line saying what happened."""
    with Repo(site, env) as repo:
        snap = select(repo.snapshots(), ref).get(SECRETS_ITEM)
        if snap is None:
            return (f"the backup holds no encrypted secrets store (only `zixly backup {env.name}` run from the "
                    f"control machine saves it); a lost store comes back with `zixly secrets recover {env.name} "
                    "--from-release` from the restored release")
        data = repo.dump(snap, snap.source, what=f"{SECRETS_ITEM}: dump")
    if not site.runner.executes:
        return f"would write {store} from snapshot {snap.short_id} if it is missing"
    if store.exists():
        if store.read_bytes() == data:
            return f"{store} is in place (identical to snapshot {snap.short_id})"
        return (f"{store} exists and differs from the copy in snapshot {snap.short_id}: kept as it is (move it "
                "aside to restore the backed-up one)")
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_name(f".{store.name}.restored")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    tmp.replace(store)
    say(f"restored {store} from snapshot {snap.short_id} ({snap.time:%Y-%m-%d %H:%M:%S} UTC), still encrypted")
    return f"{store} restored from snapshot {snap.short_id}"


def restore_releases(env: Env, sites: Mapping[str, Site], ref: str, store: Path,
                     say: Say) -> tuple[list[ReleaseOutcome], str]:
    """Every host's release, then the encrypted store (read on the first host)."""
    outcomes = [restore_release(env, site, ref, say) for site in sites.values()]
    first = next(iter(sites.values()))
    return outcomes, restore_store(env, first, ref, store, say)
