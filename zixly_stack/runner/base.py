"""One way to run a command on a host: the :class:`Runner` protocol and what every runner shares.

Contract
--------
* A runner runs an argv list -- built by :mod:`zixly_stack.commands`, never a shell string
  made elsewhere -- on ONE host: this machine (:class:`~.local.LocalRunner`, the engine's
  client selection), a remote host over the deploy's SSH connection
  (:class:`~.ssh.SshRunner`: a channel of pyinfra's paramiko transport per command), or
  nowhere (:class:`~.printing.PrintingRunner`: the dry run prints what would change).
* :meth:`Runner.stream` is the primitive: the chunks of *source* go to the command's stdin
  as it reads them, its stdout goes to *sink* chunk by chunk (nothing is kept), its stderr
  is kept (the last :data:`ERR_KEEP` bytes). Dumps and file transfers stream this way,
  never through a temp file on this machine. :meth:`Runner.run` keeps stdout instead.
* Neither raises for a non-zero exit: the :class:`Result` says. A command that cannot be
  started ends with code 127, one that ran out of time with 124, a lost connection with
  255 -- stderr says which.
* Secrets travel on stdin (or into 0600 files written from stdin), never in an argv: the
  argv of a process is readable by everyone on its host (``/proc/PID/cmdline``).
* Progress: inside a :mod:`~zixly_stack.progress` task that reports no bytes of its own, a
  command shows its bytes while it runs (:func:`reporting`: on this machine what its process
  tree writes, on a remote host what crosses the SSH channel), under the task's stage.
* ``read=True`` marks a command that changes nothing (inspect, list, read a file): the
  printing runner runs those for real and prints every other command instead of running it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..commands import shell
from ..progress import Measure, current_task

Sink = Callable[[bytes], object]
Source = Iterable[bytes]
ERR_KEEP = 1 << 16
CHUNK = 1 << 16
NOT_FOUND, TIMED_OUT, LOST = 127, 124, 255


@dataclass(frozen=True)
class Result:
    """How one command ended: exit code, stdout (empty when streamed to a sink) and stderr."""

    argv: tuple[str, ...]
    code: int
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.code == 0

    @property
    def out(self) -> str:
        """stdout as text."""
        return self.stdout.decode(errors="replace")

    @property
    def err(self) -> str:
        """stderr as text."""
        return self.stderr.decode(errors="replace")

    def tail(self, limit: int = 400) -> str:
        """The end of what the command said (stderr, else stdout), one line, for messages."""
        text = (self.err.strip() or self.out.strip())
        return " ".join(text.splitlines()[-4:])[-limit:]


@runtime_checkable
class Runner(Protocol):
    """Runs argv on one host (module contract)."""

    @property
    def host(self) -> str:
        """The host's name, for messages (``this machine`` for the local runner)."""
        ...

    @property
    def executes(self) -> bool:
        """False for the printing runner: commands that change something are only shown."""
        ...

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:
        """Run *argv*; *source* feeds its stdin, *sink* receives its stdout (see module contract)."""
        ...

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 600.0,
            read: bool = False) -> Result:
        """Run *argv* with *stdin* and keep its stdout."""
        ...


class RunnerBase:
    """:meth:`run` and the helpers every runner shares, on top of the subclass's :meth:`stream`."""

    name = ""
    executes = True

    @property
    def host(self) -> str:
        """See :class:`Runner`."""
        return self.name

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:  # pragma: no cover - abstract
        """See :class:`Runner`."""
        raise NotImplementedError

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None, timeout: float = 600.0,
            read: bool = False) -> Result:
        """See :class:`Runner`."""
        out: list[bytes] = []
        res = self.stream(argv, source=None if stdin is None else [stdin], sink=out.append, timeout=timeout,
                          read=read)
        return Result(res.argv, res.code, b"".join(out), res.stderr)


@contextlib.contextmanager
def reporting(argv: Sequence[str], measure: Measure, word: str) -> Iterator[None]:
    """Within the block the current progress task (if any, and only when it reports no bytes of its
    own: ``measure``/``done_bytes`` unset) shows *measure*'s bytes under its stage (or the command's name)."""
    task = current_task()
    if task is None or task.measure is not None or task.done_bytes is not None:
        yield
        return
    with task.step(task.stage or os.path.basename(argv[0]), measure, word):
        yield


