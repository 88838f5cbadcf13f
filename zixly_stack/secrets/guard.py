"""Never a fresh start over old data: the judgement behind "a lost store is an error". Pure.

Contract:

* :class:`Evidence` is what shows that an environment's secrets were used before: deployed
  releases (with the store id each recorded, see :mod:`.fingerprint`), data volumes and
  containers of the environment, backups. Callers gather it (``deploy.storecheck``:
  this machine, or each host's facts); this module only judges.
* :func:`missing_store` is the error for a missing ``secrets.age`` where secrets were used
  before: it names what would be lost (the catalog's ``never_rotate`` reasons) and the
  ways back (git history, a backup, ``zixly secrets recover ENV --from-release``).
* :func:`judge` refuses a store that did not make the deployed data: a release recorded
  another store id; a release from before store ids whose secret files all differ from
  ours; or data volumes without any release while secrets would be generated now.
  ``None`` means go ahead.

Every message names files, hosts, store ids and secret names, never a value; each
ends with what was left untouched. All are :class:`~zixly_stack.errors.SecretsError`
(exit 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import SecretsError

UNTOUCHED = "Nothing was generated, written or changed."
_SHOWN = 4  # volumes/containers listed by name before "+N more"


@dataclass(frozen=True)
class Release:
    """A deployed release of the environment: where, and which store it was rendered with."""

    where: str  # e.g. "/opt/zixly/local/current" or "vps1:/opt/zixly/production/current"
    store: str | None  # the store id its manifest records (None: rendered before store ids existed)
    secrets_match: bool | None = None  # some secret file equals ours (None: nothing to compare)


@dataclass(frozen=True)
class Evidence:
    """What shows an environment's secrets were used before (empty: a machine that never ran it)."""

    releases: tuple[Release, ...] = ()
    volumes: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    backups: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing of the environment exists anywhere we looked."""
        return not (self.releases or self.volumes or self.containers or self.backups)

    def merged(self, other: Evidence) -> Evidence:
        """Both pieces of evidence together."""
        return Evidence(self.releases + other.releases, self.volumes + other.volumes,
                        self.containers + other.containers, self.backups + other.backups)

    def lines(self) -> list[str]:
        """One human line per kind of evidence."""
        out = []
        for r in self.releases:
            made = f"made with store {r.store}" if r.store else "made before zixly recorded store ids"
            out.append(f"a deployed release: {r.where} ({made})")
        if self.volumes:
            out.append(f"data volumes: {_few(self.volumes)}")
        if self.containers:
            out.append(f"containers: {_few(self.containers)}")
        out += [f"a backup: {b}" for b in self.backups]
        return out


@dataclass(frozen=True)
class StoreState:
    """The store a command is about to use."""

    env: str
    path: str  # secrets.age as shown to the user
    store_id: str
    new: bool  # its fingerprint key (so its id) is generated now: it never deployed anything
    generated: tuple[str, ...] = ()  # other secrets generated now


def _few(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:_SHOWN])
    return shown + (f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")


def _at_risk(never_rotate: Mapping[str, str]) -> str:
    if not never_rotate:
        return ""
    lines = "".join(f"\n  - {name}: {reason}" for name, reason in sorted(never_rotate.items()))
    return f"\nThese keys must never change; a new store would replace them:{lines}"


def recover_hint(env: str, path: str, *, store_exists: bool, from_release: bool = True) -> str:
    """The ways to get the store back, one per line."""
    lines = []
    if from_release:
        aside = f" (it never overwrites a store: first `mv {path} {path}.new`)" if store_exists else ""
        lines.append(f"  - `zixly secrets recover {env} --from-release` rebuilds {path} from the deployed release"
                     f"{aside}")
    lines.append(f"  - from git history: `git log -- {path}`, then `git checkout <commit> -- {path}`")
    lines.append(f"  - from a backup of {path} (or of the whole repository)")
    return "Get the store back:\n" + "\n".join(lines)


def missing_store(env: str, path: str, why: str, evidence: Evidence, never_rotate: Mapping[str, str]) -> SecretsError:
    """``secrets.age`` is missing where secrets were used before (*why*: recipients.txt, the evidence...)."""
    seen = "".join(f"\n  - {line}" for line in evidence.lines())
    return SecretsError(
        f"{path}: the secrets store of {env!r} is missing, but {why}{seen}\n"
        f"A new store would start every app with new passwords and keys: databases refuse them "
        f"(\"access denied\") and data encrypted with the old keys is lost.{_at_risk(never_rotate)}\n"
        f"{recover_hint(env, path, store_exists=False, from_release=bool(evidence.releases) or not seen)}\n"
        f"Only `zixly secrets init {env}` creates a store (and `zixly up`, on a machine with no data of it). "
        f"{UNTOUCHED}"
    )


def judge(state: StoreState, evidence: Evidence, never_rotate: Mapping[str, str]) -> SecretsError | None:
    """Refuse *state*'s store when it did not make the data *evidence* shows (see module doc)."""
    reasons = []
    for r in evidence.releases:
        if r.store is not None and r.store != state.store_id:
            mine = "a new store that never deployed" if state.new else f"store {state.store_id}"
            reasons.append(f"{r.where} was deployed with store {r.store}; yours ({state.path}) is {mine}")
        elif r.store is None and r.secrets_match is False:
            reasons.append(f"{r.where} was deployed with other secrets: none of its secret files matches yours")
    if not evidence.releases and (evidence.volumes or evidence.containers) and state.generated:
        reasons.append(
            f"data of {state.env!r} exists ({_few(evidence.volumes + evidence.containers)}) but no deployed release "
            f"says which store made it, and your store lacks {_few(state.generated)} (they would be generated now)"
        )
    if not reasons:
        return None
    listed = "".join(f"\n  - {r}" for r in reasons)
    others = [line for line in evidence.lines() if not line.startswith("a deployed release")]
    also = "".join(f"\n  - {line}" for line in others)
    return SecretsError(
        f"{state.env}: refused: the data of {state.env!r} was made with another secrets store:{listed}{also}\n"
        f"Going on would give the apps new passwords and keys: databases refuse them (\"access denied\", the "
        f"deploy rolls back) and data encrypted with the old keys cannot be read.{_at_risk(never_rotate)}\n"
        f"{recover_hint(state.env, state.path, store_exists=True, from_release=bool(evidence.releases))}\n"
        f"{UNTOUCHED}"
    )
