"""One way to run a command on a host (see :mod:`.base` for the contract).

* :class:`~.local.LocalRunner` -- this machine, ``docker`` through the engine's client selection;
* :class:`~.ssh.SshRunner` -- a remote host over the deploy's own SSH connection;
* :class:`~.printing.PrintingRunner` -- the dry run: prints what would change a host.

argv comes from :mod:`zixly_stack.commands`; nothing outside this package and the
engine's own setup starts a process (``tests/test_runner_guard.py`` walks the source).
"""

from .base import PipeResult, Result, Runner, describe, feed, pipe, relay
from .local import LocalRunner, docker_argv, docker_env, engine_available
from .printing import PrintingRunner
from .ssh import SshRunner, pyinfra_transport

__all__ = [
    "LocalRunner",
    "PipeResult",
    "PrintingRunner",
    "Result",
    "Runner",
    "SshRunner",
    "describe",
    "docker_argv",
    "docker_env",
    "engine_available",
    "feed",
    "pipe",
    "pyinfra_transport",
    "relay",
]