class Keep:
    """A bounded byte buffer (the tail of stderr)."""

    def __init__(self, limit: int = ERR_KEEP) -> None:
        self.limit = limit
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        """Append *chunk*, dropping the oldest bytes beyond the limit."""
        self.data += chunk
        if len(self.data) > self.limit:
            del self.data[: len(self.data) - self.limit]

    def bytes(self) -> bytes:
        """What is kept."""
        return bytes(self.data)


@dataclass(frozen=True)
class PipeResult:
    """``PRODUCER | CONSUMER`` on one host: each side's exit code and stderr, the consumer's stdout."""

    producer: Result
    consumer: Result

    @property
    def ok(self) -> bool:
        """Both sides exited 0."""
        return self.producer.ok and self.consumer.ok


def pipe(runner: Runner, producer: Sequence[str], consumer: Sequence[str], *, sink: Sink | None = None,
         timeout: float = 3600.0, read: bool = False) -> PipeResult:
    """Run ``PRODUCER | CONSUMER`` on *runner*'s host (the bytes never leave it); stdout of the consumer
    goes to *sink* (or is kept). Each side's status and stderr come back separately
    (:func:`zixly_stack.commands.shell.pipe`)."""
    kept: list[bytes] = []
    res = runner.stream(shell.pipe(producer, consumer), sink=sink or kept.append, timeout=timeout, read=read)
    codes, producer_err, consumer_err = shell.parse_pipe_status(res.stderr)
    if codes is None:  # the wrapper itself did not finish (connection lost, timeout, no bash)
        failed = Result(tuple(producer), res.code or LOST, b"", res.stderr)
        return PipeResult(failed, Result(tuple(consumer), res.code or LOST, b"".join(kept), res.stderr))
    return PipeResult(Result(tuple(producer), codes[0], b"", producer_err),
                      Result(tuple(consumer), codes[1], b"".join(kept), consumer_err))


def describe(argv: Sequence[str]) -> str:
    """*argv* as one readable shell line (for dry runs and messages; argv never holds a secret)."""
    return shlex.join(list(argv))


def relay(producer: Runner, producer_argv: Sequence[str], consumer: Runner, consumer_argv: Sequence[str], *,
          timeout: float = 3600.0, progress: Sink | None = None) -> tuple[Result, Result]:
    """``PRODUCER | CONSUMER`` across two hosts (``docker save`` here into ``docker load`` there): the
    producer's stdout streams into the consumer's stdin through a bounded queue (the slower side
    sets the pace, nothing is buffered whole). *progress* sees every chunk that went across."""
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
    done: list[Result] = []

    def source() -> Iterable[bytes]:
        while (chunk := chunks.get()) is not None:
            if progress is not None:
                progress(chunk)
            yield chunk

    def consume() -> None:
        done.append(consumer.stream(consumer_argv, source=source(), timeout=timeout))

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()

    def put(chunk: bytes) -> None:
        while thread.is_alive():
            try:
                chunks.put(chunk, timeout=1)
                return
            except queue.Full:
                continue

    try:
        made = producer.stream(producer_argv, sink=put, timeout=timeout, read=True)
    finally:
        while thread.is_alive():
            try:
                chunks.put(None, timeout=1)
                break
            except queue.Full:
                continue
        thread.join(timeout=timeout)
    return made, (done[0] if done else Result(tuple(consumer_argv), LOST, b"", b"the consumer did not finish"))


def feed(runner: Runner, argv: Sequence[str], chunks: Iterable[bytes], *, timeout: float = 3600.0,
         progress: Sink | None = None) -> Result:
    """*argv* on *runner* with *chunks* (a file read piece by piece) on its stdin."""
    def source() -> Iterable[bytes]:
        for chunk in chunks:
            if progress is not None:
                progress(chunk)
            yield chunk

    return runner.stream(argv, source=source(), timeout=timeout)
