"""A test that leaves things behind on purpose, for ``test_teardown``'s check that the session's
leak guard fails a whole run on them (run only as a child session, with ``ZIXLY_TEST_RUN_ID``)."""

from __future__ import annotations

import subprocess

from tests.harness.leaks import label_args, run_name, run_tempdir
from zixly_stack.engine import docker_argv, docker_env


def test_leaves_a_temp_dir_and_a_volume() -> None:
    assert run_tempdir("leaked").is_dir()
    made = subprocess.run([*docker_argv(), "volume", "create", *label_args(), run_name("leaked-vol")],
                          capture_output=True, text=True, env=docker_env(), check=False)
    assert made.returncode == 0, made.stderr
