"""Order, run, retry, time-limit and record post-deploy hooks.

Contract:

* :func:`plan_hooks` collects the ``hooks:`` of every service the environment runs and
  orders them so each runs after what it ``needs`` (a hook name, or a service name meaning
  "that service is deployed"); ties keep catalog order. Unknown needs, needs on services
  the environment does not run, duplicate names and cycles are a :class:`ConfigError`.
  ``only`` restricts the run to the named hooks (their needs are not re-run).
* :func:`run_hooks` runs each hook with its ``timeout`` (a worker thread; when the time
  is up the context is cancelled and the hook is failed, never retried) and up to
  ``retries`` more attempts after an exception (backoff 2, 4, 8 ... s, capped at 30 s).
* Outcomes: ``ok`` (changed something), ``unchanged``, ``degraded`` (failed with
  ``on_failure: degrade``), ``failed`` (``on_failure: fail``), ``skipped`` (a need did not
  succeed), ``n/a`` (the app runs as a labelled stand-in image, so there is nothing real to
  set up -- and hooks that need it are ``n/a`` too). The report's status is ``failed`` if
  any hook failed, else ``degraded`` if any was degraded or skipped, else ``ok``. A failed
  hook never rolls anything back.
* After every hook its :class:`HookRecord` is saved at once; a failure keeps the last
  successful ``applied`` map so the next run still knows what is in place.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..catalog.stack import Stack
from ..errors import ConfigError, Location, Problem
from ..models.service import Hook
from .base import HookError, HookResult
from .context import HookContext
from .state import HookRecord, StateStore

Status = Literal["ok", "unchanged", "degraded", "failed", "skipped", "n/a"]
HookFn = Callable[[HookContext], HookResult]
ALLOWED_PREFIX = "zixly_stack.hooks."


@dataclass(frozen=True)
class PlannedHook:
    """A hook of a service, in run order."""

    service: str
    hook: Hook

    @property
    def name(self) -> str:
        """The hook's name."""
        return self.hook.name


@dataclass(frozen=True)
class HookOutcome:
    """How one hook ended."""

    name: str
    service: str
    status: Status
    summary: str
    attempts: int = 0
    seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        """``ok``, ``unchanged`` or ``n/a`` (nothing to do here)."""
        return self.status in ("ok", "unchanged", "n/a")


@dataclass
class HooksReport:
    """Every outcome of one run, in run order."""

    outcomes: list[HookOutcome] = field(default_factory=list)

    @property
    def status(self) -> Literal["ok", "degraded", "failed"]:
        """``failed`` > ``degraded`` > ``ok`` (module contract)."""
        if any(o.status == "failed" for o in self.outcomes):
            return "failed"
        if any(o.status in ("degraded", "skipped") for o in self.outcomes):
            return "degraded"
        return "ok"

    def lines(self) -> list[str]:
        """One summary line per hook, for the deploy summary."""
        return [f"{o.name}: {o.status} - {o.summary}" for o in self.outcomes]


def seconds_of(duration: str) -> float:
    """``"300s"`` / ``"5m"`` / ``"1h"`` / ``"500ms"`` -> seconds."""
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if duration.endswith(suffix) and duration[: -len(suffix)].isdigit():
            return int(duration[: -len(suffix)]) * factor
    raise ValueError(f"not a duration: {duration!r}")


def _problem(service: str, message: str, hint: str = "") -> Problem:
    return Problem(Location(f"services/{service}/service.yaml"), f"services.{service}.hooks", message, hint)


def plan_hooks(stack: Stack, only: Iterable[str] = ()) -> list[PlannedHook]:
    """Every hook of the environment in dependency order (module contract)."""
    hooks: dict[str, PlannedHook] = {}
    problems: list[Problem] = []
    for svc in stack.services.values():
        for h in svc.hooks:
            if h.name in hooks:
                problems.append(_problem(svc.name, f"hook {h.name!r} is also declared by {hooks[h.name].service}"))
            hooks[h.name] = PlannedHook(svc.name, h)
    for ph in hooks.values():
        for need in ph.hook.needs:
            if need in hooks or need in stack.services:
                continue
            problems.append(_problem(ph.service, f"hook {ph.name!r} needs {need!r}, which is neither a hook nor a "
                                                 "service of this environment",
                                     "enable the service that provides it, or drop the need"))
    if problems:
        raise ConfigError(problems)
    ordered: list[PlannedHook] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(ph: PlannedHook, path: tuple[str, ...]) -> None:
        if state.get(ph.name) == 2:
            return
        if state.get(ph.name) == 1:
            cycle = " -> ".join((*path, ph.name))
            raise ConfigError([_problem(ph.service, f"hook needs form a cycle: {cycle}")])
        state[ph.name] = 1
        for need in ph.hook.needs:
            if need in hooks:
                visit(hooks[need], (*path, ph.name))
        state[ph.name] = 2
        ordered.append(ph)

    for ph in hooks.values():
        visit(ph, ())
    wanted = list(only)
    if wanted:
        unknown = [n for n in wanted if n not in hooks]
        if unknown:
            raise ConfigError([Problem(Location("hooks"), "--only", f"no hook named {', '.join(unknown)}",
                                       f"hooks of this environment: {', '.join(hooks) or 'none'}")])
        ordered = [ph for ph in ordered if ph.name in wanted]
    return ordered


