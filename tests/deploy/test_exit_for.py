"""The deploy command's exit decision: a failed host fails it (exit 1); a held lock refuses it
(exit 4); a hook declared ``on_failure: fail`` that failed fails it (exit 1, naming the hook)
although the release stays; a degraded hook only warns (exit 0). The report objects are plain
data, shaped like :mod:`zixly_stack.deploy`'s."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from zixly_stack.cli.deploy_cmd import _exit_for
from zixly_stack.errors import ApplyError, LockError


def _report(ok: bool, hooks: list[tuple[str, bool, str]], status: str = "changed") -> SimpleNamespace:
    run = SimpleNamespace(name="vps1", status=status, hooks=hooks, error="")
    return SimpleNamespace(ok=ok, env="production", runs=[run])


def test_a_failed_fail_hook_fails_the_deploy_naming_it() -> None:
    report = _report(True, [("warehouse-migrate", False, "failed: psql: connection refused"),
                            ("n8n-owner", True, "ok: owner exists")])
    with pytest.raises(ApplyError) as exc:
        _exit_for(report)
    assert exc.value.exit_code == 1
    assert "vps1: warehouse-migrate" in str(exc.value) and "n8n-owner" not in str(exc.value)
    assert "zixly hooks run production" in str(exc.value)


def test_a_degraded_hook_does_not_fail_the_deploy() -> None:
    hooks = [("metabase-dashboards", False, "degraded: API timeout"), ("x", True, "unchanged: -")]
    assert _exit_for(_report(True, hooks)) is None  # no exception: the deploy exits 0
    # the same hook, failed instead of degraded, does fail it: the call above could have raised
    with pytest.raises(ApplyError, match="vps1: metabase-dashboards"):
        _exit_for(_report(True, [("metabase-dashboards", False, "failed: API timeout")]))


def test_a_failed_host_fails_first() -> None:
    with pytest.raises(ApplyError) as exc:
        _exit_for(_report(False, [("warehouse-migrate", False, "failed: x")], status="failed"))
    assert exc.value.exit_code == 1
    assert "failed on vps1" in str(exc.value) and "warehouse-migrate" not in str(exc.value)


def test_a_held_lock_exits_4_naming_the_holder() -> None:
    report = _report(False, [], status="locked")
    report.runs[0].error = "another deploy holds the lock: bob@ci (pid 9, deploy) since t"
    with pytest.raises(LockError) as exc:
        _exit_for(report)
    assert exc.value.exit_code == 4 and "vps1: another deploy holds the lock: bob@ci" in str(exc.value)
