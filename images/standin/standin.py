#!/usr/bin/python3
"""zixly offline kit: a clearly labelled STAND-IN for an application image we cannot fetch here.

It is NOT the application. It exists so that routing, health checks, backups and
restores of the stack can be exercised without the vendor's image.

Configuration: env ZIXLY_STANDIN_CONFIG (JSON), e.g.
  {"app": "metabase",
   "http": [{"port": 3000, "path": "/api/health", "status": 200,
             "body": "{\"status\":\"ok\"}", "content_type": "application/json"}],
   "processes": ["celery"],
   "write": ["/metabase-data"]}

Behaviour:
* listens on every port listed in "http"; a configured path answers with its status,
  body, content type (and optional "headers"); "/" answers 200 with an HTML page saying
  this is a stand-in; any other path answers 404;
* health: every configured path (unless "health": false) answers 503 while failing.
  Failing = after POST /__standin/fail, or while /tmp/standin-fail exists (path:
  ZIXLY_STANDIN_FAIL_FILE), or with ZIXLY_STANDIN_FAIL=1; POST /__standin/heal restores (and overrides the env switch);
  GET /__standin/state reports the state as JSON;
* writes, on first start only, a deterministic marker file (.zixly-standin-<app>) and a
  small random file (zixly-standin-<app>.bin) into each "write" directory; existing
  files are never overwritten;
* spawns idle children whose command line holds each "processes" name, so that
  `pgrep -f NAME` matches them;
* with "job": true it is a one-shot job (migrations, setup): it writes its files and
  exits at once, 0 (1 while failing), for `depends_on: service_completed_successfully`;
* ignores its arguments (the catalog may pass the upstream command); they stay in its
  own command line. SIGTERM/SIGINT stop it and its children at once.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FAIL_FILE = Path(os.environ.get("ZIXLY_STANDIN_FAIL_FILE", "/tmp/standin-fail"))
CONTROL_PREFIX = "/__standin/"
DEFAULT_CONFIG: dict[str, Any] = {
    "app": "unknown",
    "http": [{"port": 8080, "path": "/healthz", "status": 200, "body": "ok"}],
}


class State:
    """Health switch shared by all listeners."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.override: bool | None = None  # None: follow env + fail file

    def failing(self) -> bool:
        with self.lock:
            if self.override is not None:
                return self.override
        return os.environ.get("ZIXLY_STANDIN_FAIL") == "1" or FAIL_FILE.exists()

    def set(self, failing: bool) -> None:
        with self.lock:
            self.override = failing
        try:
            if failing:
                FAIL_FILE.touch()
            else:
                FAIL_FILE.unlink(missing_ok=True)
        except OSError:
            pass


def load_config() -> dict[str, Any]:
    raw = os.environ.get("ZIXLY_STANDIN_CONFIG", "").strip()
    config = json.loads(raw) if raw else dict(DEFAULT_CONFIG)
    if not isinstance(config, dict):
        raise SystemExit("STAND-IN: ZIXLY_STANDIN_CONFIG must be a JSON object")
    config.setdefault("app", "unknown")
    config.setdefault("http", [])
    config.setdefault("processes", [])
    config.setdefault("write", [])
    for entry in config["http"]:
        entry.setdefault("path", "/")
        entry.setdefault("status", 200)
        entry.setdefault("body", "")
        entry.setdefault("content_type", "text/plain; charset=utf-8")
        entry.setdefault("health", True)
        entry["port"] = int(entry["port"])
    return config


def landing_page(app: str) -> bytes:
    name = html.escape(app)
    return (
        "<!doctype html><html><head><title>STAND-IN for " + name + "</title></head><body>"
        "<h1>STAND-IN: this is not the real " + name + "</h1>"
        "<p>This container is a zixly offline-kit stand-in. It answers the vendor's health "
        "endpoint and writes test data so routing, health and backups can be exercised.</p>"
        "</body></html>\n"
    ).encode()


def make_handler(config: dict[str, Any], state: State, port: int) -> type[BaseHTTPRequestHandler]:
    routes = {e["path"]: e for e in config["http"] if e["port"] == port}
    app = str(config["app"])

    class Handler(BaseHTTPRequestHandler):
        server_version = f"zixly-standin/{app}"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"standin[{app}:{port}] {self.address_string()} {format % args}\n")

        def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Zixly-Standin", app)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _control(self, path: str) -> None:
            action = path[len(CONTROL_PREFIX) :]
            if action == "fail" and self.command == "POST":
                state.set(True)
            elif action == "heal" and self.command == "POST":
                state.set(False)
            elif action != "state":
                self._send(404, b"unknown control\n", "text/plain")
                return
            body = json.dumps({"app": app, "failing": state.failing(), "standin": True}).encode()
            self._send(200, body + b"\n", "application/json")

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            if path.startswith(CONTROL_PREFIX):
                self._control(path)
                return
            route = routes.get(path)
            if route is not None:
                if route["health"] and state.failing():
                    self._send(503, b"STAND-IN: failing on request\n", "text/plain")
                    return
                self._send(
                    int(route["status"]), str(route["body"]).encode(), str(route["content_type"]), route.get("headers")
                )
                return
            if path == "/":
                self._send(200, landing_page(app), "text/html; charset=utf-8")
                return
            self._send(404, b"not found\n", "text/plain")

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle

    return Handler


def write_data(config: dict[str, Any]) -> None:
    app = str(config["app"])
    for directory in config["write"]:
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        marker = target / f".zixly-standin-{app}"
        if not marker.exists():
            marker.write_text(f"zixly stand-in data for {app}\ndirectory: {directory}\n")
        blob = target / f"zixly-standin-{app}.bin"
        if not blob.exists():
            blob.write_bytes(secrets.token_bytes(4096))


def spawn_processes(config: dict[str, Any]) -> list[subprocess.Popen[bytes]]:
    children = []
    for name in config["processes"]:
        title = f"{name} (zixly stand-in process)"
        children.append(subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep infinity', title]))
    return children


def main() -> None:
    config = load_config()
    app = str(config["app"])
    print(f"STAND-IN: this is not the real {app} (zixly offline kit); args ignored: {sys.argv[1:]}", flush=True)
    write_data(config)
    if config.get("job"):
        # a one-shot job (migrations, setup): done at once; exit 1 when asked to fail
        failed = State().failing()
        print(f"STAND-IN: {app} one-shot job {'failed on request' if failed else 'done'}", flush=True)
        raise SystemExit(1 if failed else 0)
    children = spawn_processes(config)
    state = State()
    servers = []
    for port in sorted({e["port"] for e in config["http"]}):
        server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(config, state, port))
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"STAND-IN: {app} listening on :{port}", flush=True)

    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(1.0):
        for child in children:
            child.poll()  # reap
    for server in servers:
        server.shutdown()
    for child in children:
        child.terminate()
    print(f"STAND-IN: {app} stopped", flush=True)


if __name__ == "__main__":
    main()
