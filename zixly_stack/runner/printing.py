"""The dry run: show what would run on a host, change nothing.

Contract
--------
* :class:`PrintingRunner` wraps a real runner. Commands marked ``read=True`` (they change
  nothing: inspect, list, read) run for real, so what is printed is decided by the host's
  real state; every other command is printed as ``HOST $ argv`` and reported as succeeded
  with empty output, without running. Bytes that would go to its stdin are counted, never
  shown (they may be secrets).
* ``printed`` keeps the lines, in order, for callers and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .base import Result, Runner, RunnerBase, Sink, Source, describe


class PrintingRunner(RunnerBase):
    """A dry-run runner over *inner* (module contract)."""

    executes = False

    def __init__(self, inner: Runner, say: Callable[[str], None] = print) -> None:
        self.inner = inner
        self.name = inner.host
        self.say = say
        self.printed: list[str] = []

    def stream(self, argv: Sequence[str], *, source: Source | None = None, sink: Sink | None = None,
               timeout: float = 600.0, read: bool = False) -> Result:
        """Run reads on the real host; print everything else (see module contract)."""
        if read:
            return self.inner.stream(argv, source=source, sink=sink, timeout=timeout, read=True)
        size = sum(len(c) for c in source) if source is not None else 0
        line = f"{self.name} $ {describe(argv)}" + (f"  <stdin: {size} bytes>" if source is not None else "")
        self.printed.append(line)
        self.say(line)
        return Result(tuple(argv), 0)
