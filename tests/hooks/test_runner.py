"""The hook runner: ordering by needs, retries, timeouts, failure policy, state records."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, load_env
from tests.hooks.fakes import ScriptedTransport, maker, service, stack_of
from zixly_stack.errors import ConfigError
from zixly_stack.hooks.base import HookError, HookResult
from zixly_stack.hooks.context import HookContext
from zixly_stack.hooks.runner import plan_hooks, resolve, run_hooks, seconds_of
from zixly_stack.hooks.state import HookRecord, JsonStateFile, MemoryState
from zixly_stack.models.service import Hook
from zixly_stack.secrets.value import Secret


def hook(name: str, needs: tuple[str, ...] = (), **kw: object) -> Hook:
    return Hook.model_validate({"name": name, "run": f"zixly_stack.hooks.fake:{name.replace('-', '_')}",
                                "needs": list(needs), **kw})


def test_plan_orders_by_needs_and_keeps_catalog_order_otherwise() -> None:
    st = stack_of(
        service("app", [hook("app-seed", ("db-migrate", "app-owner")), hook("app-owner")]),
        service("db", [hook("db-migrate")]),
        service("other", [hook("other-setup", ("db",))]),
    )
    assert [p.name for p in plan_hooks(st)] == ["db-migrate", "app-owner", "app-seed", "other-setup"]
    assert [p.name for p in plan_hooks(st, ["app-seed"])] == ["app-seed"]


@pytest.mark.parametrize(
    ("services", "message"),
    [
        ([service("aa", [hook("a-x", ("nowhere",))])], "needs 'nowhere', which is neither a hook nor a service"),
        ([service("aa", [hook("a-x", ("a-y",)), hook("a-y", ("a-x",))])], "cycle: a-x -> a-y -> a-x"),
        ([service("aa", [hook("same")]), service("bb", [hook("same")])], "hook 'same' is also declared by aa"),
    ],
)
def test_plan_rejects_bad_declarations(services: list[object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        plan_hooks(stack_of(*services))  # type: ignore[arg-type]
    assert message in str(err.value)


def test_plan_rejects_unknown_only() -> None:
    with pytest.raises(ConfigError, match="no hook named nope"):
        plan_hooks(stack_of(service("aa", [hook("a-x")])), ["nope"])


def test_the_catalog_declares_a_consistent_hook_graph() -> None:
    names = [p.name for p in plan_hooks(load_env(REPO, "local").stack)]
    for first, later in (("warehouse-migrate", "n8n-workflows"), ("n8n-owner", "n8n-workflows"),
                         ("warehouse-migrate", "metabase-setup"), ("metabase-setup", "metabase-dashboards")):
        assert names.index(first) < names.index(later)
    for name in names:
        plan = next(p for p in plan_hooks(load_env(REPO, "local").stack) if p.name == name)
        assert callable(resolve(plan.hook.run)), name


def test_resolve_refuses_code_outside_the_hooks_package() -> None:
    with pytest.raises(HookError, match="must live under"):
        resolve("os:system")


def _run(st: object, fns: dict[str, object], state: MemoryState | JsonStateFile, tmp_path: Path,
         secrets: dict[str, Secret] | None = None) -> object:
    def resolver(run: str) -> object:
        return fns[run.split(":")[1]]

    return run_hooks(plan_hooks(st), maker(st, ScriptedTransport(), secrets or {}, tmp_path),  # type: ignore[arg-type]
                     state, sleep=lambda _: None, resolver=resolver)  # type: ignore[arg-type]


def test_statuses_retries_skips_and_records(tmp_path: Path) -> None:
    calls: dict[str, int] = {}
    seen_previous: list[HookRecord | None] = []

    def flaky(ctx: HookContext) -> HookResult:
        calls["flaky"] = calls.get("flaky", 0) + 1
        if calls["flaky"] < 3:
            raise HookError("not yet")
        return HookResult(True, "done", {"item": "h1"})

    def steady(ctx: HookContext) -> HookResult:
        seen_previous.append(ctx.previous)
        return HookResult(False, "nothing to do", {"x": "1"})

    def broken(ctx: HookContext) -> HookResult:
        raise RuntimeError("boom")

    def after_broken(ctx: HookContext) -> HookResult:
        raise AssertionError("must not run")

    st = stack_of(service("aa", [hook("flaky", retries=2), hook("steady"), hook("broken", retries=1),
                                hook("after-broken", ("broken",))]))
    fns = {"flaky": flaky, "steady": steady, "broken": broken, "after_broken": after_broken}
    state = MemoryState()
    report = _run(st, fns, state, tmp_path)
    got = {o.name: (o.status, o.attempts) for o in report.outcomes}  # type: ignore[attr-defined]
    assert got == {"flaky": ("ok", 3), "steady": ("unchanged", 1), "broken": ("degraded", 2),
                   "after-broken": ("skipped", 0)}
    assert report.status == "degraded"  # type: ignore[attr-defined]
    assert "RuntimeError: boom" in next(o.summary for o in report.outcomes if o.name == "broken")  # type: ignore[attr-defined]
    assert state.records["flaky"].applied == {"item": "h1"} and state.records["broken"].status == "degraded"
    # Second run: each hook sees its previous record.
    calls.clear()
    _run(st, fns, state, tmp_path)
    assert seen_previous[0] is None and seen_previous[1] is not None and seen_previous[1].applied == {"x": "1"}


def test_failure_policy_fail_and_kept_applied_map(tmp_path: Path) -> None:
    state = MemoryState({"critical": HookRecord.make("critical", "ok", "before", {"m": "1"})})

    def critical(ctx: HookContext) -> HookResult:
        raise HookError("schema missing")

    st = stack_of(service("aa", [hook("critical", on_failure="fail", retries=0), hook("later", ("critical",),
                                                                                   on_failure="fail")]))
    report = _run(st, {"critical": critical, "later": critical}, state, tmp_path)
    assert [o.status for o in report.outcomes] == ["failed", "failed"]  # type: ignore[attr-defined]
    assert report.status == "failed"  # type: ignore[attr-defined]
    assert state.records["critical"].applied == {"m": "1"}  # what was in place is still known


def test_timeout_fails_without_retry(tmp_path: Path) -> None:
    """Causal, not timed: the hook blocks until the test releases it, which happens only after
    the runner has returned -- so the runner returned while the hook was still running."""
    runs: list[float] = []
    release, finished = threading.Event(), threading.Event()

    def slow(ctx: HookContext) -> HookResult:
        runs.append(time.monotonic())
        release.wait(30)  # ignores its deadline: the runner must stop waiting anyway
        finished.set()
        return HookResult(False, "never")

    st = stack_of(service("aa", [hook("slow", timeout="1s", retries=5)]))
    try:
        report = _run(st, {"slow": slow}, MemoryState(), tmp_path)
        assert not finished.is_set(), "the runner waited for the hook instead of giving up at its timeout"
    finally:
        release.set()
    assert finished.wait(30)
    outcome = report.outcomes[0]  # type: ignore[attr-defined]
    assert (outcome.status, outcome.summary, len(runs)) == ("degraded", "timed out after 1s", 1)


def test_errors_never_show_secret_values(tmp_path: Path) -> None:
    secret = Secret("s3cr3t-value-123")

    def leaky(ctx: HookContext) -> HookResult:
        raise HookError(f"server said: bad password {ctx.secret('aa.pw').reveal()}")

    st = stack_of(service("aa", [hook("leaky", retries=0)]))
    report = _run(st, {"leaky": leaky}, MemoryState(), tmp_path, {"aa.pw": secret})
    assert "s3cr3t-value-123" not in report.outcomes[0].summary  # type: ignore[attr-defined]
    assert "********" in report.outcomes[0].summary  # type: ignore[attr-defined]


def test_state_file_roundtrip_mode_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "env" / "state" / "hooks.json"
    store = JsonStateFile(path)
    assert store.load() == {}
    store.save({"a": HookRecord.make("a", "ok", "s", {"k": "v"})})
    assert path.stat().st_mode & 0o777 == 0o600
    assert store.load()["a"].applied == {"k": "v"}
    path.write_text("{not json")
    with pytest.raises(HookError, match="damaged hook state"):
        store.load()


def test_seconds_of() -> None:
    assert [seconds_of(x) for x in ("300s", "5m", "1h", "500ms")] == [300, 300, 3600, 0.5]


def test_standin_services_are_not_applicable_and_so_are_their_dependents(tmp_path: Path) -> None:
    ran: list[str] = []

    def fn(ctx: HookContext) -> HookResult:
        ran.append(ctx.hook)
        return HookResult(False, "fine")

    st = stack_of(service("real", [hook("real-setup")]),
                  service("fake", [hook("fake-setup"), hook("fake-seed", ("fake-setup",))]))
    report = run_hooks(plan_hooks(st), maker(st, ScriptedTransport(), {}, tmp_path), MemoryState(),
                       sleep=lambda _: None, resolver=lambda run: fn,
                       applicable=lambda ph: "stand-in" if ph.service == "fake" and ph.name == "fake-setup" else None)
    assert [(o.name, o.status) for o in report.outcomes] == [
        ("real-setup", "unchanged"), ("fake-setup", "n/a"), ("fake-seed", "n/a")]
    assert ran == ["real-setup"] and report.status == "ok"


def test_every_hook_entry_point_is_declared_somewhere() -> None:
    """No dead hooks: every ``(HookContext) -> HookResult`` function of the hooks package is the
    ``run:`` of a hook some service declares (or the demo builder declares), so no hook is tested
    that no deploy ever runs."""
    import importlib
    import inspect
    import pkgutil
    import typing

    import zixly_stack.hooks as pkg
    from zixly_stack.project import Loaded

    TYPING_ONLY_NAMES = {"Loaded": Loaded}

    entry_points = set()
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"zixly_stack.hooks.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            hints = typing.get_type_hints(fn, localns=TYPING_ONLY_NAMES)  # names under TYPE_CHECKING
            if hints.get("return") is HookResult and list(hints.values())[:1] == [HookContext]:
                entry_points.add(f"{module.__name__}:{name}")
    declared = {h.run for s in load_env(REPO, "local").stack.services.values() for h in s.hooks}
    declared |= {h.run for s in load_env(REPO, "production").stack.services.values() for h in s.hooks}
    demo = (REPO / "zixly_stack" / "demo" / "run.py").read_text()
    declared |= {ep for ep in entry_points if f'run="{ep}"' in demo}
    assert len(entry_points) >= 12, sorted(entry_points)
    assert entry_points <= declared, f"hooks no service declares: {sorted(entry_points - declared)}"
