"""LocalDocker's argv, pinned with a recording ``docker`` (a script that logs its argv and answers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from zixly_stack.hooks.base import ContainerRef
from zixly_stack.hooks.local import LocalDocker, exec_argv

FAKE = r'''
import json, sys
log, argv = sys.argv[1], sys.argv[2:]
with open(log, "a") as fh:
    fh.write(json.dumps({"argv": argv, "stdin": sys.stdin.read() if "-i" in argv else None}) + "\n")
if argv[:2] == ["ps", "-q"]:
    print("c0ffee" if "label=com.docker.compose.service=n8n" in argv else "")
elif argv[:1] == ["inspect"] and "org.zixly.standin" in argv[2]:
    print("true")
elif argv[:1] == ["inspect"]:
    print(json.dumps({"zixly-local-egress": {"IPAddress": "172.20.0.9"},
                      "zixly-local-proxy": {"IPAddress": "172.19.0.4"}}))
elif argv[:1] == ["exec"]:
    sys.exit(7)
'''


def _transport(tmp_path: Path) -> tuple[LocalDocker, Path]:
    script = tmp_path / "docker.py"
    script.write_text(FAKE)
    log = tmp_path / "log"
    return LocalDocker(prefix="zixly-local", docker=[sys.executable, str(script), str(log)], env={}), log


def _calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_exec_finds_the_compose_container_and_sends_stdin(tmp_path: Path) -> None:
    t, log = _transport(tmp_path)
    res = t.exec(ContainerRef("n8n", "n8n"), ["n8n", "import:workflow", "--input=/dev/stdin"], user="node",
                 stdin=b"[]")
    assert res.returncode == 7
    calls = _calls(log)
    assert calls[0]["argv"] == ["ps", "-q", "--filter", "label=com.docker.compose.project=zixly-local-n8n",
                                "--filter", "label=com.docker.compose.service=n8n", "--filter", "status=running"]
    assert calls[-1] == {"argv": ["exec", "-i", "-u", "node", "c0ffee", "n8n", "import:workflow",
                                  "--input=/dev/stdin"], "stdin": "[]"}


def test_endpoint_prefers_the_proxy_network_and_standin_label(tmp_path: Path) -> None:
    t, _ = _transport(tmp_path)
    assert t.endpoint(ContainerRef("n8n", "n8n"), 5678).base_url == "http://172.19.0.4:5678"
    assert t.standin(ContainerRef("n8n", "n8n")) is True
    assert t.standin(ContainerRef("plane", "api")) is None  # not running: let the hook report it


def test_exec_argv_is_pure() -> None:
    assert exec_argv(["docker"], "c1", ["psql", "-f", "-"], user="postgres", interactive=True) == \
        ["docker", "exec", "-i", "-u", "postgres", "c1", "psql", "-f", "-"]
    assert exec_argv(["docker"], "c1", ["true"]) == ["docker", "exec", "c1", "true"]
