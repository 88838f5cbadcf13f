"""The user-facing texts of store failures: one line each, saying what happened and what to do.

Every message names the file, never a secret value or private key, and ends with
"nothing was generated or written" where that is the guarantee the caller relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import SecretsError
from .agefile import Header
from .identity import ENV_KEY, ENV_KEY_FILE, Identity, default_key_path

UNTOUCHED = "Nothing was generated or written."


def _listed(recipients: Sequence[str]) -> str:
    if not recipients:
        return "recipients.txt lists no keys"
    return "recipients.txt lists " + ", ".join(recipients)


def _for_whom(header: Header | None, recipients: Sequence[str]) -> str:
    count = f"it is encrypted to {header.x25519_count} key(s); " if header else ""
    return count + _listed(recipients)


def no_key(path: Path, env: str, header: Header | None, recipients: Sequence[str]) -> SecretsError:
    """The store exists but no identity is configured."""
    return SecretsError(
        f"{path}: cannot decrypt: no age key found (set {ENV_KEY} or {ENV_KEY_FILE}, or put your key in "
        f"{default_key_path()}); {_for_whom(header, recipients)}. If you are new to this environment, "
        f"send your public key to one of them to run `zixly secrets recipients {env} add <your age1... key>`. "
        f"{UNTOUCHED}"
    )


def wrong_key(
    path: Path, env: str, identity: Identity, header: Header | None, recipients: Sequence[str]
) -> SecretsError:
    """The store is a valid age file, but not encrypted to any of the identity's keys."""
    mine = ", ".join(identity.public_keys)
    listed = [k for k in identity.public_keys if k in recipients]
    if listed:
        why = (
            f"your key {listed[0]} is in recipients.txt but the store was not re-encrypted for it "
            f"(recipients.txt edited by hand?) or its recipient stanza is damaged; {_for_whom(header, recipients)}. "
            f"Ask a teammate whose key works to run `zixly secrets recipients {env} add {listed[0]}`; "
            "if no key works, restore secrets.age from git"
        )
    else:
        why = (
            f"the store is not encrypted to your key; {_for_whom(header, recipients)}. "
            f"Ask one of them to run `zixly secrets recipients {env} add {identity.public_keys[0]}`"
        )
    return SecretsError(f"{path}: cannot decrypt with your key {mine} (from {identity.source}): {why}. {UNTOUCHED}")


def damaged(path: Path, detail: str) -> SecretsError:
    """The file is not a complete, authentic age file."""
    return SecretsError(
        f"{path}: the store is damaged: {detail}. Restore it from git (`git log -- {path.name}`, "
        f"`git checkout <commit> -- {path}`) or from a backup. {UNTOUCHED}"
    )


def not_a_store(path: Path, detail: str) -> SecretsError:
    """It decrypted, but the plaintext is not a store document this zixly understands."""
    return SecretsError(f"{path}: decrypted, but it is not a zixly secrets store: {detail}. {UNTOUCHED}")
