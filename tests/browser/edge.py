"""Watching the edge while browsers load pages: Traefik's memory, health and ``/ping``.

Used by the browser tests and ``bench/bench_edge_load.py``. :class:`EdgeWatch` samples the
Traefik container's memory cgroup (v1 ``memory.stat``/``memory.max_usage_in_bytes`` or v2
``memory.stat``/``memory.peak``) and, when asked, its Docker health status and ``GET /ping``
on the ``traefik`` entry point (:8080, reached at the container's address on its network),
in a background thread. :func:`load_together` makes several fresh browser contexts load
pages at the same moment.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.browser import pages


def docker_out(*args: str) -> str:
    """``docker ARGS`` stdout, stripped ("" on failure)."""
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=False)
    return res.stdout.strip() if res.returncode == 0 else ""


def container_ip(container: str, network_suffix: str = "-proxy") -> str:
    """The container's address on its network whose name ends in *network_suffix*."""
    fmt = "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}"
    for pair in docker_out("inspect", "--format", fmt, container).split():
        name, _, ip = pair.partition("=")
        if name.endswith(network_suffix) and ip:
            return ip
    raise AssertionError(f"{container} has no address on a *{network_suffix} network")


def memory_dir(container: str) -> Path:
    """The container's memory cgroup directory (cgroup v1 or v2, cgroupfs or systemd driver)."""
    cid = docker_out("inspect", "--format", "{{.Id}}", container)
    for cand in (Path(f"/sys/fs/cgroup/memory/docker/{cid}"), Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope"),
                 Path(f"/sys/fs/cgroup/docker/{cid}")):
        if (cand / "memory.stat").is_file():
            return cand
    raise AssertionError(f"no memory cgroup found for {container} ({cid[:12]})")


def _stat(where: Path) -> dict[str, int]:
    out = {}
    for line in (where / "memory.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        out[key] = int(value)
    return out


@dataclass
class EdgeWatch:
    """Background sampler of Traefik's memory (and optionally its health and /ping)."""

    container: str
    health: bool = False
    interval: float = 0.1
    peak_anon: int = 0  # bytes: the process's own memory (rss / anon), highest sample
    peak_usage: int = 0  # bytes: the cgroup's charge incl. page cache (the kernel's own peak)
    limit: int = 0
    major_faults: int = 0
    health_states: list[str] = field(default_factory=list)
    ping_failures: list[str] = field(default_factory=list)
    pings: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> EdgeWatch:
        self.where = memory_dir(self.container)
        self.v1 = (self.where / "memory.max_usage_in_bytes").exists()
        if self.v1:  # reset the kernel's peak so it covers this window only
            (self.where / "memory.max_usage_in_bytes").write_text("0")
        self.faults0 = _stat(self.where).get("total_pgmajfault", _stat(self.where).get("pgmajfault", 0))
        limit_file = self.where / ("memory.limit_in_bytes" if self.v1 else "memory.max")
        raw = limit_file.read_text().strip()
        self.limit = int(raw) if raw.isdigit() else 0
        self.ping_url = f"http://{container_ip(self.container)}:8080/ping" if self.health else ""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        s = _stat(self.where)
        self.major_faults = s.get("total_pgmajfault", s.get("pgmajfault", 0)) - self.faults0
        peak_file = self.where / ("memory.max_usage_in_bytes" if self.v1 else "memory.peak")
        if peak_file.exists():
            self.peak_usage = max(self.peak_usage, int(peak_file.read_text().strip()))

    def _sample(self) -> None:
        s = _stat(self.where)
        self.peak_anon = max(self.peak_anon, s.get("total_rss", s.get("anon", 0)))
        usage = self.where / ("memory.usage_in_bytes" if self.v1 else "memory.current")
        self.peak_usage = max(self.peak_usage, int(usage.read_text().strip()))

    def _run(self) -> None:
        last_health = 0.0
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                self._sample()
                now = time.monotonic()
                if self.health and now - last_health >= 0.5:
                    last_health = now
                    self._check(client)
                self._stop.wait(self.interval)

    def _check(self, client: httpx.Client) -> None:
        state = docker_out("inspect", "--format", "{{.State.Health.Status}}", self.container)
        self.health_states.append(state)
        self.pings += 1
        try:
            resp = client.get(self.ping_url)
            if resp.status_code != 200 or resp.text.strip() != "OK":
                self.ping_failures.append(f"HTTP {resp.status_code} {resp.text[:40]!r}")
        except httpx.HTTPError as exc:
            self.ping_failures.append(f"{type(exc).__name__}: {exc}")

    def memory_line(self) -> str:
        """Peaks in MiB against the limit, and major page faults in the window."""
        mib = 2 ** 20
        return (f"Traefik memory peak {self.peak_anon / mib:.0f} MiB own (anon/rss), "
                f"{self.peak_usage / mib:.0f} MiB charged incl. page cache, limit {self.limit / mib:.0f} MiB, "
                f"{self.major_faults} major page faults")


def load_together(browser: Any, urls: list[str], recorder: Any = None,
                  timeout_ms: int = pages.LOAD_TIMEOUT_MS) -> list[pages.PageLoad]:
    """Each URL in its own fresh context, all navigations started at once; their records.

    With a *recorder* (the browser tests' ``BrowserRecorder``) the pages stay open for the
    failure artefacts and the recorder closes them; otherwise they are closed here.
    """
    opened = []
    for url in urls:
        if recorder is not None:
            page, rec = recorder.page(url)
            context = None
        else:
            context = pages.new_context(browser)
            page = context.new_page()
            rec = pages.watch(page, url)
        opened.append((context, page, rec))
    started = time.monotonic()
    for _, page, rec in opened:  # start every navigation before waiting on any
        page.evaluate("url => { window.location.href = url; }", rec.url)
    for context, page, rec in opened:
        try:
            page.wait_for_url(rec.url.rstrip("/") + "**", timeout=timeout_ms)
            page.wait_for_load_state("networkidle", timeout=timeout_ms)
        except Exception as exc:  # a timeout is a finding: the record says so
            rec.page_errors.append(f"navigation: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        rec.seconds = time.monotonic() - started
        if context is not None:
            context.close()
    return [rec for _, _, rec in opened]
