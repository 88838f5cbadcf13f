"""The harness's own contract: fail-not-skip under CI, run-scoped leak reports."""

from __future__ import annotations

import re
import secrets
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.harness import local_engine
from tests.harness.leaks import (
    CATEGORIES,
    Snapshot,
    assert_no_leaks,
    format_leaks,
    label_args,
    leaks,
    reap,
    run_tempdir,
    snapshot,
)
from tests.harness.local_engine import LocalEngine
from tests.harness.nsproc import CGROUP_ROOT, NAME_RE, RUN_ID, STATE_ROOT, run_of, run_prefix, sh


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


@pytest.mark.engine
def test_the_guard_catches_a_planted_leftover_of_each_kind_and_cleans_it(engine: LocalEngine, tmp_path: Path) -> None:
    """Plant one resource of every kind the guard knows, under ANOTHER run id (so nothing of this
    session's live resources is touched), as a test could leave it -- named with the run's one
    prefix, carrying only the run's one label, or belonging to a registered zixly environment --
    then the guard must list each, and its clean-up must remove each."""
    other = _other_run_id()
    prefix, env = run_prefix(other), f"zx{other}env"
    before = snapshot(other, envs=(env,))
    image = f"{prefix}-planted:1"
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w"):
        pass
    label = label_args(other)
    sleeper: subprocess.Popen[bytes] | None = None
    try:
        engine.docker("import", str(empty), image, check=True)
        engine.docker("create", "--name", f"{prefix}-named", image, "/none", check=True)
        engine.docker("create", "--name", f"labelled-{other}", *label, image, "/none", check=True)
        engine.docker("create", "--name", f"zixly-{env}-app-1", "--label", f"org.zixly.env={env}", image, "/none",
                      check=True)
        engine.docker("network", "create", f"{prefix}-net", check=True)
        engine.docker("network", "create", *label, f"labelled-net-{other}", check=True)
        engine.docker("network", "create", f"zixly-{env}-proxy", check=True)
        engine.docker("volume", "create", f"{prefix}-vol", check=True)
        engine.docker("volume", "create", *label, f"labelled-vol-{other}", check=True)
        engine.docker("volume", "create", f"zixly-{env}-n8n_data", check=True)
        sh(["ip", "netns", "add", f"{prefix}7"])
        sh(["ip", "link", "add", f"{prefix}up", "type", "veth", "peer", "name", "eth9", "netns", f"{prefix}7"])
        cgroup = next(p for p in (CGROUP_ROOT / "pids", CGROUP_ROOT / "unified", CGROUP_ROOT) if p.is_dir())
        (cgroup / f"{prefix}7").mkdir()
        sleeper = subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep 300', f"{prefix}-sleeper"])
        (STATE_ROOT / prefix).mkdir(parents=True)
        (STATE_ROOT / prefix / "planted").write_text("x")
        tmp = run_tempdir("planted", other)
        found = leaks(before, snapshot(other, envs=(env,)))
        names = {c: sorted(e.split(" ", 1)[1] if " " in e else e for e in entries) for c, entries in found.items()}
        assert names["containers"] == sorted([f"{prefix}-named", f"labelled-{other}", f"zixly-{env}-app-1"])
        assert names["networks"] == sorted([f"{prefix}-net", f"labelled-net-{other}", f"zixly-{env}-proxy"])
        assert names["volumes"] == sorted([f"{prefix}-vol", f"labelled-vol-{other}", f"zixly-{env}-n8n_data"])
        assert names["images"] == [image]
        assert found["netns"] == [f"{prefix}7"] and found["links"] == [f"{prefix}up"]
        assert found["cgroups"] == [f"{prefix}7"]
        assert [e.split(" ", 1)[0] for e in found["processes"]] == [str(sleeper.pid)]
        assert found["dirs"] == sorted([str(STATE_ROOT / prefix), str(STATE_ROOT / prefix / "planted")])
        assert found["tmpdirs"] == [str(tmp)]
        assert set(found) == set(CATEGORIES), "one planted leftover of every kind"
        assert all(f"  {c}:" in format_leaks(found, other) for c in CATEGORIES)
    finally:
        reap(leaks(before, snapshot(other, envs=(env,))), other)
        if sleeper is not None:
            sleeper.wait(timeout=30)  # reaped by the clean-up (it was never signalled here)
    left = leaks(before, settled_snapshot_envs(before, env))
    assert left == {}, f"the clean-up left {left}"


def settled_snapshot_envs(before: Snapshot, env: str, timeout: float = 10.0) -> Snapshot:
    """Like :func:`settled_snapshot`, with *env* registered (namespaces go asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        after = snapshot(before.run_id, envs=(env,))
        if not leaks(before, after) or time.monotonic() > deadline:
            return after
        time.sleep(0.1)


def _other_run_id() -> str:
    while (run_id := secrets.token_hex(2)) == RUN_ID:
        pass
    return run_id
