"""This machine: argv run as child processes, ``docker`` through the engine's client selection.

Contract
--------
* :class:`LocalRunner` runs argv with :mod:`subprocess` (never a shell); an argv whose first
  element is ``docker`` gets the selected client instead (:func:`docker_argv`) and every
  command the environment of :func:`docker_env`, so ``docker`` run inside a wrapper (``bash -c``
  pipes) talks to the same engine.
* Client selection: the machine may carry a newer client (``/usr/local/bin/docker``, Docker
  28) than Debian's engine (20.10, API 1.41). :func:`docker_argv` is the first client on PATH
  that gets an answer (API negotiation works from client 28 down to 1.41), falling back to
  Debian's ``/usr/bin/docker``; :func:`docker_env` adds ``DOCKER_API_VERSION`` only when no
  client negotiates. The choice is cached once a client answered.
* A timeout kills the command's whole process group (``docker compose`` starts a plugin).
* Progress: the bytes the command's process tree writes (:func:`~zixly_stack.progress.tree_bytes_written`)
  show in the current progress task, see :func:`~.base.reporting`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from ..progress import tree_bytes_written
from .base import CHUNK, LOST, NOT_FOUND, TIMED_OUT, Keep, Result, RunnerBase, Sink, Source, reporting

DEBIAN_CLIENT = "/usr/bin/docker"
ENGINE_API_FALLBACK = "1.41"


class NoEngine(Exception):
    """No docker client got an answer from an engine (not cached: the next call probes again)."""

    def __init__(self, client: str) -> None:
        super().__init__(client)
        self.client = client


def _client_candidates() -> list[str]:
    found = [shutil.which("docker"), DEBIAN_CLIENT, "/usr/local/bin/docker"]
    out: list[str] = []
    for path in found:
        if path and os.access(path, os.X_OK) and os.path.realpath(path) not in {os.path.realpath(p) for p in out}:
            out.append(path)
    return out


def _probe(client: str, extra: Mapping[str, str]) -> bool:
    env = {**os.environ, **extra}
    try:
        res = subprocess.run([client, "version", "--format", "{{.Server.APIVersion}}"], capture_output=True,
                             text=True, timeout=15, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and bool(res.stdout.strip())


@functools.cache
def select_client() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """(argv prefix, extra environment) of a client that answers; cached once one answers.

    Raises :class:`NoEngine` when none does (or none is installed: ``client`` is then empty).
    """
    candidates = _client_candidates()
    if not candidates:
        raise NoEngine("")
    for extra in ({}, {"DOCKER_API_VERSION": ENGINE_API_FALLBACK}):
        for client in candidates:
            if _probe(client, extra):
                return (client,), tuple(sorted(extra.items()))
    raise NoEngine(candidates[0])


def docker_argv() -> list[str]:
    """The docker client argv prefix to use on this machine, e.g. ``['/usr/local/bin/docker']``.

    When no engine answers yet this is the first client found (Debian's if present),
    so callers always get something runnable.
    """
    try:
        return list(select_client()[0])
    except NoEngine as exc:
        return [DEBIAN_CLIENT if os.access(DEBIAN_CLIENT, os.X_OK) or not exc.client else exc.client]


def docker_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for running :func:`docker_argv` (``os.environ`` + any API pin)."""
    env = dict(os.environ if base is None else base)
    with contextlib.suppress(NoEngine):
        env.update(dict(select_client()[1]))
    return env


def engine_available() -> bool:
    """True when a docker client gets an answer from an engine right now (a live probe)."""
    select_client.cache_clear()
    try:
        select_client()
    except NoEngine:
        return False
    return True


def resolve(argv: Sequence[str]) -> list[str]:
    """*argv* with a leading ``docker`` replaced by the selected client."""
    out = list(argv)
    if out and out[0] == "docker":
        out = [*docker_argv(), *out[1:]]
    return out


class LocalRunner(RunnerBase):
    """Runs argv on this machine (module contract)."""

    name = "this machine"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = dict(env) if env is not None else None

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:
        """See :class:`~.base.Runner`."""
        full = resolve(argv)
        env = docker_env(self._env)
        try:
            proc = subprocess.Popen(full, stdin=subprocess.PIPE if source is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                    start_new_session=True)
        except OSError as exc:
            return Result(tuple(argv), NOT_FOUND, b"", f"cannot run {full[0]}: {exc.strerror or exc}".encode())
        err = Keep()
        failed: list[str] = []
        threads = [threading.Thread(target=_drain, args=(proc.stderr, err.add), daemon=True)]
        if source is not None:
            threads.append(threading.Thread(target=_feed, args=(proc.stdin, source, failed), daemon=True))
        for t in threads:
            t.start()
        deadline = time.monotonic() + timeout
        timer = threading.Timer(timeout, _kill, args=(proc,))
        timer.daemon = True
        timer.start()
        try:
            out = proc.stdout
            assert out is not None
            reader: Callable[[int], bytes] = getattr(out, "read1", None) or out.read
            with reporting(full, tree_bytes_written(proc.pid), "written"):
                while chunk := reader(CHUNK):
                    if sink is not None:
                        sink(chunk)
                code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                _kill(proc)
                proc.wait()
            for t in threads:
                t.join(timeout=30)
        if time.monotonic() >= deadline and code < 0:
            err.add(f"\ntimed out after {timeout:.0f}s".encode())
            code = TIMED_OUT
        elif code < 0:
            code = 128 - code  # killed by a signal, as a shell reports it
        if failed and code == 0:
            err.add(f"\nwriting stdin failed: {failed[0]}".encode())
            code = LOST
        return Result(tuple(argv), code, b"", err.bytes())


def _drain(stream: object, add: Sink) -> None:
    reader = getattr(stream, "read1", None) or stream.read  # type: ignore[attr-defined]
    with contextlib.suppress(OSError, ValueError):
        while chunk := reader(CHUNK):
            add(chunk)


def _feed(stdin: object, source: Source, failed: list[str]) -> None:
    try:
        for chunk in source:
            stdin.write(chunk)  # type: ignore[attr-defined]
    except (BrokenPipeError, OSError, ValueError) as exc:  # the command stopped reading: its exit code says why
        if not isinstance(exc, BrokenPipeError):
            failed.append(str(exc))
    finally:
        with contextlib.suppress(OSError, ValueError):
            stdin.close()  # type: ignore[attr-defined]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def docker(*args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """``docker ARGS`` on this machine as a completed process (text), for callers that want one."""
    res = LocalRunner().run(["docker", *args], timeout=timeout)
    return subprocess.CompletedProcess(resolve(["docker", *args]), res.code, res.out, res.err)


def start_daemon(argv: Sequence[str], log: str) -> int:
    """Start a daemon on this machine (``dockerd``): its own session, output appended to *log*, stdin
    from /dev/null; returns its pid without waiting."""
    with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(list(argv), stdin=devnull, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    return proc.pid
