"""The local Docker engine: install, start, verify, and how to call its client.

Public API: :func:`ensure_engine`, :func:`engine_available`, :func:`docker_argv`,
:func:`docker_env`, :func:`docker`, :class:`EngineInfo`, :class:`EngineError`.
CLI: ``python -m zixly_stack.engine [--quiet] [--check]``.
"""

from zixly_stack.engine.setup import (
    EngineError,
    EngineInfo,
    compose_binary,
    docker,
    ensure_engine,
)
from zixly_stack.runner.local import docker_argv, docker_env, engine_available

__all__ = [
    "EngineError",
    "EngineInfo",
    "compose_binary",
    "docker",
    "docker_argv",
    "docker_env",
    "engine_available",
    "ensure_engine",
]
