"""Environment and host names: one rule, every command (issue 20, build item 1).

The commands are found by walking the CLI, so a command added later is covered without
editing this file: each one that takes an environment (``ENV``, ``--env``, ``--from``) or a
host (``--host``) is run with hostile names and must refuse them with exit 2, a message
naming the argument and the rule, and no change at all in the repository (``.git`` included).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tests.helpers import zixly
from zixly_stack.cli.main import cli
from zixly_stack.cli.params import NameParam
from zixly_stack.models.names import is_name, require_name

from .conftest import checksum

BAD_ENVS = ["../inventories/base", "base/../base", "/etc", "Base", "a b", "", "-base", "base-", "a" * 64, "base\n",
            "bäse", "base;id"]
GOOD = ["base", "production", "e2e-paths", "a", "a" * 63, "0", "demo-acme"]
ENV_PARAMS = {"env", "source"}
HOST_PARAMS = {"host", "hosts"}


def _leaves(group: click.Group, path: tuple[str, ...] = (), inherited: tuple[click.Parameter, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], tuple[click.Parameter, ...]]]:
    """(argv path, params of the groups on the way + the command's own) of every leaf command."""
    for name, cmd in sorted(group.commands.items()):
        params = (*inherited, *cmd.params)
        if isinstance(cmd, click.Group):
            yield from _leaves(cmd, (*path, name), params)
        else:
            yield (*path, name), params


def _dummy(param: click.Parameter, tmp: Path) -> str:
    if isinstance(param.type, click.Path):
        return str(tmp / "dummy.tar")
    if isinstance(param.type, click.Choice):
        return str(param.type.choices[0])
    if isinstance(param.type, NameParam):
        return "base"
    return "7d" if param.name == "ttl" else "x"


def _argv(path: tuple[str, ...], params: tuple[click.Parameter, ...], target: str, value: str, tmp: Path) -> list[str]:
    """Arguments in place (the target one set to ``value``), the target option, required options filled."""
    args: list[str] = []
    opts: list[str] = []
    for p in params:
        if isinstance(p, click.Argument):
            args.append(value if p.name == target else _dummy(p, tmp))
        elif isinstance(p, click.Option) and (p.name == target or (p.required and not p.is_flag)):
            opts += [max(p.opts, key=len), value if p.name == target else _dummy(p, tmp)]
    # group arguments come right after the group's name: rebuild the argv group by group
    argv: list[str] = []
    rest = list(args)
    group_args = {"recipients": 1}
    for part in path:
        argv.append(part)
        for _ in range(group_args.get(part, 0)):
            argv.append(rest.pop(0))
    return argv + rest + opts


def _commands_with(names: set[str]) -> list[tuple[tuple[str, ...], tuple[click.Parameter, ...], str]]:
    out = []
    for path, params in _leaves(cli):
        for p in params:
            if p.name in names:
                out.append((path, params, p.name))
    return out


ENV_COMMANDS = _commands_with(ENV_PARAMS)
HOST_COMMANDS = _commands_with(HOST_PARAMS)


def test_the_walk_finds_every_command_family() -> None:
    """The parametrization below is not vacuous: the known families are all there."""
    found = {" ".join(p) for p, _, _ in ENV_COMMANDS}
    for expected in ("validate", "render", "plan", "deploy", "up", "down", "status", "rollback", "secrets init",
                     "secrets list", "secrets set", "secrets rotate", "secrets recipients list", "backup run",
                     "backup verify", "snapshots", "restore", "health", "health-schedule", "hooks list", "hooks run",
                     "images list", "images save", "demo up", "demo down", "demo list"):
        assert expected in found, expected
    assert {" ".join(p) for p, _, _ in HOST_COMMANDS} >= {"plan", "deploy", "rollback", "status", "demo up"}


def test_env_and_host_parameters_use_the_one_rule() -> None:
    """Outside ``secrets`` (whose commands check the name in the one place they build the store path),
    every environment/host parameter converts through :class:`NameParam`."""
    for path, params, name in ENV_COMMANDS + HOST_COMMANDS:
        param = next(p for p in params if p.name == name)
        if path[0] == "secrets":
            continue
        assert isinstance(param.type, NameParam), f"zixly {' '.join(path)}: {name} is not a NameParam"


@pytest.mark.parametrize(("path", "params", "target"), ENV_COMMANDS, ids=[" ".join(c[0]) + ":" + c[2]
                                                                           for c in ENV_COMMANDS])
def test_every_command_refuses_a_bad_environment_name(git_repo: Path, tmp_path: Path, path: tuple[str, ...],
                                                      params: tuple[click.Parameter, ...], target: str) -> None:
    before = checksum(git_repo)
    for bad in ("../inventories/base", "Base", "a b"):
        argv = _argv(path, params, target, bad, tmp_path)
        result = zixly(*argv, root=git_repo, input="")
        assert result.code == 2, (argv, result.stdout, result.stderr)
        assert f"invalid environment name {bad!r}" in result.stderr, (argv, result.stderr)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert checksum(git_repo) == before, "a refused name changed the repository"
    assert not (tmp_path / "dummy.tar").exists()


@pytest.mark.parametrize(("path", "params", "target"), HOST_COMMANDS, ids=[" ".join(c[0]) + ":" + c[2]
                                                                            for c in HOST_COMMANDS])
def test_every_command_refuses_a_bad_host_name(git_repo: Path, tmp_path: Path, path: tuple[str, ...],
                                               params: tuple[click.Parameter, ...], target: str) -> None:
    before = checksum(git_repo)
    argv = _argv(path, params, target, "../../../escape", tmp_path)
    result = zixly(*argv, root=git_repo, input="")
    assert result.code == 2, (argv, result.stderr)
    assert "command line: --host: invalid host name '../../../escape'" in result.stderr
    assert checksum(git_repo) == before


def test_render_into_the_inventory_is_refused_and_the_inventory_untouched(git_repo: Path) -> None:
    """The issue's example: ``zixly render ../inventories/production`` rendered into the inventory."""
    before = checksum(git_repo)
    result = zixly("render", "../inventories/base", root=git_repo)
    assert result.code == 2
    assert result.stderr.splitlines() == [
        "command line: ENV: invalid environment name '../inventories/base' (expected a DNS label: lowercase "
        "letters, digits and '-', 1 to 63 characters, not starting or ending with '-', such as 'production' or "
        "'vps1')",
        "1 error in configuration; nothing was written",
    ]
    assert checksum(git_repo) == before
    assert not (git_repo / "build").exists()


@pytest.mark.parametrize("name", BAD_ENVS)
def test_the_rule_refuses(name: str) -> None:
    assert not is_name(name)
    with pytest.raises(Exception, match="invalid environment name"):
        require_name(name)


@pytest.mark.parametrize("name", GOOD)
def test_the_rule_accepts(name: str) -> None:
    assert is_name(name) and require_name(name) == name


def test_the_loader_checks_the_name_too(git_repo: Path) -> None:
    """Code that loads without the CLI (demos, hooks, tests) gets the same refusal."""
    from zixly_stack.config.loader import load_environment
    from zixly_stack.errors import ConfigError

    with pytest.raises(ConfigError, match=r"invalid environment name '\.\./inventories/base'"):
        load_environment(git_repo, "../inventories/base")
