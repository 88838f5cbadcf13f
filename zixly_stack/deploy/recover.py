"""``zixly secrets recover ENV --from-release``: rebuild a lost store from what a deploy left on its hosts.

Contract
--------
* Refuses when ``secrets.age`` exists (it never overwrites a store) and writes nothing
  when it refuses.
* Reads each host's deployed release over the deploy connection (``@local`` for this
  machine's environments, SSH otherwise): its recovery sheet ``.zixly/recovery.json`` and
  secret files, as one base64 stream per host; values stay in memory.
* Rebuilds the entries with :func:`zixly_stack.secrets.recover.recover` and writes a new
  ``secrets.age`` encrypted to the recipients in ``recipients.txt`` (your key when it lists
  none), created exclusively. It generates nothing: a secret it cannot recover is reported
  with the reason; a missing never-rotate key refuses the whole recovery unless *partial*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SecretsError
from ..project import display, load, render
from ..render.context import required_secrets
from ..render.tree import RECOVERY_PATH
from ..runner.connect import parallel
from ..secrets.fingerprint import KEY_SECRET, store_id_of
from ..secrets.identity import ensure_identity, load_identity
from ..secrets.recover import Recovery, markers, recover
from ..secrets.store import STORE_FILE, SecretStore
from ..secrets.value import Secret
from .hostio import read_facts, read_files
from .runner import env_target, open_env


@dataclass
class Recovered:
    """The outcome: the recovery and where the store was written."""

    recovery: Recovery
    path: str
    recipients: tuple[str, ...]
    store_id: str | None
    releases: list[str]


def read_release(host: Any, name: str, directory: str, rels: Sequence[str]) -> dict[str, Secret]:
    """Release-relative files under *directory* on *host* (missing ones left out), each wrapped as a Secret."""
    return {rel: Secret(data.decode("utf-8", errors="replace"))
            for rel, data in read_files(host, name, directory, rels).items()}


def recover_env(root: Any, env: str, *, release: str | None = None, partial: bool = False) -> Recovered:
    """Rebuild ``inventories/ENV/secrets.age`` from the deployed release (see module doc)."""
    loaded = load(root, env)
    path = display(root, loaded.config.directory / STORE_FILE)
    if (loaded.config.directory / STORE_FILE).exists():
        raise SecretsError(f"{path}: a store exists; recover never overwrites one (move it aside first: "
                           f"`mv {path} {path}.new`). Nothing was written.")
    specs = required_secrets(loaded.stack)
    marked = render(loaded, markers(list(specs)))
    et = env_target(loaded, marked)
    session = open_env(et, None)
    try:
        if session.errors:
            raise SecretsError("cannot reach " + "; ".join(f"{h}: {e}" for h, e in session.errors.items())
                               + ". Nothing was written.")

        def one(name: str) -> tuple[str, str, dict[str, Secret]]:
            host, paths = session.hosts[name], et.targets[name].paths
            directory = paths.release(release) if release else paths.current
            if release is None and read_facts(host, name, paths, env).release is None:
                return name, "", {}
            rels = sorted({RECOVERY_PATH, *(p for p, f in et.files_of(name).items() if f.secret)})
            return name, f"{name}:{directory}", read_release(host, name, directory, rels)

        read = [r for r in parallel(one, list(session.hosts)) if r[1]]
    finally:
        session.close()
    releases = [where for _, where, _ in read]
    if not releases:
        raise SecretsError(f"{env}: no deployed release on {', '.join(et.targets)}: nothing to recover from. "
                           "Nothing was written.")
    deployed = {f"{host}/{rel}": v for host, _, files in read for rel, v in files.items()}
    sheets = [(where, files[RECOVERY_PATH]) for _, where, files in read if RECOVERY_PATH in files]
    marked_files = {f.path: f.text for f in marked if f.secret and not f.path.endswith("/" + RECOVERY_PATH)}
    result = recover(specs, sheets, marked_files, deployed)
    lost_keys = sorted(n for n in result.missing if specs[n].never_rotate and n != KEY_SECRET)  # releases made
    # before store ids never held the fingerprint key: a new one is made, and such releases are judged by their files
    if lost_keys and not partial:
        raise SecretsError(
            f"{env}: cannot recover {', '.join(lost_keys)} from {', '.join(releases)} ("
            + "; ".join(f"{n}: {result.missing[n]}" for n in lost_keys)
            + "). These keys must never change, so nothing was written; `--partial` writes what was recovered."
        )
    store = SecretStore.open(loaded.config.directory, load_identity())
    if not store.recipients:
        identity = store.identity or ensure_identity()
        store = SecretStore.open(loaded.config.directory, identity)
        store.add_recipient(identity.public_keys[0], "recovered by zixly")
    store.adopt(result.entries)
    store.save()
    values = {n: e.value for n, e in result.entries.items()}
    return Recovered(result, path, store.recipients, store_id_of(values), releases)
