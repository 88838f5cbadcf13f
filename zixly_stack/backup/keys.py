"""The hidden-key check of the staging rehearsal.

Restoring production's data into staging only works when staging holds production's
never-rotate app keys (n8n's encryption key, Laravel app keys...): otherwise the restored
credentials and encrypted columns cannot be decrypted. :func:`key_mismatches` names the
keys that differ (values are compared, never shown).
"""

from __future__ import annotations

from ..render.backup.repo import PASSWORD_SECRET
from ..render.context import required_secrets
from ..secrets.fingerprint import KEY_SECRET
from .local import Env


def key_mismatches(src: Env, dst: Env) -> list[str]:
    """Names of never-rotate secrets both environments use whose values differ (sorted)."""
    specs = required_secrets(dst.stack)
    out = []
    for name, spec in specs.items():
        if not spec.never_rotate or name in (PASSWORD_SECRET, KEY_SECRET):  # per-environment by design
            continue
        a, b = src.secrets.get(name), dst.secrets.get(name)
        if a is not None and b is not None and a.reveal() != b.reveal():
            out.append(name)
    return sorted(out)
