"""``zixly rollback`` end to end on the session's shared local stack (``local_stack``).

A harmless change (one env value of the Metabase stand-in) makes a second release; rollback
must switch ``current`` back to the first release and bring the container back to exactly
that release's configuration (image, labels, environment), touching no other project; the
release log records it. Then the sensible follow-ups: ``plan`` still sees the repo's newer
definition (a rollback never edits the repo), a second rollback goes to the newest good release
that is not current (the one just left: a rollback of a rollback), and a rollback to the current
release is refused. The stack is restored (a deploy of the unchanged repo) before the test ends.

Real parts: this machine's engine, Compose, the release directories and log; Metabase itself
cannot run here (its labelled stand-in answers the vendor's health contract).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.deploy.helpers import containers
from tests.harness.stack import LocalStack

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]
PROBE = "ZIXLY_ROLLBACK_PROBE"


def _config(stack: LocalStack, name: str) -> dict[str, Any]:
    """What a release decides about a container: image (ref and id), labels, environment."""
    doc = json.loads(stack.engine.docker("inspect", name, check=True).stdout)[0]
    # Compose's own bookkeeping of which container a recreation replaced is not configuration
    labels = {k: v for k, v in doc["Config"]["Labels"].items() if k != "com.docker.compose.replace"}
    return {"image": doc["Config"]["Image"], "image_id": doc["Image"], "labels": labels,
            "env": sorted(doc["Config"]["Env"])}


def _state(stack: LocalStack, name: str) -> tuple[str, str]:
    state = json.loads(stack.engine.docker("inspect", "--format", "{{json .State}}", name, check=True).stdout)
    return state["Status"], (state.get("Health") or {}).get("Status", "no healthcheck")


def _log(stack: LocalStack) -> list[dict[str, Any]]:
    text = (stack.base_dir / stack.env / "releases.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_rollback_returns_current_and_the_containers_to_the_previous_release(local_stack: LocalStack) -> None:
    z, env = local_stack.zixly, local_stack.env
    current = local_stack.base_dir / env / "current"
    metabase = local_stack.container("metabase", "metabase")
    docker = list(local_stack.engine.argv), env, dict(local_stack.engine.env)
    first = current.resolve().name
    config_first = _config(local_stack, metabase)
    all_first = containers(*docker)
    local_stack.set_overrides(f"metabase: {{env: {{metabase: {{{PROBE}: 'release-2'}}}}}}")
    try:
        deployed = z.json("deploy", env, "--yes", "--no-hooks")
        assert deployed["ok"], json.dumps(deployed, indent=2)
        second = current.resolve().name
        assert second != first and f"{PROBE}=release-2" in _config(local_stack, metabase)["env"]
        all_second = containers(*docker)

        back = z.json("rollback", env)
        assert back["ok"] and [h["status"] for h in back["hosts"]] == ["changed"], json.dumps(back, indent=2)
        assert current.resolve().name == first, "current is the first release again"
        assert _config(local_stack, metabase) == config_first, "image, labels and env of the first release"
        assert _state(local_stack, metabase) == ("running", "healthy")
        now = containers(*docker)
        moved = sorted(n for n in now if now[n] != all_second.get(n))
        assert moved == [metabase], f"only the project that differs is brought up again: {moved}"
        assert now[metabase] != all_first[metabase], "recreated from the first release's files, not resumed"
        last = _log(local_stack)[-1]
        assert (last["command"], last["release"], last["previous"], last["result"]) == ("rollback", first, second,
                                                                                       "ok")
        assert last["projects"] == [f"zixly-{env}-metabase"] and last["new_files"] is False

        # the repo still asks for release-2: plan shows exactly that change (rollback never edits the repo)
        plan = z.json("plan", env)["hosts"][0]
        assert [p["project"] for p in plan["projects"]] == [f"zixly-{env}-metabase"], plan["projects"]

        # a rollback of the rollback returns to the release just left; one to the current release is refused
        again = z.json("rollback", env)
        assert again["ok"] and current.resolve().name == second, json.dumps(again, indent=2)
        assert f"{PROBE}=release-2" in _config(local_stack, metabase)["env"]
        refused = z.run("rollback", env, "--to", second, check=1)
        assert f"release {second} is already current" in refused.stdout + refused.stderr
        unknown = z.run("rollback", env, "--to", "20000101T000000Z-dead", check=1)
        assert "is not on the host" in unknown.stdout + unknown.stderr
        assert current.resolve().name == second, "a refused rollback changes nothing"
    finally:
        local_stack.set_overrides("")
        local_stack.zixly.run("deploy", env, "--yes", "--no-hooks", timeout=1800)
    assert _config(local_stack, metabase)["env"] == config_first["env"]
    assert local_stack.zixly.run("plan", env, "--detailed-exitcode", check=None).returncode == 0
