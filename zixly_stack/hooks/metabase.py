"""Metabase hooks: first-run setup + the warehouse connection (``metabase-setup``) and the
seed dashboards (``metabase-dashboards``), through Metabase's documented REST API.

``setup``: waits for ``GET /api/health`` (503 while Metabase migrates its app database);
``GET /api/session/properties`` tells whether a user exists (``has-user-setup``) and gives
the one-time ``setup-token``; without a user, ``POST /api/setup`` creates the admin
(``admin_email`` + ``metabase.admin_password``, tracking off). Then it signs in
(``POST /api/session``) and makes sure a database named "Warehouse" exists with the
read-only role ``reader`` at ``warehouse-db:5432`` (``POST /api/database``, or ``PUT``
when host/port/name/user differ or the reader password changed since the last run --
Metabase never returns stored passwords, so the hook's state record holds the
password's fingerprint).

``seed_dashboards``: in a collection "Zixly", every card of
``services/metabase/seeds/dashboards/*.yaml`` exists as a native question on the Warehouse
database (created, or updated when its SQL/display changed), and every dashboard exists
with exactly its cards in the seed layout. Everything is matched by name, so reruns
update instead of duplicating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..secrets.value import Secret
from .base import HookError, HookResult
from .context import HookContext
from .metabase_seeds import Card, Dashboard, load_dashboards

SERVICE = "metabase"
CONTAINER = "metabase"
PORT = 3000
DATABASE_NAME = "Warehouse"
COLLECTION_NAME = "Zixly"
SESSION_HEADER = "X-Metabase-Session"


@dataclass
class MetabaseApi:
    """Metabase's REST API with a session token."""

    client: httpx.Client
    session: str = field(default="", repr=False)

    def call(self, method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200,)) -> Any:
        """JSON answer of one call; HookError on any other status."""
        headers = {SESSION_HEADER: self.session} if self.session else {}
        resp = self.client.request(method, path, json=body, headers=headers)
        if resp.status_code not in ok:
            raise HookError(f"Metabase {method} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json() if resp.content else None

    def login(self, email: str, password: Secret) -> None:
        """``POST /api/session``; HookError when the stored admin password is refused."""
        resp = self.client.post("/api/session", json={"username": email, "password": password.reveal()})
        if resp.status_code != 200:
            raise HookError(f"Metabase refused {email}'s sign-in (HTTP {resp.status_code}): the admin password "
                            "in Metabase differs from metabase.admin_password")
        self.session = str(resp.json()["id"])

    def items(self, path: str) -> list[dict[str, Any]]:
        """A list endpoint's items (plain list, or ``{"data": [...]}``)."""
        got = self.call("GET", path)
        data = got.get("data", []) if isinstance(got, dict) else got
        return [x for x in data if isinstance(x, dict)]


def _wait(ctx: HookContext, client: httpx.Client) -> None:
    ctx.wait_http(client, "/api/health", lambda r: r.status_code == 200, what="Metabase", interval=3.0)


def _signed_in(ctx: HookContext, client: httpx.Client) -> MetabaseApi:
    api = MetabaseApi(client)
    api.login(ctx.setting("admin_email"), ctx.secret("metabase.admin_password"))
    return api


def _first_run(ctx: HookContext, api: MetabaseApi) -> bool:
    """Create the admin with the setup token when Metabase has no user yet; True if it did."""
    props = api.call("GET", "/api/session/properties")
    if props.get("has-user-setup"):
        return False
    token = props.get("setup-token")
    if not token:
        raise HookError("Metabase has no user and offers no setup token")
    password = ctx.secret("metabase.admin_password").reveal()
    api.call("POST", "/api/setup", {
        "token": token,
        "user": {"email": ctx.setting("admin_email"), "first_name": "Zixly", "last_name": "Admin",
                 "password": password, "password_confirm": password, "site_name": "Zixly"},
        "prefs": {"site_name": "Zixly", "site_locale": "en", "allow_tracking": False},
    })
    return True


def warehouse_details(ctx: HookContext) -> dict[str, Any]:
    """Connection details of the warehouse as Metabase's ``postgres`` engine takes them."""
    return {"host": "warehouse-db", "port": 5432, "dbname": "warehouse", "user": "reader",
            "password": ctx.secret("warehouse.reader_password").reveal(), "ssl": False,
            "tunnel-enabled": False, "advanced-options": False, "schema-filters-type": "inclusion",
            "schema-filters-patterns": "warehouse"}


def _ensure_database(ctx: HookContext, api: MetabaseApi, before: Mapping[str, str]) -> tuple[int, str | None]:
    details = warehouse_details(ctx)
    fingerprint = ctx.secret("warehouse.reader_password").fingerprint()
    found = [d for d in api.items("/api/database") if d.get("name") == DATABASE_NAME]
    body = {"name": DATABASE_NAME, "engine": "postgres", "details": details, "is_full_sync": True}
    if not found:
        created = api.call("POST", "/api/database", body)
        return int(created["id"]), "added the Warehouse database (role reader)"
    db = found[0]
    have = db.get("details") or {}
    same = all(str(have.get(k)) == str(details[k]) for k in ("host", "port", "dbname", "user"))
    if same and db.get("engine") == "postgres" and before.get("database:password") == fingerprint:
        return int(db["id"]), None
    api.call("PUT", f"/api/database/{db['id']}", body)
    return int(db["id"]), "updated the Warehouse connection"


def setup(ctx: HookContext) -> HookResult:
    """``metabase-setup`` (module docstring)."""
    before = ctx.previous.applied if ctx.previous else {}
    changes: list[str] = []
    with ctx.http(CONTAINER, PORT, service=SERVICE) as client:
        _wait(ctx, client)
        if _first_run(ctx, MetabaseApi(client)):
            changes.append(f"created admin {ctx.setting('admin_email')}")
        api = _signed_in(ctx, client)
        db_id, change = _ensure_database(ctx, api, before)
        if change:
            changes.append(change)
    applied = {"admin": ctx.setting("admin_email"), "database:id": str(db_id),
               "database:password": ctx.secret("warehouse.reader_password").fingerprint()}
    return HookResult.done(changes, applied, "admin and Warehouse database in place")


def _collection(api: MetabaseApi) -> tuple[int, bool]:
    for c in api.items("/api/collection"):
        if c.get("name") == COLLECTION_NAME and not c.get("archived") and isinstance(c.get("id"), int):
            return int(c["id"]), False
    created = api.call("POST", "/api/collection", {"name": COLLECTION_NAME, "description": "Seeded by zixly hooks",
                                                   "parent_id": None})
    return int(created["id"]), True


def _card_body(card: Card, db_id: int, collection_id: int) -> dict[str, Any]:
    return {"name": card.name, "display": card.display, "collection_id": collection_id,
            "visualization_settings": {}, "description": None,
            "dataset_query": {"type": "native", "database": db_id,
                              "native": {"query": card.sql, "template-tags": {}}}}


def _ensure_cards(api: MetabaseApi, dashboards: list[Dashboard], db_id: int, collection_id: int,
                  before: Mapping[str, str]) -> tuple[dict[str, int], list[str]]:
    existing = {c["name"]: c for c in api.items("/api/card?f=all")
                if c.get("collection_id") == collection_id and not c.get("archived")}
    ids: dict[str, int] = {}
    changed: list[str] = []
    for card in (c for d in dashboards for c in d.cards):
        have = existing.get(card.name)
        key = f"card:{card.name}"
        if have is None:
            ids[card.name] = int(api.call("POST", "/api/card", _card_body(card, db_id, collection_id))["id"])
            changed.append(card.name)
        else:
            ids[card.name] = int(have["id"])
            if before.get(key) != f"{card.digest}@{db_id}":
                api.call("PUT", f"/api/card/{have['id']}", _card_body(card, db_id, collection_id))
                changed.append(card.name)
    return ids, changed


def _ensure_dashboard(api: MetabaseApi, dash: Dashboard, card_ids: Mapping[str, int],
                      collection_id: int) -> list[str]:
    changes: list[str] = []
    found = [d for d in api.items("/api/dashboard?f=all")
             if d.get("name") == dash.name and d.get("collection_id") == collection_id and not d.get("archived")]
    if found:
        dash_id = int(found[0]["id"])
    else:
        dash_id = int(api.call("POST", "/api/dashboard", {"name": dash.name, "description": dash.description,
                                                          "collection_id": collection_id})["id"])
        changes.append(f"created dashboard {dash.name}")
    current = api.call("GET", f"/api/dashboard/{dash_id}")
    have = current.get("dashcards") or current.get("ordered_cards") or []
    want = [(card_ids[c.name], row, col, c.width, c.height) for c, row, col in dash.layout()]
    got = sorted((d.get("card_id"), d.get("row"), d.get("col"), d.get("size_x"), d.get("size_y")) for d in have)
    if got != sorted(want):
        reuse = {d.get("card_id"): d.get("id") for d in have}
        dashcards: list[dict[str, Any]] = [
            {"id": reuse.get(cid) or -(i + 1), "card_id": cid, "row": row, "col": col, "size_x": w, "size_y": h,
             "parameter_mappings": [], "visualization_settings": {}}
            for i, (cid, row, col, w, h) in enumerate(want)
        ]
        api.call("PUT", f"/api/dashboard/{dash_id}", {"dashcards": dashcards})
        changes.append(f"laid out {dash.name}")
    return changes


def seed_dashboards(ctx: HookContext) -> HookResult:
    """``metabase-dashboards`` (module docstring)."""
    dashboards = load_dashboards(ctx.seeds(SERVICE) / "dashboards")
    before = ctx.previous.applied if ctx.previous else {}
    changes: list[str] = []
    with ctx.http(CONTAINER, PORT, service=SERVICE) as client:
        _wait(ctx, client)
        api = _signed_in(ctx, client)
        dbs = [d for d in api.items("/api/database") if d.get("name") == DATABASE_NAME]
        if not dbs:
            raise HookError("Metabase has no Warehouse database yet (metabase-setup adds it)")
        db_id = int(dbs[0]["id"])
        collection_id, made = _collection(api)
        if made:
            changes.append(f"created collection {COLLECTION_NAME}")
        card_ids, cards_changed = _ensure_cards(api, dashboards, db_id, collection_id, before)
        if cards_changed:
            changes.append(f"cards {', '.join(cards_changed)}")
        for dash in dashboards:
            changes += _ensure_dashboard(api, dash, card_ids, collection_id)
    applied = {f"card:{c.name}": f"{c.digest}@{db_id}" for d in dashboards for c in d.cards}
    applied.update({f"dashboard:{d.name}": str(len(d.cards)) for d in dashboards})
    return HookResult.done(changes, applied, f"{len(dashboards)} dashboards in place")
