"""``zixly secrets recover ENV --from-release``: rebuild a lost store from what a deploy left on its hosts.

Contract
--------
* Refuses when ``secrets.age`` exists (it never overwrites a store) and writes nothing
  when it refuses.
* Reads each host's deployed release over the deploy connection (``@local`` for this
  machine's environments, SSH otherwise): the store copy ``.zixly/secrets.age`` and the
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
from ..render.tree import STORE_COPY_PATH
from ..secrets.recover import Recovery, markers, recover
from ..secrets.value import Secret
from .hostio import read_files


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
    from ..project import display, load, render
    from ..render.context import required_secrets
    from ..secrets.identity import ensure_identity, load_identity
    from ..secrets.store import STORE_FILE, SecretStore
    from .connect import parallel
    from .hostio import read_facts
    from .runner import env_target, open_env

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

        def one(name: str) -> tuple[str, dict[str, Secret]]:
            host, paths = session.hosts[name], et.targets[name].paths
            facts = read_facts(host, name, paths, env)
            directory = paths.release(release) if release else paths.current
            if release is None and facts.release is None:
                return "", {}
            files = et.files_of(name)
            rels = sorted({STORE_COPY_PATH, *(p for p, f in files.items() if f.secret)})
            return f"{name}:{directory}", {f"{name}/{p}": v for p, v in read_release(host, name, directory, rels)
                                           .items()}

        read = parallel(one, list(session.hosts))
    finally:
        session.close()
    releases = [where for where, _ in read if where]
    if not releases:
        raise SecretsError(f"{env}: no deployed release on {', '.join(et.targets)}: nothing to recover from. "
                           "Nothing was written.")
    deployed = {k: v for _, files in read for k, v in files.items()}
    copies = [(where, deployed[f"{where.split(':', 1)[0]}/{STORE_COPY_PATH}"].reveal()) for where in releases
              if f"{where.split(':', 1)[0]}/{STORE_COPY_PATH}" in deployed]
    identity = load_identity()
    result = recover(specs, copies, identity, {f.path: f.text for f in marked if f.secret}, deployed)
    lost_keys = sorted(n for n in result.missing if specs[n].never_rotate)
    if lost_keys and not partial:
        raise SecretsError(
            f"{env}: cannot recover {', '.join(lost_keys)} from {', '.join(releases)} ("
            + "; ".join(f"{n}: {result.missing[n]}" for n in lost_keys)
            + "). These keys must never change, so nothing was written; `--partial` writes what was recovered."
        )
    store = SecretStore.open(loaded.config.directory, identity)
    if not store.recipients:
        identity = identity or ensure_identity()
        store = SecretStore.open(loaded.config.directory, identity)
        store.add_recipient(identity.public_keys[0], "recovered by zixly")
    same_keys = result.copy is not None and result.copy_keys == len(store.recipients)
    store.adopt(result.entries, result.copy if same_keys else None)  # the copy itself: the next deploy is a no-op
    store.save()
    from ..secrets.fingerprint import store_id_of

    values = {n: e.value for n, e in result.entries.items()}
    return Recovered(result, path, store.recipients, store_id_of(values), releases)
