"""Edge benchmark: n8n's first load in a real browser through Traefik vs straight from its container.

Run as root on a machine where the environment's stack is up (``zixly up``; the e2e stack
works too: ``--env e2ebrw``)::

    python bench/bench_edge_load.py [--env local] [--runs 3] [--browsers 5]

Debian's Chromium (Playwright, ``tests/browser/pages.py``) loads n8n's editor in a fresh
context -- nothing cached, a person's first visit -- alternately

* **direct**: ``http://localhost:5678/`` -> the n8n container, plain HTTP/1.1 (over plain
  HTTP n8n shows its sign-in page only on ``localhost``; elsewhere it warns about its cookie);
* **edge**: ``https://n8n.localhost/`` -> Traefik's container (TLS, HTTP/2, rate limits,
  security headers), as a person's browser gets it;

and prints per path the median time to network idle and to the sign-in form on screen, the
429 and failed-request counts, and the ratio edge/direct on the time to the sign-in form
(goal <= 1.5). Then ``--browsers`` fresh contexts load n8n and the stand-in apps' pages at
once, while Traefik's Docker health status and ``/ping`` are polled. Traefik's memory (its
own, the charge incl. page cache, major page faults) is sampled in both phases. Exit 1 when
the ratio is over the goal, a 429 or failed request happened, or Traefik was unhealthy.

The browser runs in a network namespace of its own (``tests/browser/quiet_net.py``: on a
shared engine, other stacks' Docker networks make Chromium abort requests with
``ERR_NETWORK_CHANGED``). Both paths cross the same two hops of Docker's own userland proxy
(``docker-proxy``, what a published port goes through): namespace loopback -> host end of
the veth -> container, so the difference between them is Traefik's cost.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import pages  # noqa: E402
from tests.browser.edge import EdgeWatch, container_ip, load_together  # noqa: E402
from tests.browser.quiet_net import quiet_namespace, userland_proxy  # noqa: E402

GOAL_RATIO = 1.5
SIGNIN_FORM = "input[name=emailOrLdapLoginId]"
APPS = ("n8n", "portainer", "support", "invoices", "marketing", "metabase", "cloud", "plane")


@dataclass
class PathRuns:
    """The loads of one path (direct or edge)."""

    name: str
    idle: list[float] = field(default_factory=list)
    form: list[float] = field(default_factory=list)
    responses: int = 0
    too_many: int = 0
    failed: int = 0

    def line(self) -> str:
        """Medians and counts."""
        return (f"{self.name:<6} network idle {statistics.median(self.idle):6.2f}s  sign-in form "
                f"{statistics.median(self.form):6.2f}s  (runs: {', '.join(f'{t:.1f}' for t in self.form)}; "
                f"~{self.responses // max(len(self.form), 1)} responses/load, {self.too_many} x 429, "
                f"{self.failed} failed)")


def first_load(browser: object, url: str, runs: PathRuns) -> None:
    """One first visit of *url* (fresh context) until the sign-in form shows."""
    context = pages.new_context(browser)  # type: ignore[arg-type]
    page = context.new_page()
    rec = pages.watch(page, url)
    started = time.monotonic()
    try:
        pages.load(page, url, rec)
        page.wait_for_selector(SIGNIN_FORM, timeout=120_000)
        form = time.monotonic() - started
    except Exception as exc:
        statuses = collections.Counter(str(st) for st, _, _ in rec.bad)
        raise SystemExit(f"{url}: the sign-in form never showed ({exc}); {rec.summary()}; statuses "
                         f"{dict(statuses)}; first problems: {rec.problems()[:5]}") from None
    finally:
        context.close()
    runs.idle.append(rec.seconds)
    runs.form.append(form)
    runs.responses += len(rec.responses)
    runs.too_many += rec.count(429)
    runs.failed += len(rec.failed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="local")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--browsers", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    traefik = f"zixly-{args.env}-traefik-traefik-1"
    direct, edge = PathRuns("direct"), PathRuns("edge")
    with contextlib.ExitStack() as stack:
        net = stack.enter_context(quiet_namespace(Path(stack.enter_context(tempfile.TemporaryDirectory()))))
        for target, port, inner in ((f"zixly-{args.env}-n8n-n8n-1", 5678, "127.0.0.1"), (traefik, 443, "127.0.0.2")):
            stack.enter_context(userland_proxy(net.host_ip, port, container_ip(target)))
            stack.enter_context(userland_proxy(inner, port, net.host_ip, netns=net.name))
        pw = stack.enter_context(sync_playwright())
        browser = pages.launch(pw, "127.0.0.2", net.chromium)
        first_load(browser, "https://n8n.localhost/", PathRuns("warm-up"))  # n8n and Traefik past their first request
        with EdgeWatch(traefik) as one:
            for _ in range(args.runs):
                first_load(browser, "http://localhost:5678/", direct)
                first_load(browser, "https://n8n.localhost/", edge)
        urls = [f"https://{APPS[i % len(APPS)]}.localhost/" for i in range(args.browsers * len(APPS))]
        with EdgeWatch(traefik, health=True) as many:
            together = []
            for start in range(0, len(urls), args.browsers):
                together += load_together(browser, urls[start:start + args.browsers])
        browser.close()
    ratio = statistics.median(edge.form) / statistics.median(direct.form)
    print(direct.line())
    print(edge.line())
    print(f"ratio edge/direct (sign-in form on screen): {ratio:.2f} (goal <= {GOAL_RATIO})")
    print(f"1 browser:  {one.memory_line()}")
    bad = [p for rec in together for p in rec.problems(pages.EXPECTED)]
    unhealthy = [s for s in many.health_states if s != "healthy"]
    print(f"{args.browsers} browsers x {len(APPS)} app pages: {len(together)} loads, "
          f"{sum(len(r.responses) for r in together)} responses, {sum(r.count(429) for r in together)} x 429, "
          f"{len(bad)} problems; Traefik health {len(many.health_states) - len(unhealthy)}/{len(many.health_states)} "
          f"healthy, /ping {many.pings - len(many.ping_failures)}/{many.pings} OK")
    print(f"{args.browsers} browsers: {many.memory_line()}")
    for line in bad[:10]:
        print(f"  {line}")
    ok = ratio <= GOAL_RATIO and not (edge.too_many or edge.failed or bad or unhealthy or many.ping_failures)
    print(f"goal: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