def resolve(run: str) -> HookFn:
    """The function named by ``module:function`` (only under ``zixly_stack.hooks.``)."""
    module, _, func = run.partition(":")
    if not module.startswith(ALLOWED_PREFIX):
        raise HookError(f"{run}: hooks must live under {ALLOWED_PREFIX}")
    try:
        fn = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise HookError(f"{run}: cannot load ({exc})") from None
    if not callable(fn):
        raise HookError(f"{run}: not callable")
    return fn  # type: ignore[no-any-return]


MakeContext = Callable[[PlannedHook, HookRecord | None, float], HookContext]


@dataclass
class _Attempt:
    result: HookResult | None = None
    error: BaseException | None = None


def _attempt(fn: HookFn, ctx: HookContext, timeout: float) -> tuple[_Attempt, bool]:
    """Run *fn* in a worker thread; (outcome, timed_out)."""
    box = _Attempt()

    def target() -> None:
        try:
            box.result = fn(ctx)
        except BaseException as exc:  # reported, never re-raised into the runner
            box.error = exc

    worker = threading.Thread(target=target, name=f"hook-{ctx.hook}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        ctx.cancelled.set()
        return box, True
    return box, False


def _message(exc: BaseException, ctx: HookContext) -> str:
    if isinstance(exc, HookError):
        return ctx.redact(str(exc))
    return ctx.redact(f"{type(exc).__name__}: {exc}")


def _run_one(ph: PlannedHook, make: MakeContext, previous: HookRecord | None,
             sleep: Callable[[float], None], resolver: Callable[[str], HookFn]) -> tuple[HookOutcome,
                                                                                      HookResult | None]:
    timeout = seconds_of(ph.hook.timeout)
    started = time.monotonic()
    deadline = started + timeout
    try:
        fn = resolver(ph.hook.run)
    except HookError as exc:
        return HookOutcome(ph.name, ph.service, _failure(ph), str(exc), 0, 0.0), None
    attempts, last = 0, "did not run"
    while attempts <= ph.hook.retries:
        attempts += 1
        ctx = make(ph, previous, deadline)
        box, timed_out = _attempt(fn, ctx, max(deadline - time.monotonic(), 0.0))
        took = time.monotonic() - started
        if timed_out:
            return HookOutcome(ph.name, ph.service, _failure(ph), f"timed out after {timeout:.0f}s", attempts,
                               took), None
        if box.error is None and box.result is not None:
            status: Status = "ok" if box.result.changed else "unchanged"
            return HookOutcome(ph.name, ph.service, status, ctx.redact(box.result.summary), attempts, took), box.result
        last = _message(box.error, ctx) if box.error else "returned no result"
        pause = min(2.0**attempts, 30.0)
        if attempts > ph.hook.retries or time.monotonic() + pause >= deadline:
            break
        sleep(pause)
    return HookOutcome(ph.name, ph.service, _failure(ph), last, attempts, time.monotonic() - started), None


def _failure(ph: PlannedHook) -> Status:
    return "failed" if ph.hook.on_failure == "fail" else "degraded"


def run_hooks(
    planned: Sequence[PlannedHook],
    make_context: MakeContext,
    state: StateStore,
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_outcome: Callable[[HookOutcome], None] | None = None,
    resolver: Callable[[str], HookFn] = resolve,
    applicable: Callable[[PlannedHook], str | None] | None = None,
) -> HooksReport:
    """Run *planned* in order (module contract); *applicable* returns a reason to skip a hook as n/a."""
    records = state.load()
    report = HooksReport()
    finished: dict[str, HookOutcome] = {}
    for ph in planned:
        blocked = [n for n in ph.hook.needs if n in finished and not finished[n].succeeded]
        moot = [n for n in ph.hook.needs if n in finished and finished[n].status == "n/a"]
        reason = applicable(ph) if applicable else None
        if reason or moot:
            outcome = HookOutcome(ph.name, ph.service, "n/a", reason or f"not applicable: {', '.join(moot)} was n/a")
            result = None
        elif blocked:
            outcome = HookOutcome(ph.name, ph.service, "skipped" if ph.hook.on_failure == "degrade" else "failed",
                                  f"not run: {', '.join(blocked)} did not succeed")
            result = None
        else:
            outcome, result = _run_one(ph, make_context, records.get(ph.name), sleep, resolver)
        finished[ph.name] = outcome
        report.outcomes.append(outcome)
        prior = records.get(ph.name)
        applied: Mapping[str, str] = result.applied if result else (prior.applied if prior else {})
        records[ph.name] = HookRecord.make(ph.name, outcome.status, outcome.summary, applied)
        state.save(records)
        if on_outcome:
            on_outcome(outcome)
    return report
