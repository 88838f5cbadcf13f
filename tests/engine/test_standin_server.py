"""The stand-in server itself (images/standin/standin.py), run as a plain process: no engine.

Covers the contract the container tests rely on: configured path/status/body, "/" page,
404s, fail/heal switches (POST, file, env), marker + random files written once, named
idle children, arguments ignored, clean exit on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.conftest import free_port, http_get, wait_http
from tests.harness.nsproc import alive

SCRIPT = Path(__file__).resolve().parents[2] / "images" / "standin" / "standin.py"


def _config(port: int, data: Path, process: str) -> dict[str, object]:
    return {
        "app": "chatwoot",
        "http": [
            {
                "port": port,
                "path": "/api",
                "status": 200,
                "body": '{"version":"stand-in"}',
                "content_type": "application/json",
            },
            {"port": port, "path": "/info", "status": 200, "body": "info", "health": False},
        ],
        "processes": [process],
        "write": [str(data)],
    }


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[str, Path, str, subprocess.Popen[str]]]:
    port = free_port()
    data = tmp_path / "storage"
    process = f"sidekiq-{os.getpid()}-{port}"
    env = dict(
        os.environ,
        ZIXLY_STANDIN_CONFIG=json.dumps(_config(port, data, process)),
        ZIXLY_STANDIN_FAIL_FILE=str(tmp_path / "fail"),
    )
    env.pop("ZIXLY_STANDIN_FAIL", None)
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "bundle", "exec", "rails", "s"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api", timeout=20)
        yield base, data, process, proc
    finally:
        if proc.poll() is None:
            proc.terminate()  # the stand-in stops its own children on SIGTERM
            proc.wait(timeout=15)


def test_contract(standin: tuple[str, Path, str, subprocess.Popen[str]]) -> None:
    base, data, process, proc = standin
    assert http_get(f"{base}/api") == (200, '{"version":"stand-in"}')
    status, page = http_get(f"{base}/")
    assert status == 200 and "STAND-IN: this is not the real chatwoot" in page
    assert http_get(f"{base}/nope")[0] == 404
    assert http_get(f"{base}/api", method="HEAD")[0] == 200

    marker = data / ".zixly-standin-chatwoot"
    blob = data / "zixly-standin-chatwoot.bin"
    assert marker.read_text().startswith("zixly stand-in data for chatwoot")
    assert len(blob.read_bytes()) == 4096
    found = subprocess.run(["pgrep", "-f", process], capture_output=True, text=True, check=False)
    assert found.returncode == 0
    children = [int(pid) for pid in found.stdout.split()]

    assert http_get(f"{base}/__standin/fail", method="POST")[0] == 200
    assert http_get(f"{base}/api")[0] == 503
    assert http_get(f"{base}/info") == (200, "info")  # not a health path
    assert http_get(f"{base}/__standin/heal", method="POST")[0] == 200
    assert http_get(f"{base}/api")[0] == 200

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "STAND-IN: this is not the real chatwoot" in out
    assert "['bundle', 'exec', 'rails', 's']" in out
    # The stand-in signals its children and exits without waiting for them: poll for the very
    # processes seen above (no fixed sleep), which never end by themselves (`sleep infinity`).
    assert _all_gone(children, timeout=30), f"children {children} outlived the stand-in"
    assert subprocess.run(["pgrep", "-f", process], capture_output=True, check=False).returncode == 1


def _all_gone(pids: list[int], timeout: float) -> bool:
    """True once every pid has exited (gone, or a zombie waiting for its reaper) before *timeout*."""
    deadline = time.monotonic() + timeout
    while [p for p in pids if alive(p)]:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_files_are_never_overwritten(tmp_path: Path) -> None:
    data = tmp_path / "keep"
    data.mkdir()
    (data / ".zixly-standin-chatwoot").write_text("restored\n")
    (data / "zixly-standin-chatwoot.bin").write_bytes(b"restored")
    port = free_port()
    process = f"worker-{os.getpid()}-{port}"
    env = dict(
        os.environ,
        ZIXLY_STANDIN_CONFIG=json.dumps(_config(port, data, process)),
        ZIXLY_STANDIN_FAIL_FILE=str(tmp_path / "fail"),
    )
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api", timeout=20)
        assert (data / ".zixly-standin-chatwoot").read_text() == "restored\n"
        assert (data / "zixly-standin-chatwoot.bin").read_bytes() == b"restored"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_fail_file_and_env(tmp_path: Path) -> None:
    port = free_port()
    process = f"worker-{os.getpid()}-{port}"
    fail_file = tmp_path / "fail"
    env = dict(
        os.environ,
        ZIXLY_STANDIN_FAIL="1",
        ZIXLY_STANDIN_FAIL_FILE=str(fail_file),
        ZIXLY_STANDIN_CONFIG=json.dumps(_config(port, tmp_path / "d", process)),
    )
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=20)
        assert http_get(api)[0] == 503  # env switch
        assert http_get(f"http://127.0.0.1:{port}/__standin/heal", method="POST")[0] == 200
        assert http_get(api)[0] == 200 and not fail_file.exists()
        assert http_get(f"http://127.0.0.1:{port}/__standin/fail", method="POST")[0] == 200
        assert fail_file.exists()  # the file switch follows POST /__standin/fail
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.parametrize(("fail", "code"), [("0", 0), ("1", 1)])
def test_job_exits_at_once(tmp_path: Path, fail: str, code: int) -> None:
    config = {"app": "plane", "job": True, "write": [str(tmp_path / "media")]}
    env = dict(
        os.environ,
        ZIXLY_STANDIN_CONFIG=json.dumps(config),
        ZIXLY_STANDIN_FAIL=fail,
        ZIXLY_STANDIN_FAIL_FILE=str(tmp_path / "fail"),
    )
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "./bin/migrate"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert res.returncode == code
    assert "STAND-IN: this is not the real plane" in res.stdout
    assert (tmp_path / "media" / ".zixly-standin-plane").is_file()
