"""n8n seed data: the workflow files in git and the credentials the hooks create. Pure.

Contract:

* :func:`load_workflows` reads ``services/n8n/seeds/workflows/*.json``: each has a fixed
  16-character ``id`` (letters/digits; ``n8n import:workflow`` upserts by it), a unique
  ``name``, a boolean ``active`` (the declared state) and ``nodes``. String values may use
  ``${setting:NAME}`` and ``${url:SERVICE}`` (resolved like the catalog's placeholders);
  anything else that looks like ``${...}`` is an error. The content hash covers the
  resolved document, so an edited file -- or a changed setting -- means "import again".
* :func:`credential_specs` lists the credentials the workflows reference: ``managed``
  ones (the warehouse loader, SMTP, admin logins known to the secrets store) are kept in
  step with their sources; ``placeholder`` ones (API tokens that only the apps can issue)
  are created once and then left to the user. Hashes cover secrets only as fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..secrets.value import Secret
from .base import HookError

ID_RE = re.compile(r"^[A-Za-z0-9]{16}$")
PLACEHOLDER_RE = re.compile(r"\$\{([a-z_]+):([A-Za-z0-9_.-]+)\}")
REPLACE_ME = "replace-me"


@dataclass(frozen=True)
class Workflow:
    """One seed workflow, placeholders resolved."""

    id: str
    name: str
    active: bool
    document: dict[str, Any]
    source: str

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical resolved document."""
        return hashlib.sha256(json.dumps(self.document, sort_keys=True).encode()).hexdigest()


def _resolve_strings(value: Any, lookup: Callable[[str, str], str], where: str) -> Any:
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            return lookup(m.group(1), m.group(2))

        return PLACEHOLDER_RE.sub(sub, value)
    if isinstance(value, list):
        return [_resolve_strings(v, lookup, where) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_strings(v, lookup, where) for k, v in value.items()}
    return value


def load_workflows(directory: Path, setting: Callable[[str], str], url: Callable[[str], str]) -> list[Workflow]:
    """Every seed workflow, sorted by file name (module contract)."""

    def lookup_for(where: str) -> Callable[[str, str], str]:
        def lookup(kind: str, arg: str) -> str:
            if kind == "setting":
                return setting(arg)
            if kind == "url":
                return url(arg)
            raise HookError(f"{where}: unsupported placeholder ${{{kind}:{arg}}} (only setting: and url:)")

        return lookup

    out: list[Workflow] = []
    seen_ids: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        where = f"services/n8n/seeds/workflows/{path.name}"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise HookError(f"{where}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
        wid, name, active = doc.get("id"), doc.get("name"), doc.get("active")
        if not isinstance(wid, str) or not ID_RE.match(wid):
            raise HookError(f"{where}: id must be 16 letters/digits (n8n upserts by it), got {wid!r}")
        if not isinstance(name, str) or not name or not isinstance(active, bool) or not doc.get("nodes"):
            raise HookError(f"{where}: needs a name, a boolean active and nodes")
        if wid in seen_ids or name in seen_names:
            raise HookError(f"{where}: id or name also used by {seen_ids.get(wid) or seen_names.get(name)}")
        seen_ids[wid], seen_names[name] = where, where
        resolved = _resolve_strings(doc, lookup_for(where), where)
        out.append(Workflow(wid, name, active, resolved, where))
    return out


@dataclass(frozen=True)
class CredentialSpec:
    """A credential the workflows use; ``data`` may hold :class:`Secret` values."""

    id: str
    name: str
    type: str
    data: Mapping[str, str | int | bool | Secret]
    managed: bool

    @property
    def digest(self) -> str:
        """Hash of the data with secrets as fingerprints (safe to store)."""
        safe = {k: (f"secret:{v.fingerprint()}" if isinstance(v, Secret) else v) for k, v in self.data.items()}
        return hashlib.sha256(json.dumps([self.id, self.name, self.type, safe], sort_keys=True).encode()).hexdigest()

    def export(self) -> dict[str, Any]:
        """The ``n8n import:credentials`` document (clear data: goes on stdin only)."""
        data = {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in self.data.items()}
        return {"id": self.id, "name": self.name, "type": self.type, "data": data}


def credential_specs(
    *, warehouse_host: str, warehouse_port: int, warehouse_db: str, warehouse_user: str,
    warehouse_password: Secret, smtp_host: str, smtp_port: int, smtp_starttls: bool,
    nextcloud_password: Secret | None, mautic_user: str, mautic_password: Secret | None,
) -> list[CredentialSpec]:
    """The credentials of the seed workflows (module contract)."""
    return [
        CredentialSpec("zixlyWarehouse01", "Warehouse (loader)", "postgres", {
            "host": warehouse_host, "port": warehouse_port, "database": warehouse_db, "user": warehouse_user,
            "password": warehouse_password, "ssl": "disable", "allowUnauthorizedCerts": False,
        }, managed=True),
        CredentialSpec("zixlySmtpMail001", "Stack SMTP", "smtp", {
            "host": smtp_host or "localhost", "port": smtp_port or 25, "secure": False,
            "disableStartTls": not smtp_starttls, "user": "", "password": "",
        }, managed=True),
        CredentialSpec("zixlyNextcloud01", "Nextcloud admin", "httpBasicAuth", {
            "user": "admin", "password": nextcloud_password or REPLACE_ME,
        }, managed=nextcloud_password is not None),
        CredentialSpec("zixlyMauticApi01", "Mautic admin", "httpBasicAuth", {
            "user": mautic_user, "password": mautic_password or REPLACE_ME,
        }, managed=mautic_password is not None),
        CredentialSpec("zixlyPlaneApi001", "Plane API key", "httpHeaderAuth", {
            "name": "X-API-Key", "value": f"{REPLACE_ME}: create an API token in Plane (profile > API tokens)",
        }, managed=False),
        CredentialSpec("zixlyInvoiceNj01", "Invoice Ninja API token", "httpHeaderAuth", {
            "name": "X-API-TOKEN", "value": f"{REPLACE_ME}: create a token in Invoice Ninja (settings > API tokens)",
        }, managed=False),
        # Callers of the stack's webhooks send this header; generated once, read it in n8n.
        CredentialSpec("zixlyWebhookKey1", "Zixly webhook key", "httpHeaderAuth", {
            "name": "X-Zixly-Key", "value": Secret(secrets.token_urlsafe(32)),
        }, managed=False),
    ]
