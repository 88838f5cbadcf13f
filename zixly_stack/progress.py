"""Progress of long work: live rows on a terminal, a plain line at least every 10 s elsewhere.

Contract
--------
* :func:`reporter` is the process-wide :class:`Reporter`, writing to stderr. Its mode comes
  from ``ZIXLY_PROGRESS`` (``rich``, ``plain`` or ``off``) or, by default, ``rich`` when
  stderr is a terminal and ``plain`` otherwise (CI logs, pipes).
* ``with reporter().task("images: zixly-offline/n8n:2.41.1") as task:`` shows one piece of
  work: its label, current stage, elapsed time and bytes. ``task.step("npm ci", measure)``
  (a context manager) names the stage and, optionally, a callable polled for a byte count;
  ``task.set_bytes(n, total)`` reports bytes directly (a stream we write ourselves).
* Plain mode prints a line when a stage starts and, while a task runs, a heartbeat line
  whenever :data:`INTERVAL_S` seconds passed since that task's last line — so a log never
  stays silent for more than 10 s while work runs. Start and end lines are the caller's.
  Rich mode shows one live row per running task (spinner, stage, elapsed, bytes) and
  removes the row when the task ends; the caller's own lines scroll above the rows.
* The heartbeat runs on a daemon thread (a greenlet under gevent's monkey-patching) that
  wakes every :data:`POLL_S`; :meth:`Reporter.tick` is that thread's body, callable
  directly with a fake clock in tests (``Reporter(..., heartbeat=False, clock=...)``).
* :func:`tree_bytes_written` measures a subprocess we wait on (npm, debootstrap, restic):
  bytes written by it and its descendants, from ``/proc/<pid>/io`` (0 when unreadable).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

INTERVAL_S = 10.0
POLL_S = 1.0
MODES = ("rich", "plain", "off")

Clock = Callable[[], float]
Measure = Callable[[], int | None]
_CURRENT: contextvars.ContextVar[Task | None] = contextvars.ContextVar("zixly_progress_task", default=None)


def current_task() -> Task | None:
    """The innermost task opened by this thread (context), or None: subprocess runners report into it."""
    return _CURRENT.get()


def human_bytes(n: int) -> str:
    """``1536`` -> ``1.5 KB``; decimal units, one decimal from KB up."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns


