"""One way to run a command on a host: the source itself is checked (AST walk of zixly_stack/).

1. Only the runner (``zixly_stack/runner/``) starts processes -- ``subprocess.*``, ``os.system``/
   ``popen``/``exec*``/``spawn*``, asyncio subprocesses, ``pty.spawn``, paramiko's
   ``exec_command`` and pyinfra's ``run_shell_command`` -- except the modules in :data:`EXEMPT`,
   each with its reason; none of those may name a host tool (docker, compose, restic, the
   database clients, systemctl, nft) or reach for the docker client selection.
2. argv for those tools is built in ``zixly_stack/commands/`` (and the runner) only: a list or
   tuple literal anywhere else whose first element names one of them fails the test.

The checker is proven able to fail: planted modules with a forbidden call or argv are flagged.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "zixly_stack"
TOOLS = {"docker", "docker-compose", "restic", "psql", "pg_dump", "pg_dumpall", "pg_restore", "createdb", "mariadb",
         "mariadb-dump", "mariadb-admin", "mysql", "mysqldump", "redis-cli", "redis-server", "redis-check-rdb",
         "systemctl", "nft"}
SPAWN = {
    "subprocess": {"run", "Popen", "call", "check_call", "check_output", "getoutput", "getstatusoutput"},
    "os": {"system", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe",
           "spawnv", "spawnve", "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "posix_spawn",
           "posix_spawnp", "fork", "forkpty"},
    "asyncio": {"create_subprocess_exec", "create_subprocess_shell"},
    "pty": {"spawn"},
}
METHODS = {"exec_command", "run_shell_command", "invoke_shell"}  # paramiko channels/clients, pyinfra hosts
ALLOWED_DIRS = ("runner",)
ARGV_DIRS = ("runner", "commands")
# Modules that start processes other than the host tools, and why they may.
EXEMPT = {
    "images/rootfs.py": "builds image root file systems: debootstrap, mount/umount, tar; its run_logged also runs "
                        "the n8n stage's npm and node (images/n8n_stage.py), never a host tool",
    "health/agent.py": "shipped verbatim to hosts and run there by their python3 (standard library only, no zixly "
                       "package to import the runner from); reads `docker ps` of its own host",
    "demo/hostside.py": "shipped verbatim to hosts (the client demos' registry, reap job and memory guard) and run "
                        "there by their python3 (standard library only); runs `docker compose down` of its demos",
}
UNCHECKED = {"health/agent.py", "demo/hostside.py"}  # exempt from the no-tool-names rule too (see its reason)


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def spawns(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of every process-starting call in *tree*."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in SPAWN:
            for a in node.names:
                if a.name in SPAWN[node.module]:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        module, _, attr = name.rpartition(".")
        if module in SPAWN and attr in SPAWN[module]:
            out.append((node.lineno, name))
        elif name in aliases:
            out.append((node.lineno, aliases[name]))
        elif isinstance(node.func, ast.Attribute) and node.func.attr in METHODS:
            out.append((node.lineno, node.func.attr))
    return out


def tool_argvs(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, tool) of every list/tuple literal whose first element names a host tool (not the right side
    of ``in``: ``name in ("docker", "swarm")`` compares names, it builds no argv)."""
    compared = {id(c) for node in ast.walk(tree) if isinstance(node, ast.Compare)
                for op, c in zip(node.ops, node.comparators, strict=True) if isinstance(op, (ast.In, ast.NotIn))}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts and id(node) not in compared:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value in TOOLS:
                out.append((node.lineno, first.value))
    return out


def tool_mentions(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) of host-tool names and docker-client selection used in *tree* (exempt modules)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in TOOLS:
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.Name) and node.id in ("docker_argv", "docker_env"):
            out.append((node.lineno, node.id))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1] == "commands":
            out.append((node.lineno, "imports commands"))
    return out


def violations(rel: str, source: str) -> list[str]:
    """Every broken rule of module *rel* (path under zixly_stack/) with *source*."""
    tree = ast.parse(source, rel)
    top = rel.split("/", 1)[0]
    out = []
    if top not in ALLOWED_DIRS:
        found = spawns(tree)
        if found and rel not in EXEMPT:
            out += [f"{rel}:{line}: starts a process ({what}): go through zixly_stack.runner" for line, what in found]
        if rel in EXEMPT and rel not in UNCHECKED:
            out += [f"{rel}:{line}: an exempt module must not touch host tools ({what})"
                    for line, what in tool_mentions(tree)]
    if top not in ARGV_DIRS and rel not in UNCHECKED:
        out += [f"{rel}:{line}: argv for {tool} built outside zixly_stack/commands" for line, tool in tool_argvs(tree)]
    return out


def test_only_the_runner_runs_host_tools_and_only_commands_builds_their_argv() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        found += violations(rel, path.read_text(encoding="utf-8"))
    assert not found, "\n".join(found)


def test_every_exemption_still_starts_a_process() -> None:
    """A stale exemption would hide a new call in that module: each must still be needed."""
    for rel in EXEMPT:
        tree = ast.parse((PACKAGE / rel).read_text(encoding="utf-8"))
        assert spawns(tree), f"{rel} starts no process any more: drop its exemption"


PLANTED = {
    "subprocess.run": 'import subprocess\nsubprocess.run(["docker", "ps"])\n',
    "aliased Popen": "from subprocess import Popen as P\nP(argv)\n",
    "asyncio": "import asyncio\nasync def f(a):\n    await asyncio.create_subprocess_exec(*a)\n",
    "os.system": 'import os\nos.system("restic snapshots")\n',
    "paramiko": 'def f(chan):\n    chan.exec_command("docker ps")\n',
    "pyinfra": 'def f(host, c):\n    host.run_shell_command(c)\n',
    "argv literal": 'ARGV = ["restic", "snapshots", "--json"]\n',
    "argv tuple": 'def f():\n    return ("systemctl", "daemon-reload")\n',
    "argv in a call": 'def f(r):\n    r(["pg_dump", "-Fc", "db"])\n',
}


@pytest.mark.parametrize("what", sorted(PLANTED))
def test_a_planted_call_or_argv_is_caught(what: str) -> None:
    assert violations("backup/planted.py", PLANTED[what]), what


def test_an_exempt_module_naming_a_host_tool_is_caught() -> None:
    source = (PACKAGE / "images/rootfs.py").read_text(encoding="utf-8")
    assert not violations("images/rootfs.py", source)
    planted = source + ('\n\nTOOL = "restic"\n\n'
                        'def _planted(argv):\n    return run_logged([*docker_argv(), *argv], LOG)\n')
    found = violations("images/rootfs.py", planted)
    assert [v.split(": ", 1)[1] for v in found] == ["an exempt module must not touch host tools (restic)",
                                                    "an exempt module must not touch host tools (docker_argv)"], found


def test_the_same_code_is_fine_inside_the_runner_and_commands() -> None:
    assert not violations("runner/planted.py", PLANTED["subprocess.run"])
    assert not violations("commands/planted.py", PLANTED["argv literal"])
