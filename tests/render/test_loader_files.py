"""The loader reads only regular files, and at most 1 MiB of them (issue 20, build item 4).

A ``service.yaml`` symlinked to ``/dev/zero`` or replaced by a FIFO used to hang ``validate``
(the read never ends, or blocks forever); a huge file would be read whole.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers import zixly

from .conftest import checksum


def test_special_and_huge_files_are_refused_located(git_repo: Path, tmp_path: Path) -> None:
    crm = git_repo / "services" / "crm" / "service.yaml"
    crm.unlink()
    crm.symlink_to("/dev/zero")
    n8n = git_repo / "services" / "n8n" / "service.yaml"
    n8n.unlink()
    os.mkfifo(n8n)
    env = git_repo / "inventories" / "base" / "environment.yaml"
    env.write_text("domain: example.com\n# " + "x" * (1024 * 1024) + "\n")
    before = checksum(git_repo)
    for argv in (["validate", "base"], ["render", "base", "--out", str(tmp_path / "out")]):
        result = zixly(*argv, root=git_repo)
        assert result.code == 2, result.stderr
        assert result.stderr.splitlines() == [
            "inventories/base/environment.yaml:1:1: file is larger than 1048576 bytes (a configuration file is a "
            "few kilobytes; is this the right file?)",
            "services/crm/service.yaml: a symbolic link to /dev/zero, outside the repository (configuration is "
            "read only from files inside the repository: copy the file in, or link to one inside it)",
            "services/n8n/service.yaml: not a regular file (point it at a YAML file)",
            "3 errors in configuration; nothing was written",
        ]
    assert checksum(git_repo) == before and not (tmp_path / "out").exists()


def test_a_config_file_linked_outside_the_repository_is_refused_unread(git_repo: Path, tmp_path: Path) -> None:
    """A repository (a pull request, say) whose hosts.yaml links to a file of the machine that
    validates it: its lines would come back as "unknown key" problems, in a CI log for one."""
    private = tmp_path / "private.txt"
    private.write_text("root:$6$s3cr3t-hash:20228:0:99999:7:::\n")
    hosts = git_repo / "inventories" / "base" / "hosts.yaml"
    hosts.unlink()
    hosts.symlink_to(private)
    before = checksum(git_repo)
    result = zixly("validate", "base", root=git_repo)
    assert result.code == 2, result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr
    assert f"inventories/base/hosts.yaml: a symbolic link to {private}, outside the repository" in result.stderr
    assert checksum(git_repo) == before
    inside = git_repo / "inventories" / "base" / "hosts-real.yaml"
    hosts.unlink()
    inside.write_text(private.read_text())
    hosts.symlink_to(inside)  # inside the repository: read as before (and judged as YAML)
    assert "outside the repository" not in zixly("validate", "base", root=git_repo).stderr


def test_a_byte_that_is_not_utf8_is_located(git_repo: Path) -> None:
    env = git_repo / "inventories" / "base" / "environment.yaml"
    env.write_bytes(env.read_bytes() + b"# caf\xe9 latin-1\n")
    lines = env.read_bytes().count(b"\n")
    result = zixly("validate", "base", root=git_repo)
    assert result.code == 2, result.stderr
    assert (f"inventories/base/environment.yaml:{lines}:6: file is not UTF-8 text (byte 0xe9) (save the file as UTF-8)"
            in result.stderr), result.stderr


def test_an_environment_file_that_is_a_directory_is_named_as_such(git_repo: Path) -> None:
    env = git_repo / "inventories" / "base" / "environment.yaml"
    env.unlink()
    env.mkdir()
    result = zixly("validate", "base", root=git_repo)
    assert result.code == 2, result.stderr
    assert "inventories/base/environment.yaml: not a regular file" in result.stderr
    assert "unknown environment" not in result.stderr
