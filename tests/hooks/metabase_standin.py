"""A stand-in for Metabase's REST API -- exactly the calls the metabase hooks make.

Real Metabase (a JVM app) cannot run on this machine, so this server implements the
documented contract of these endpoints (https://www.metabase.com/docs/latest/api and
.../api/setup), including what makes them stateful and strict:

* ``GET /api/health`` -> 503 ``{"status":"initializing"}`` for the first ``warmup`` polls,
  then 200 ``{"status":"ok"}``;
* ``GET /api/session/properties`` -> ``has-user-setup`` and, before setup, ``setup-token``;
* ``POST /api/setup`` -> 403 unless the token matches and no user exists; creates the admin;
* ``POST /api/session`` -> ``{"id": <session>}``, 401 on a wrong password;
* every other call needs ``X-Metabase-Session`` (401 otherwise);
* ``/api/database`` (GET ``{"data": [...]}``, POST, PUT ``/:id``) -- details must carry
  host/port/dbname/user/password; passwords are never returned (``**MetabasePass**``);
* ``/api/collection``, ``/api/card`` (native ``dataset_query`` on an existing database),
  ``/api/dashboard`` with ``GET /:id`` -> ``dashcards`` and ``PUT /:id`` with ``dashcards``
  (negative ids create, ids of existing dashcards keep them, missing ones are removed).

Every request is logged (method, path, JSON body) for assertions.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class MetabaseState:
    """Everything the stand-in remembers."""

    warmup: int = 2
    setup_token: str = field(default_factory=lambda: secrets.token_hex(16))
    users: dict[str, str] = field(default_factory=dict)  # email -> password
    sessions: set[str] = field(default_factory=set)
    databases: dict[int, dict[str, Any]] = field(default_factory=dict)
    collections: dict[int, dict[str, Any]] = field(default_factory=dict)
    cards: dict[int, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[int, dict[str, Any]] = field(default_factory=dict)
    log: list[tuple[str, str, Any]] = field(default_factory=list)
    next_id: int = 1
    health_polls: int = 0

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def writes(self) -> list[tuple[str, str]]:
        """(method, path) of every non-GET call after sign-in calls are excluded."""
        return [(m, p) for m, p, _ in self.log if m != "GET" and p != "/api/session"]


class _Handler(BaseHTTPRequestHandler):
    state: MetabaseState
    lock: threading.Lock

    def log_message(self, *args: object) -> None:
        return None

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        body = self._body() if method != "GET" else None
        with self.lock:
            self.state.log.append((method, self.path, body))
            status, answer = self._route(method, self.path.split("?")[0], body)
        self._send(status, answer)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        s = self.state
        if path == "/api/health":
            s.health_polls += 1
            if s.health_polls <= s.warmup:
                return 503, {"status": "initializing", "progress": 0.5}
            return 200, {"status": "ok"}
        if path == "/api/session/properties" and method == "GET":
            props: dict[str, Any] = {"has-user-setup": bool(s.users), "version": {"tag": "v0.64.1.5"}}
            if not s.users:
                props["setup-token"] = s.setup_token
            return 200, props
        if path == "/api/setup" and method == "POST":
            user = (body or {}).get("user") or {}
            if s.users or body.get("token") != s.setup_token:
                return 403, {"message": "Setup token is invalid or already used"}
            if not user.get("email") or not user.get("password"):
                return 400, {"errors": {"user": "email and password required"}}
            s.users[user["email"]] = user["password"]
            session = secrets.token_hex(8)
            s.sessions.add(session)
            return 200, {"id": session}
        if path == "/api/session" and method == "POST":
            if s.users.get(body.get("username")) != body.get("password"):
                return 401, {"errors": {"password": "did not match stored password"}}
            session = secrets.token_hex(8)
            s.sessions.add(session)
            return 200, {"id": session}
        if self.headers.get("X-Metabase-Session") not in s.sessions:
            return 401, "Unauthenticated"
        parts = path.strip("/").split("/")[1:]  # after "api"
        kind = parts[0]
        ident = int(parts[1]) if len(parts) > 1 else None
        if kind == "database":
            return self._database(method, ident, body)
        if kind == "collection":
            return self._simple(s.collections, method, ident, body, ("name",))
        if kind == "card":
            if method != "GET":
                q = (body or {}).get("dataset_query") or {}
                if q.get("type") != "native" or q.get("database") not in s.databases or \
                        not (q.get("native") or {}).get("query"):
                    return 400, {"message": "dataset_query must be a native query on an existing database"}
            return self._simple(s.cards, method, ident, body, ("name", "display", "dataset_query"))
        if kind == "dashboard":
            return self._dashboard(method, ident, body)
        return 404, {"message": f"no route {method} {path}"}

    def _database(self, method: str, ident: int | None, body: Any) -> tuple[int, Any]:
        s = self.state

        def public(d: dict[str, Any]) -> dict[str, Any]:
            return {**d, "details": {**d["details"], "password": "**MetabasePass**"}}

        if method == "GET" and ident is None:
            return 200, {"data": [public(d) for d in s.databases.values()], "total": len(s.databases)}
        details = (body or {}).get("details") or {}
        if not all(details.get(k) for k in ("host", "port", "dbname", "user", "password")):
            return 400, {"errors": {"details": "host, port, dbname, user and password are required"}}
        if method == "POST":
            new = {"id": s.new_id(), "name": body["name"], "engine": body["engine"], "details": details}
            s.databases[new["id"]] = new
            return 200, public(new)
        if method == "PUT" and ident in s.databases:
            s.databases[ident].update({"name": body["name"], "engine": body["engine"], "details": details})
            return 200, public(s.databases[ident])
        return 404, {"message": "Not found."}

    def _simple(self, table: dict[int, dict[str, Any]], method: str, ident: int | None, body: Any,
                required: tuple[str, ...]) -> tuple[int, Any]:
        if method == "GET" and ident is None:
            return 200, list(table.values())
        if method == "GET" and ident in table:
            return 200, table[ident]
        if any(k not in (body or {}) for k in required):
            return 400, {"errors": {k: "required" for k in required if k not in (body or {})}}
        if method == "POST":
            new = {**body, "id": self.state.new_id(), "archived": False}
            table[new["id"]] = new
            return 200, new
        if method == "PUT" and ident in table:
            table[ident].update(body)
            return 200, table[ident]
        return 404, {"message": "Not found."}

    def _dashboard(self, method: str, ident: int | None, body: Any) -> tuple[int, Any]:
        s = self.state
        if method == "PUT" and ident in s.dashboards and "dashcards" in (body or {}):
            kept: list[dict[str, Any]] = []
            for dc in body["dashcards"]:
                if dc.get("card_id") not in s.cards or not all(k in dc for k in ("row", "col", "size_x", "size_y")):
                    return 400, {"message": "invalid dashcard"}
                new = dict(dc)
                if new["id"] < 0:
                    new["id"] = s.new_id()
                kept.append(new)
            s.dashboards[ident]["dashcards"] = kept
            return 200, s.dashboards[ident]
        if method == "POST":
            body = {**(body or {}), "dashcards": []}
        return self._simple(s.dashboards, method, ident, body, ("name",))


@dataclass
class MetabaseStandin:
    """A running stand-in on 127.0.0.1 (start with :func:`start`, stop with :meth:`stop`)."""

    server: ThreadingHTTPServer
    state: MetabaseState

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(state: MetabaseState | None = None) -> MetabaseStandin:
    """Serve a stand-in in a daemon thread."""
    st = state or MetabaseState()
    handler = type("Handler", (_Handler,), {"state": st, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return MetabaseStandin(server, st)
