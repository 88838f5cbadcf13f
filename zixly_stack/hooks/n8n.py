"""n8n hooks: the env-managed owner (``n8n-owner``) and the seed workflows (``n8n-workflows``).

``ensure_owner`` waits for n8n's REST API (``/rest/settings`` answers a few seconds after
``/healthz``), checks the owner exists (n8n >= 2.17 creates it from
``N8N_INSTANCE_OWNER_*``, set by the catalog with a bcrypt of ``n8n.owner_password``) and
signs in with that password. Nothing to create: a failed sign-in means the hash and the
stored password disagree.

``seed_workflows`` (see :mod:`.n8n_seeds` for the seed contract):

1. reads what n8n has through its REST API, signed in as the owner;
2. imports missing credentials, and managed ones whose content changed, with
   ``n8n import:credentials --input=/dev/stdin`` (clear values travel on stdin only; n8n
   encrypts them with its key);
3. imports workflows that are missing or whose file changed since the last run with
   ``n8n import:workflow --input=/dev/stdin`` (upsert by the fixed id: exactly one copy,
   edited in place; the import deactivates them);
4. applies each file's declared ``active`` state through ``POST /rest/workflows/:id/
   activate|deactivate`` on the running server -- the CLI's ``publish:workflow`` only
   takes effect after a restart ("Changes will not take effect if n8n is running").

A rerun with unchanged files and settings imports nothing and toggles nothing. Edits
made in n8n's editor survive until the file in git changes; workflows n8n has beyond the
seeds are left alone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..secrets.value import Secret
from .base import HookError, HookResult
from .context import HookContext
from .n8n_seeds import CredentialSpec, credential_specs, load_workflows

SERVICE = "n8n"
CONTAINER = "n8n"
PORT = 5678
BROWSER_ID = "zixly-hooks"  # n8n binds its auth cookie to the browser-id header sent at login
_SESSIONS: dict[tuple[str, str, str], str] = {}  # (base_url, email, password fingerprint) -> cookie
_LOCK = threading.Lock()


@dataclass
class N8nApi:
    """n8n's internal REST API as the owner (cookie session, reused across hook runs)."""

    client: httpx.Client
    email: str
    password: Secret
    cookie: str = field(default="", repr=False)

    def _key(self) -> tuple[str, str, str]:
        return (str(self.client.base_url), self.email, self.password.fingerprint())

    def login(self, *, fresh: bool = False) -> None:
        """Sign in (or reuse this process's session); HookError when the password is refused."""
        with _LOCK:
            cached = None if fresh else _SESSIONS.get(self._key())
        if cached:
            self.cookie = cached
            return
        resp = self.client.post("/rest/login", headers={"browser-id": BROWSER_ID},
                                json={"emailOrLdapLoginId": self.email, "password": self.password.reveal()})
        if resp.status_code == 429:
            raise HookError("n8n rate-limits sign-ins right now (HTTP 429); retry in a few minutes")
        if resp.status_code != 200:
            raise HookError(f"n8n refused the owner's sign-in ({self.email}, HTTP {resp.status_code}): the "
                            "owner password hash in n8n's environment does not match n8n.owner_password")
        # Secure cookie: sent here over plain HTTP inside the host, so carried by hand.
        token = resp.cookies.get("n8n-auth") or ""
        if not token:
            raise HookError("n8n answered the sign-in without a session cookie")
        self.cookie = f"n8n-auth={token}"
        with _LOCK:
            _SESSIONS[self._key()] = self.cookie

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """``data`` of a JSON answer; signs in again once on 401."""
        for attempt in (1, 2):
            if not self.cookie:
                self.login()
            resp = self.client.request(method, path, json=body,
                                       headers={"cookie": self.cookie, "browser-id": BROWSER_ID})
            if resp.status_code == 401 and attempt == 1:
                self.login(fresh=True)
                continue
            if resp.status_code >= 400:
                raise HookError(f"n8n {method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
            return resp.json().get("data")
        raise HookError(f"n8n {method} {path}: not authorised")

    def workflows(self) -> dict[str, dict[str, Any]]:
        """Every workflow by id (``name``, ``active``, ``versionId``...)."""
        return {w["id"]: w for w in self.request("GET", "/rest/workflows") or []}

    def credentials(self) -> dict[str, dict[str, Any]]:
        """Every credential by id (``name``, ``type``; no data)."""
        return {c["id"]: c for c in self.request("GET", "/rest/credentials") or []}

    def set_active(self, workflow: dict[str, Any], active: bool) -> None:
        """Publish *workflow*'s current version (activate) or unpublish it, on the running server."""
        wid = workflow["id"]
        if active:
            self.request("POST", f"/rest/workflows/{wid}/activate", {"versionId": workflow["versionId"]})
        else:
            self.request("POST", f"/rest/workflows/{wid}/deactivate", {})


def _wait_rest(ctx: HookContext, client: httpx.Client) -> dict[str, Any]:
    def ready(r: httpx.Response) -> bool:
        return r.status_code == 200 and "application/json" in r.headers.get("content-type", "")

    resp = ctx.wait_http(client, "/rest/settings", ready, what="n8n's REST API")
    data: dict[str, Any] = resp.json().get("data") or {}
    return data


def _api(ctx: HookContext, client: httpx.Client) -> N8nApi:
    return N8nApi(client, ctx.setting("admin_email"), ctx.secret("n8n.owner_password"))


def ensure_owner(ctx: HookContext) -> HookResult:
    """``n8n-owner``: the env-managed owner exists and signs in with the stored password."""
    with ctx.http(CONTAINER, PORT, service=SERVICE) as client:
        settings = _wait_rest(ctx, client)
        if (settings.get("userManagement") or {}).get("showSetupOnFirstLoad", False):
            raise HookError("n8n has no owner yet: N8N_INSTANCE_OWNER_MANAGED_BY_ENV/EMAIL/PASSWORD_HASH are "
                            "not in its environment (see services/n8n/service.yaml)")
        api = _api(ctx, client)
        api.login()
    owner = f"{api.email}:{ctx.secret('n8n.owner_password').fingerprint()}"
    return HookResult(False, f"owner {api.email} signs in", {"owner": owner})


def _n8n_env(ctx: HookContext, key: str, default: str) -> str:
    value = ctx.definition.containers[CONTAINER].env.get(key, default) if ctx.service == SERVICE else default
    return value if "${" not in value else default


def _credentials(ctx: HookContext) -> list[CredentialSpec]:
    env = ctx.stack.environment
    smtp = env.smtp
    return credential_specs(
        warehouse_host=_n8n_env(ctx, "WAREHOUSE_HOST", "warehouse-db"),
        warehouse_port=int(_n8n_env(ctx, "WAREHOUSE_PORT", "5432")),
        warehouse_db=_n8n_env(ctx, "WAREHOUSE_DB", "warehouse"),
        warehouse_user=_n8n_env(ctx, "WAREHOUSE_USER", "loader"),
        warehouse_password=ctx.secret("warehouse.loader_password"),
        smtp_host=smtp.host if smtp else "", smtp_port=smtp.port if smtp else 25,
        smtp_starttls=smtp.starttls if smtp else False,
        nextcloud_password=ctx.secrets.get("nextcloud.admin_password"),
        mautic_user=env.admin_email, mautic_password=ctx.secrets.get("mautic.admin_password"),
    )


def _import(ctx: HookContext, kind: str, documents: Sequence[dict[str, Any]]) -> None:
    """``n8n import:<kind> --input=/dev/stdin`` with a JSON array on stdin."""
    res = ctx.exec(CONTAINER, ["n8n", f"import:{kind}", "--input=/dev/stdin"], service=SERVICE,
                   stdin=json.dumps(list(documents)), timeout=300)
    text = res.stdout + res.stderr
    if "Successfully imported" not in text:  # the CLI logs failures but may still exit 0
        raise HookError(f"n8n import:{kind} failed: {ctx.redact(text.strip()[-600:]) or 'no output'}")


def seed_workflows(ctx: HookContext) -> HookResult:
    """``n8n-workflows`` (module docstring)."""
    workflows = load_workflows(ctx.seeds(SERVICE) / "workflows", ctx.setting, ctx.public_url)
    if not workflows:
        raise HookError("services/n8n/seeds/workflows has no workflow files")
    creds = _credentials(ctx)
    before = ctx.previous.applied if ctx.previous else {}
    changes: list[str] = []
    applied: dict[str, str] = {}
    with ctx.http(CONTAINER, PORT, service=SERVICE) as client:
        _wait_rest(ctx, client)
        api = _api(ctx, client)
        have_creds = api.credentials()
        todo_creds = [c for c in creds if c.id not in have_creds
                      or (c.managed and before.get(f"credential:{c.id}") != c.digest)]
        if todo_creds:
            _import(ctx, "credentials", [c.export() for c in todo_creds])
            changes.append("credentials " + ", ".join(c.name for c in todo_creds))
        for c in creds:
            applied[f"credential:{c.id}"] = c.digest if c.managed else "present"
        have = api.workflows()
        todo = [w for w in workflows if w.id not in have or before.get(f"workflow:{w.id}") != w.digest]
        if todo:
            # Unpublish on the running server first: the CLI import only flips the flag in the
            # database, and the server would keep serving the old version's triggers.
            for w in todo:
                if w.id in have and have[w.id].get("active"):
                    api.set_active(have[w.id], False)
            _import(ctx, "workflow", [w.document for w in todo])
            changes.append("imported " + ", ".join(w.name for w in todo))
            have = api.workflows()
        for w in workflows:
            current = have.get(w.id)
            if current is None:
                raise HookError(f"workflow {w.id} ({w.name}) is missing after the import")
            if bool(current.get("active")) != w.active:
                api.set_active(current, w.active)
                changes.append(f"{'activated' if w.active else 'deactivated'} {w.name}")
            applied[f"workflow:{w.id}"] = w.digest
        after = api.workflows()
        wrong = [w.name for w in workflows if bool(after[w.id].get("active")) != w.active]
        if wrong:
            raise HookError(f"n8n did not take the declared active state of {', '.join(wrong)}")
    return HookResult.done(changes, applied, f"{len(workflows)} workflows and {len(creds)} credentials in place")