def human_time(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``42.4`` -> ``42s``."""
    s = int(seconds)
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


@dataclass
class Task:
    """One running piece of work shown by a :class:`Reporter` (see module doc)."""

    label: str
    started: float
    reporter: Reporter
    stage: str = ""
    stage_started: float = 0.0
    done_bytes: int | None = None
    total_bytes: int | None = None
    bytes_word: str = "written"
    measure: Measure | None = None
    last_line: float = 0.0
    rich_id: Any = None
    extra: dict[str, str] = field(default_factory=dict)

    def set_stage(self, stage: str) -> None:
        """Name what the task does now (plain mode prints it as a line)."""
        self.reporter.set_stage(self, stage)

    def set_bytes(self, done: int, total: int | None = None, word: str | None = None) -> None:
        """Report *done* of *total* bytes (``word``: ``written``, ``sent``, ``read`` ...)."""
        self.done_bytes, self.total_bytes = done, total
        if word:
            self.bytes_word = word

    @contextlib.contextmanager
    def step(self, stage: str, measure: Measure | None = None, word: str = "written") -> Iterator[Task]:
        """Within the block the task's stage is *stage* and its bytes come from *measure*."""
        saved = (self.stage, self.stage_started, self.measure, self.done_bytes, self.total_bytes, self.bytes_word)
        self.measure, self.done_bytes, self.total_bytes, self.bytes_word = measure, None, None, word
        self.set_stage(stage)
        try:
            yield self
        finally:
            self.poll()
            self.stage, self.stage_started, self.measure = saved[0], saved[1], saved[2]
            self.done_bytes, self.total_bytes, self.bytes_word = saved[3], saved[4], saved[5]

    def poll(self) -> None:
        """Read the measure, if any (errors leave the last value)."""
        if self.measure is not None:
            with contextlib.suppress(Exception):
                got = self.measure()
                if got is not None:
                    self.done_bytes = got

    def bytes_text(self) -> str:
        """``812.0 MB written`` / ``1.2 GB of 2.0 GB sent (60%)`` / ``""``."""
        if self.done_bytes is None:
            return ""
        text = human_bytes(self.done_bytes)
        if self.total_bytes:
            pct = min(100, int(100 * self.done_bytes / self.total_bytes))
            text += f" of {human_bytes(self.total_bytes)}"
            return f"{text} {self.bytes_word} ({pct}%)"
        return f"{text} {self.bytes_word}"

    def status_line(self, now: float) -> str:
        """The plain heartbeat: ``LABEL: STAGE … 1m10s (stage 40s), 812.0 MB written``."""
        parts = [human_time(now - self.started)]
        if self.stage and self.stage_started and self.stage_started > self.started + 0.5:
            parts[0] += f" (this stage {human_time(now - self.stage_started)})"
        if self.bytes_text():
            parts.append(self.bytes_text())
        return f"{self.label}: {self.stage or 'running'} … {', '.join(parts)}"


class Reporter:
    """Shows the running :class:`Task` s (see module doc); thread-safe."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        mode: str | None = None,
        interval: float = INTERVAL_S,
        clock: Clock = time.monotonic,
        heartbeat: bool = True,
    ) -> None:
        self._stream = stream
        self.mode = mode or default_mode(stream or sys.stderr)
        if self.mode not in MODES:
            raise ValueError(f"progress mode {self.mode!r}: expected one of {', '.join(MODES)}")
        self.interval = interval
        # the thread wakes at least once per interval: with a 0.3 s interval and a 1 s poll the
        # lines came 1 s apart, so the interval a caller asked for was not the one it got
        self._poll = min(POLL_S, interval)
        self.clock = clock
        self._heartbeat = heartbeat
        self._tasks: list[Task] = []
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._rich: Any = None

    @property
    def stream(self) -> TextIO:
        """Where lines go: the stream given, else the current ``sys.stderr``."""
        return self._stream or sys.stderr

    def line(self, text: str) -> None:
        """Print one plain line (nothing in ``off`` mode; above the live rows in ``rich`` mode)."""
        if self.mode == "off":
            return
        if self._rich is not None:
            self._rich.console.print(text, markup=False, highlight=False)
            return
        print(text, file=self.stream, flush=True)

    @contextlib.contextmanager
    def task(self, label: str, *, stage: str = "", measure: Measure | None = None) -> Iterator[Task]:
        """A running task for the duration of the block (see module doc); *stage* is shown, not printed."""
        now = self.clock()
        task = Task(label=label, started=now, reporter=self, stage=stage, measure=measure, last_line=now,
                    stage_started=now)
        with self._lock:
            self._tasks.append(task)
            if self.mode == "rich":
                self._rich_add(task)
            self._ensure_thread()
        token = _CURRENT.set(task)
        try:
            yield task
        finally:
            _CURRENT.reset(token)
            with self._lock:
                self._tasks.remove(task)
                if self.mode == "rich":
                    self._rich_remove(task)

    def set_stage(self, task: Task, stage: str) -> None:
        """Change *task*'s stage; plain mode prints ``LABEL: STAGE`` (with the task's elapsed time)."""
        now = self.clock()
        with self._lock:
            task.stage, task.stage_started = stage, now
            if self.mode == "plain":
                self.line(f"{task.label}: {stage} ({human_time(now - task.started)})")
                task.last_line = now
            elif self.mode == "rich" and task.rich_id is not None:
                self._rich.update(task.rich_id, stage=stage)

    def tick(self) -> list[str]:
        """Print (and return) the heartbeat lines that are due (plain mode) or refresh the rows (rich).

        A plain line is due once ``interval - POLL_S`` passed since the task's last line, so a
        late wake-up of the heartbeat thread still lands within ``interval``; only due tasks'
        measures are read (a measure may scan ``/proc``).
        """
        now = self.clock()
        due: list[str] = []
        with self._lock:
            for task in list(self._tasks):
                if self.mode == "rich" and task.rich_id is not None:
                    task.poll()
                    self._rich.update(task.rich_id, stage=task.stage, nbytes=task.bytes_text())
                elif self.mode == "plain" and now - task.last_line >= self.interval - self._poll:
                    task.poll()
                    due.append(task.status_line(now))
                    task.last_line = now
            for text in due:
                self.line(text)
        return due

    # -- the heartbeat thread -------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if not self._heartbeat or self.mode == "off":
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._beat, name="zixly-progress", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while True:
            self._wake.wait(self._poll)
            with self._lock:
                if not self._tasks:
                    self._thread = None
                    return
            self.tick()

    # -- rich -------------------------------------------------------------------------------
    def _rich_add(self, task: Task) -> None:
        if self._rich is None:
            console = Console(file=self.stream, highlight=False, emoji=False, soft_wrap=False)
            self._rich = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TextColumn("[cyan]{task.fields[stage]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[nbytes]}"),
                console=console,
                transient=True,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._rich.start()
        task.rich_id = self._rich.add_task(task.label, total=None, stage=task.stage, nbytes="")

    def _rich_remove(self, task: Task) -> None:
        if task.rich_id is not None:
            self._rich.remove_task(task.rich_id)
            task.rich_id = None
        if not self._tasks and self._rich is not None:
            self._rich.stop()
            self._rich = None


def default_mode(stream: TextIO) -> str:
    """``ZIXLY_PROGRESS`` when set, else ``rich`` on a terminal (not ``TERM=dumb``), else ``plain``."""
    forced = os.environ.get("ZIXLY_PROGRESS", "").strip().lower()
    if forced in MODES:
        return forced
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "rich" if tty and os.environ.get("TERM", "") != "dumb" else "plain"


_REPORTER: Reporter | None = None
_REPORTER_LOCK = threading.Lock()


def reporter() -> Reporter:
    """The process-wide reporter on stderr (created on first use)."""
    global _REPORTER
    with _REPORTER_LOCK:
        if _REPORTER is None:
            _REPORTER = Reporter()
        return _REPORTER


@contextlib.contextmanager
def watching(pid: int, stage: str) -> Iterator[None]:
    """Within the block the current task (if any) shows *stage* and the bytes *pid*'s tree writes."""
    task = current_task()
    if task is None:
        yield
        return
    with task.step(stage, tree_bytes_written(pid)):
        yield


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _wchar(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/io") as fh:
            for line in fh:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_bytes_written(pid: int) -> Measure:
    """A measure: bytes written so far by process *pid* and its living descendants.

    The largest total seen is reported, so the figure never goes backwards when a
    descendant exits.
    """
    best = [0]

    def measure() -> int:
        kids = _children()
        total, todo = 0, [pid]
        while todo:
            current = todo.pop()
            total += _wchar(current)
            todo.extend(kids.get(current, ()))
        best[0] = max(best[0], total)
        return best[0]

    return measure
