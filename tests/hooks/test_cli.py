"""``zixly hooks list|run``: ordering shown, refusals with the documented exit codes."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import REPO, copy_repo, zixly, zixly_proc


def test_list_shows_hooks_in_run_order() -> None:
    res = zixly("hooks", "list", "local", root=REPO)
    assert res.code == 0, res.stderr
    names = [line.split()[0] for line in res.stdout.splitlines()]
    assert names.index("warehouse-migrate") < names.index("n8n-workflows")
    assert "(needs n8n-owner, warehouse-migrate)" in res.stdout


def test_run_on_an_unreachable_remote_host_exits_1(tmp_path: Path, age_key: Path) -> None:
    """Remote hooks go over SSH: a host whose sshd does not answer (a closed loopback port) is reported."""
    root = copy_repo(tmp_path / "repo", envs=("production",))
    (root / "inventories" / "production" / "hosts.yaml").write_text(
        "hosts:\n  vps1:\n    address: 127.0.0.1\n    user: root\n    port: 9\n    roles: [edge, apps, stores]\n")
    assert zixly("secrets", "init", "production", root=root).code == 0
    assert zixly("render", "production", "--out", str(tmp_path / "out"), root=root).code == 0
    res = zixly_proc("hooks", "run", "production", root=root)
    assert res.code == 1 and "vps1: unreachable" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_run_unknown_only_is_a_config_error() -> None:
    res = zixly("hooks", "run", "local", "--only", "nope", root=REPO)
    assert res.code == 2 and "no hook named nope" in res.stderr


def test_run_without_a_secrets_store_writes_nothing(tmp_path: Path, age_key: Path) -> None:
    root = copy_repo(tmp_path / "repo", envs=("local",))
    res = zixly("hooks", "run", "local", root=root)
    assert res.code == 3, res.stderr
    assert not (root / "inventories" / "local" / "secrets.age").exists()


def test_deploy_hook_runner_without_a_connection_reports_remote_hooks_as_not_run() -> None:
    from tests.helpers import load_env
    from zixly_stack.hooks import deploy_hook_runner

    run = deploy_hook_runner(load_env(REPO, "production"))
    assert run("vps1", ["n8n-owner"]) == [("n8n-owner", False, "not run: no connection to the host")]
