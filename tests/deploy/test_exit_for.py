"""The deploy command's exit decision: a failed host fails it; a hook declared ``on_failure: fail``
that failed fails it (exit 5, naming the hook) although the release stays; a degraded hook only
warns. The report objects are plain data, shaped like :mod:`zixly_stack.deploy`'s."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from zixly_stack.cli.deploy_cmd import _exit_for
from zixly_stack.errors import ApplyError


def _report(ok: bool, hooks: list[tuple[str, bool, str]], status: str = "changed") -> SimpleNamespace:
    run = SimpleNamespace(name="vps1", status=status, hooks=hooks, error="")
    return SimpleNamespace(ok=ok, env="production", runs=[run])


def test_a_failed_fail_hook_fails_the_deploy_naming_it() -> None:
    report = _report(True, [("warehouse-migrate", False, "failed: psql: connection refused"),
                            ("n8n-owner", True, "ok: owner exists")])
    with pytest.raises(ApplyError) as exc:
        _exit_for(report)
    assert "vps1: warehouse-migrate" in str(exc.value) and "n8n-owner" not in str(exc.value)
    assert "zixly hooks run production" in str(exc.value)


def test_a_degraded_hook_does_not_fail_the_deploy() -> None:
    _exit_for(_report(True, [("metabase-dashboards", False, "degraded: API timeout"), ("x", True, "unchanged: -")]))


def test_a_failed_host_fails_first() -> None:
    with pytest.raises(ApplyError) as exc:
        _exit_for(_report(False, [], status="failed"))
    assert "failed on vps1" in str(exc.value)
