"""The harness's own contract: fail-not-skip under CI, run-scoped leak reports."""

from __future__ import annotations

import re

import pytest

from tests.harness import local_engine
from tests.harness.leaks import Snapshot, assert_no_leaks, leaks, snapshot
from tests.harness.local_engine import LocalEngine
from tests.harness.nsproc import NAME_RE, run_of


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception),
                                         ("", pytest.skip.Exception)])
def test_a_missing_engine_fails_under_ci_and_skips_elsewhere(
        monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]) -> None:
    from zixly_stack import engine as zengine

    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(zengine, "engine_available", lambda: False)
    with pytest.raises(outcome, match=re.escape("python -m zixly_stack.engine")):
        local_engine.local_engine()


def test_engine_fixture_talks_to_the_engine_it_reports(engine: LocalEngine) -> None:
    version = engine.docker("version", "--format", "{{.Server.APIVersion}}", check=True)
    assert version.stdout.strip()


def test_leak_report_lists_only_what_appeared() -> None:
    before = Snapshot("ab12", engine=True, items={"netns": frozenset({"zxab121"}),
                                                  "containers": frozenset({"1 zxab12-old"})})
    after = Snapshot("ab12", engine=True, items={
        "netns": frozenset({"zxab121", "zxab122"}),
        "containers": frozenset({"1 zxab12-old", "2 zxab12-web"}),
        "processes": frozenset({"42 /usr/sbin/sshd -D"})})
    assert leaks(before, after) == {"containers": ["2 zxab12-web"], "netns": ["zxab122"],
                                    "processes": ["42 /usr/sbin/sshd -D"]}
    with pytest.raises(AssertionError) as err:
        assert_no_leaks(before, after)
    assert str(err.value).splitlines() == [
        "test resources left behind by run zxab12:",
        "  containers:", "    + 2 zxab12-web",
        "  netns:", "    + zxab122",
        "  processes:", "    + 42 /usr/sbin/sshd -D"]
    unknown_engine = Snapshot("ab12", engine=False, items=after.items)
    assert "containers" not in leaks(before, unknown_engine)


def test_names_of_other_runs_and_strangers_are_not_ours() -> None:
    assert run_of("zxab121") == run_of("zxab12sw") == run_of("zxab12") == "ab12"
    for stranger in ("zx1", "zxab1", "zxAB121", "zxab12x", "eth0", "zxab12-web"):
        assert run_of(stranger) is None, stranger
    assert NAME_RE.match("zxab1230")  # host 30 of run ab12


@pytest.mark.engine
def test_the_guard_sees_our_engine_resources_and_ignores_others(
        engine: LocalEngine, test_prefix: str) -> None:
    before = snapshot()
    ours_net, ours_vol = f"{test_prefix}-leaknet", f"{test_prefix}-leakvol"
    stranger = "zixly-harness-stranger-net"
    engine.docker("network", "create", ours_net, check=True)
    engine.docker("volume", "create", ours_vol, check=True)
    engine.docker("network", "create", "--label", "io.zixly.test.run=other", stranger,
                  check=True)
    try:
        found = leaks(before, snapshot())
        assert [e.split()[1] for e in found["networks"]] == [ours_net]
        assert [e.split()[1] for e in found["volumes"]] == [ours_vol]
    finally:
        engine.docker("network", "rm", ours_net, stranger)
        engine.docker("volume", "rm", ours_vol)
    assert leaks(before, snapshot()) == {}
