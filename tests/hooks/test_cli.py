"""``zixly hooks list|run``: ordering shown, refusals with the documented exit codes."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import REPO, copy_repo, zixly


def test_list_shows_hooks_in_run_order() -> None:
    res = zixly("hooks", "list", "local", root=REPO)
    assert res.code == 0, res.stderr
    names = [line.split()[0] for line in res.stdout.splitlines()]
    assert names.index("warehouse-migrate") < names.index("n8n-workflows")
    assert "(needs n8n-owner, warehouse-migrate)" in res.stdout


def test_run_refuses_remote_environments() -> None:
    res = zixly("hooks", "run", "production", root=REPO)
    assert res.code == 1 and "run during `zixly deploy`" in res.stderr


def test_run_unknown_only_is_a_config_error() -> None:
    res = zixly("hooks", "run", "local", "--only", "nope", root=REPO)
    assert res.code == 2 and "no hook named nope" in res.stderr


def test_run_without_a_secrets_store_writes_nothing(tmp_path: Path, age_key: Path) -> None:
    root = copy_repo(tmp_path / "repo", envs=("local",))
    res = zixly("hooks", "run", "local", root=root)
    assert res.code == 3, res.stderr
    assert not (root / "inventories" / "local" / "secrets.age").exists()


def test_deploy_hook_runner_reports_remote_hooks_as_not_run() -> None:
    from tests.helpers import load_env
    from zixly_stack.hooks import deploy_hook_runner

    run = deploy_hook_runner(load_env(REPO, "production"))
    assert run("vps1", ["n8n-owner"]) == [
        ("n8n-owner", False, "not run: hooks on remote hosts need the SSH transport (not implemented yet)")]
