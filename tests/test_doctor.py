"""``zixly doctor``: a taken port 80 and a missing engine are named as what to fix (exit 1).

Real parts: a real TCP listener holds port 80 on a loopback address of its own (the edge's
bind address of a throwaway copy of the mini repository); the missing engine is a
``DOCKER_HOST`` naming a socket where nothing listens (the machine's engine is untouched);
the all-clear case asks the machine's real engine. Binding port 80 needs root (the tests and
CI run as root).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zixly_stack.doctor import Finding, check_port, listeners, mem_bytes, ok

MINIREPO = Path(__file__).parent / "fixtures" / "minirepo"


def _free_loopback() -> str:
    for _ in range(50):
        addr = f"127.0.0.{random.randint(100, 250)}"
        if not any(a == addr for port in (80, 443) for a, _i in listeners(port)):
            return addr
    raise AssertionError("no free loopback address found")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the mini repository whose edge binds a loopback address no one uses."""
    root = tmp_path / "repo"
    shutil.copytree(MINIREPO, root)
    addr = _free_loopback()
    env_file = root / "inventories" / "base" / "environment.yaml"
    env_file.write_text(env_file.read_text() + f"edge:\n  bind: {addr}\n")
    return root, addr


@pytest.fixture
def port80(repo: tuple[Path, str]) -> Iterator[socket.socket]:
    """A real listener on port 80 of the repo's edge address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((repo[1], 80))
    sock.listen()
    yield sock
    sock.close()


def _doctor(root: Path, tmp_path: Path, *args: str, docker_host: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZIXLY_AGE", "DOCKER_HOST"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no key configured, no store: nothing to open
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    return subprocess.run([sys.executable, "-m", "zixly_stack.cli", "--root", str(root), "doctor", "base", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_taken_port_80_and_missing_engine_are_what_to_fix(
    repo: tuple[Path, str], port80: socket.socket, tmp_path: Path
) -> None:
    root, addr = repo
    dead = f"unix://{tmp_path}/nothing-listens.sock"
    res = _doctor(root, tmp_path, docker_host=dead)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    port_line = next(i for i, ln in enumerate(lines) if ln.startswith("FAIL  port 80:"))
    assert f"taken on {addr}: python" in lines[port_line] and f"listens on {addr}:80" in lines[port_line]
    assert lines[port_line + 1].strip().startswith("fix: stop that process")
    engine_line = next(i for i, ln in enumerate(lines) if ln.startswith("FAIL  engine:"))
    assert dead in lines[engine_line]
    assert "zixly up" in lines[engine_line + 1]
    assert any(ln.startswith("ok    port 443: free on " + addr) for ln in lines)
    assert lines[-1].startswith("doctor: fix the FAIL lines")

    doc = json.loads(_doctor(root, tmp_path, "--json", docker_host=dead).stdout)
    by = {c["check"]: c for c in doc["checks"]}
    assert doc["ok"] is False
    assert by["port 80"]["status"] == "fail" and by["engine"]["status"] == "fail"
    assert by["port 80"]["fix"] and by["engine"]["fix"]


@pytest.mark.engine
def test_a_ready_machine_exits_0(repo: tuple[Path, str], tmp_path: Path) -> None:
    """The machine's real engine, nothing on the repo's edge address: every check passes or warns."""
    res = _doctor(repo[0], tmp_path, "--json")
    doc = json.loads(res.stdout)
    failed = [c for c in doc["checks"] if c["status"] == "fail"]
    assert res.returncode == 0 and doc["ok"] is True, failed
    by = {c["check"]: c for c in doc["checks"]}
    assert by["engine"]["detail"].startswith("Docker ") and "API 1." in by["engine"]["detail"]
    assert by["port 80"]["detail"] == f"free on {repo[1]}"


def test_a_port_held_by_our_own_traefik_is_fine(repo: tuple[Path, str], port80: socket.socket) -> None:
    addr = repo[1]
    assert check_port(80, addr, lambda port: port == 80).status == "ok"
    taken = check_port(80, addr, lambda port: False)
    assert taken.status == "fail" and f"{addr}:80" in taken.detail
    assert check_port(80, "127.0.0.99" if addr != "127.0.0.99" else "127.0.0.98", lambda p: False).status == "ok"


def test_wildcard_listeners_cover_every_address(port80: socket.socket) -> None:
    assert check_port(80, "0.0.0.0", lambda p: False).status == "fail"


def test_helpers() -> None:
    assert mem_bytes("512m") == 512 << 20 and mem_bytes("1g") == 1 << 30
    assert ok([Finding("a", "ok", ""), Finding("b", "warn", "")])
    assert not ok([Finding("a", "ok", ""), Finding("b", "fail", "")])
