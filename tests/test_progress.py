"""The progress module: a plain line at least every 10 s off a terminal, live rows on one.

Unit tests drive :meth:`Reporter.tick` with a fake clock (no thread); one test runs a real
subprocess under the real heartbeat thread with a short interval.
"""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
import time

import pytest

from zixly_stack.progress import (
    INTERVAL_S,
    POLL_S,
    Reporter,
    default_mode,
    human_bytes,
    human_time,
    tree_bytes_written,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _plain(clock: FakeClock) -> tuple[Reporter, io.StringIO]:
    out = io.StringIO()
    return Reporter(out, mode="plain", clock=clock, heartbeat=False), out


def test_plain_heartbeat_at_least_every_interval_while_a_task_runs() -> None:
    clock = FakeClock()
    rep, out = _plain(clock)
    stamps: list[float] = []
    with rep.task("images: n8n") as task:
        task.set_stage("npm ci")
        stamps.append(clock.now)
        for _ in range(95):  # 95 s of work, ticked every second like the heartbeat thread
            clock.now += 1.0
            if rep.tick():
                stamps.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) >= 10
    assert max(gaps) <= INTERVAL_S
    lines = out.getvalue().splitlines()
    assert lines[0] == "images: n8n: npm ci (0s)"
    assert lines[-1].startswith("images: n8n: npm ci … 1m30s")


def test_no_heartbeat_after_the_task_ends_and_none_before_the_interval() -> None:
    clock = FakeClock()
    rep, out = _plain(clock)
    with rep.task("deploy: up n8n"):
        clock.now += INTERVAL_S - POLL_S - 0.5
        assert rep.tick() == []
        clock.now += 0.5  # due one poll early, so a late wake-up still lands within the interval
        assert rep.tick() == ["deploy: up n8n: running … 9s"]
    clock.now += 60
    assert rep.tick() == []
    assert out.getvalue().count("\n") == 1


def test_a_stage_line_resets_the_heartbeat() -> None:
    clock = FakeClock()
    rep, _ = _plain(clock)
    with rep.task("restore") as task:
        clock.now += 8
        task.set_stage("n8n volume")
        clock.now += 8
        assert rep.tick() == []  # 8 s since the stage line
        clock.now += 1
        assert rep.tick()


def test_bytes_from_a_measure_and_from_set_bytes() -> None:
    clock = FakeClock()
    rep, _ = _plain(clock)
    seen = iter([1_000_000, 812_000_000])
    with rep.task("images: n8n") as task:
        with task.step("npm ci", measure=lambda: next(seen)):
            clock.now += 10
            assert rep.tick() == ["images: n8n: npm ci … 10s, 1.0 MB written"]
            clock.now += 10
            assert rep.tick()[0].endswith("812.0 MB written")
        assert task.stage == "" and task.done_bytes is None  # the step's stage and bytes are undone
        task.set_bytes(600_000_000, 1_200_000_000, "sent")
        clock.now += 10
        assert rep.tick()[0].endswith("600.0 MB of 1.2 GB sent (50%)")


def test_a_failing_measure_keeps_the_last_value() -> None:
    clock = FakeClock()
    rep, _ = _plain(clock)

    def broken() -> int:
        raise OSError("gone")

    with rep.task("x", measure=broken):
        clock.now += 10
        assert rep.tick() == ["x: running … 10s"]


def test_off_mode_prints_nothing() -> None:
    clock = FakeClock()
    out = io.StringIO()
    rep = Reporter(out, mode="off", clock=clock, heartbeat=False)
    with rep.task("x") as task:
        task.set_stage("y")
        clock.now += 30
        rep.tick()
        rep.line("z")
    assert out.getvalue() == ""


def test_rich_mode_shows_rows_and_lines() -> None:
    out = io.StringIO()
    rep = Reporter(out, mode="rich", heartbeat=False)
    with rep.task("images: n8n") as task:
        task.set_stage("npm ci")
        rep.line("a line above the rows")
        rep.tick()
    assert "a line above the rows" in out.getvalue()


def test_mode_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZIXLY_PROGRESS", raising=False)
    assert default_mode(io.StringIO()) == "plain"

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "xterm")
    assert default_mode(Tty()) == "rich"
    monkeypatch.setenv("TERM", "dumb")
    assert default_mode(Tty()) == "plain"
    monkeypatch.setenv("ZIXLY_PROGRESS", "off")
    assert default_mode(Tty()) == "off"
    with pytest.raises(ValueError):
        Reporter(io.StringIO(), mode="loud")


def test_human_units() -> None:
    assert human_bytes(999) == "999 B"
    assert human_bytes(1536) == "1.5 KB"
    assert human_bytes(2_900_000_000) == "2.9 GB"
    assert human_time(42.4) == "42s"
    assert human_time(75) == "1m15s"


def test_real_subprocess_under_the_real_heartbeat_thread() -> None:
    """A real child writing 3 MB while the real thread beats every 0.3 s: lines arrive,
    and the byte count read from /proc comes from the child's own writes."""
    out = io.StringIO()
    rep = Reporter(out, mode="plain", interval=0.3)
    code = "import sys,time\nfor _ in range(6):\n    sys.stdout.write('x'*500000); sys.stdout.flush(); time.sleep(0.25)"
    with (
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL) as proc,
        rep.task("child") as task,
        task.step("writing", measure=tree_bytes_written(proc.pid)),
    ):
        proc.wait(timeout=30)
        time.sleep(1.2)  # the exited child's /proc entry is gone: the last value is kept
    lines = [ln for ln in out.getvalue().splitlines() if "…" in ln]
    assert len(lines) >= 3
    assert any(" MB written" in ln for ln in lines), lines
