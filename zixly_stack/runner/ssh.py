"""A remote host over the deploy's SSH connection: one paramiko channel per command.

Contract
--------
* :class:`SshRunner` takes a callable returning the *connected* paramiko transport -- the
  one pyinfra opened for the deploy (:func:`zixly_stack.runner.connect.open_session`, known
  hosts, key, ``TCP_NODELAY``) -- and runs each argv in a channel of its own
  (``exec_command`` of :func:`shlex.join` of the argv: the remote shell only splits it again).
  No second login, no OpenSSH client process, nothing listening anywhere.
* A non-root login runs every command through ``sudo -n`` (as the deploy does).
* stdin is streamed from *source* by a feeder thread (a greenlet under pyinfra's gevent
  patching) while stdout and stderr are read as they come, so a dump of any size flows
  through with the channel's window as the only buffer; the end of stdin is signalled with
  ``shutdown_write`` (EOF for the remote command).
* Nothing the remote side says is trusted for control flow beyond its exit status.
"""

from __future__ import annotations

import contextlib
import select
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .base import CHUNK, LOST, TIMED_OUT, Keep, Result, RunnerBase, Sink, Source, reporting

SEND = 1 << 20


class SshRunner(RunnerBase):
    """Runs argv on a remote host through channels of one SSH transport (module contract)."""

    def __init__(self, name: str, transport: Callable[[], Any], *, sudo: bool = False) -> None:
        self.name = name
        self._transport = transport
        self.sudo = sudo

    def command_line(self, argv: Sequence[str]) -> str:
        """The line the remote shell receives."""
        full = ["sudo", "-H", "-n", "--", *argv] if self.sudo else list(argv)
        return shlex.join(full)

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:
        """See :class:`~.base.Runner`."""
        err = Keep()
        try:
            chan = self._transport().open_session(timeout=30)
        except Exception as exc:  # no transport, connection lost
            return Result(tuple(argv), LOST, b"", f"{self.name}: no SSH channel: {type(exc).__name__}: {exc}".encode())
        failed: list[str] = []
        feeder = None
        moved = [0]  # bytes across the channel (stdin and stdout), for progress

        def counted(chunks: Source) -> Iterator[bytes]:
            for chunk in chunks:
                moved[0] += len(chunk)
                yield chunk

        def received(chunk: bytes) -> None:
            moved[0] += len(chunk)
            if sink is not None:
                sink(chunk)

        try:
            chan.exec_command(self.command_line(argv))
            if source is not None:
                feeder = threading.Thread(target=_feed, args=(chan, counted(source), failed), daemon=True)
                feeder.start()
            else:
                chan.shutdown_write()
            with reporting(argv, lambda: moved[0], "transferred"):
                code = _pump(chan, received, err, time.monotonic() + timeout)
        except Exception as exc:  # the connection went away mid-command
            err.add(f"\n{self.name}: SSH channel failed: {type(exc).__name__}: {exc}".encode())
            code = LOST
        finally:
            with contextlib.suppress(Exception):
                chan.close()
            if feeder is not None:
                feeder.join(timeout=30)
        if code is None:
            err.add(f"\ntimed out after {timeout:.0f}s on {self.name}".encode())
            code = TIMED_OUT
        elif failed and code == 0:
            err.add(f"\nwriting stdin failed: {failed[0]}".encode())
            code = LOST
        return Result(tuple(argv), code, b"", err.bytes())


def _feed(chan: Any, source: Source, failed: list[str]) -> None:
    try:
        for chunk in source:
            view = memoryview(chunk)
            for at in range(0, len(view), SEND):  # paramiko's sendall copies the rest of its argument per packet
                chan.sendall(view[at: at + SEND])
    except OSError as exc:  # the command stopped reading (closed channel): its exit status says why
        if not chan.exit_status_ready():
            failed.append(str(exc))
    finally:
        with contextlib.suppress(Exception):
            chan.shutdown_write()


def _pump(chan: Any, sink: Sink | None, err: Keep, deadline: float) -> int | None:
    """Read stdout/stderr until the command exits; its status, or None when *deadline* passed."""
    while True:
        busy = False
        while chan.recv_ready():
            data = chan.recv(CHUNK)
            if not data:
                break
            busy = True
            if sink is not None:
                sink(data)
        while chan.recv_stderr_ready():
            data = chan.recv_stderr(CHUNK)
            if not data:
                break
            busy = True
            err.add(data)
        # sshd may send the exit status before the last output (it reports the child's exit as soon as
        # it is reaped): the command is done only once the channel's EOF came and both buffers are empty.
        if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
            status: int = chan.recv_exit_status() if not chan.closed or chan.exit_status_ready() else -1
            return status if status >= 0 else LOST
        if time.monotonic() > deadline:
            return None
        if not busy:
            select.select([chan], [], [], 0.5)


def pyinfra_transport(host: Any) -> Callable[[], Any]:
    """The paramiko transport of a connected pyinfra SSH host (asked for each time: a reconnect is picked up)."""

    def transport() -> Any:
        client = getattr(host.connector, "client", None)
        got = client.get_transport() if client is not None else None
        if got is None or not got.is_active():
            raise ConnectionError("the SSH connection is closed")
        return got

    return transport
