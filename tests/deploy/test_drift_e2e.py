"""``zixly drift`` end to end: the session's shared local stack, and a shared test host.

Real parts: this machine's engine and Compose 5 with the stack ``zixly up`` deployed
(``local_stack``): a real release directory and manifest, Compose's own config hashes, the
real health report in its four formats, a real ``zixly plan`` and ``zixly deploy``. The
stand-in app edited here (Portainer) is the kit's labelled stand-in; what is tested is ours
(the files of its release, its container), not Portainer.

The retagged image is shown on a test host of ``duo`` (its own engine, reached over SSH):
the offline kit's tags on this machine's engine are shared by every developer and CI run
on it, and moving one would change their stacks.

Every test puts back what it changed: the stray container is removed, the edited file is
replaced by the forced deploy (or restored), the tag points at its image again, and each
ends with no drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import Zixly
from tests.harness.duo import Duo
from tests.harness.stack import LocalStack
from zixly_stack.health.formats import FORMATS

pytestmark = [pytest.mark.engine, pytest.mark.e2e]
APP = "portainer"  # a stand-in with one container that nothing else needs
ONLY_DRIFT = [a for k in ("http", "tls", "container", "host", "backup", "image", "dns", "notify")
              for a in ("--skip", k)]


def drift(zixly: Zixly, env: str) -> tuple[int, dict[str, Any]]:
    """``zixly drift ENV --json``: (exit code, document)."""
    res = zixly.run("drift", env, "--json", check=None)
    assert res.stdout.strip(), f"no JSON (exit {res.returncode}):\n{res.stderr}"
    return res.returncode, json.loads(res.stdout)


def findings(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["host"], f["kind"], f["subject"]) for h in doc["hosts"] for f in h["findings"]]


def no_drift(zixly: Zixly, env: str) -> None:
    code, doc = drift(zixly, env)
    assert (code, findings(doc)) == (0, []), json.dumps(doc, indent=2)


def test_a_stray_container_with_our_project_label_is_one_finding(local_stack: LocalStack) -> None:
    z, env, engine = local_stack.zixly, local_stack.env, local_stack.engine
    no_drift(z, env)
    name = f"zixly-{env}-stray-by-hand"
    engine.docker("run", "--detach", "--name", name, "--label", f"com.docker.compose.project=zixly-{env}-{APP}",
                  "zixly-offline/standin:1.0", check=True)
    try:
        code, doc = drift(z, env)
        assert code == 2 and findings(doc) == [("local", "stray-container", name)], json.dumps(doc, indent=2)
        (f,) = doc["hosts"][0]["findings"]
        assert f"no org.zixly.env={env} label" in f["found"] and f["hint"] and f["expected"]
    finally:
        engine.docker("rm", "--force", name)
    no_drift(z, env)


def test_a_hand_edited_compose_file_drift_report_plan_and_forced_deploy(local_stack: LocalStack,
                                                                         tmp_path: Path) -> None:
    z, env = local_stack.zixly, local_stack.env
    root = local_stack.base_dir / env
    current = root / "current"
    compose = current / APP / "compose.yaml"
    original = compose.read_bytes()
    edited = original + b"# edited by hand on the host\n"
    subject = f"{APP}/compose.yaml"
    release = current.resolve().name
    compose.write_bytes(edited)
    try:
        code, doc = drift(z, env)
        assert code == 2 and findings(doc) == [("local", "edited-file", subject)], json.dumps(doc, indent=2)
        text = z.run("drift", env, check=2).stdout
        assert f"edited-file {subject}" in text and "1 finding(s)" in text

        for fmt in FORMATS:  # the health report: a drift section in every format
            res = z.run("health", env, "--format", fmt, "--no-history", "--offline", "--state-dir",
                        str(tmp_path / "health"), *ONLY_DRIFT, check=None)
            assert subject in res.stdout and "edited-file" in res.stdout, (fmt, res.stdout[-2000:], res.stderr)
            if fmt == "json":
                section = json.loads(res.stdout)["drift"]
                assert section["checked"] and [f["subject"] for f in section["findings"]] == [subject]

        plan = z.json("plan", env)
        (host,) = plan["hosts"]
        assert [f["subject"] for f in host["drift"]] == [subject] and host["overwrites_edited"] == [subject]

        refused = z.run("deploy", env, "--yes", check=None)
        assert refused.returncode == 1, refused.stderr
        assert "refusing to overwrite file(s) edited by hand" in refused.stderr and subject in refused.stderr
        assert compose.read_bytes() == edited and current.resolve().name == release, "a refused deploy changes nothing"

        forced = z.run("deploy", env, "--yes", "--force", check=None)
        assert forced.returncode == 0, forced.stdout + forced.stderr
        new = current.resolve().name
        kept = root / "edited" / new / APP / "compose.yaml"
        assert new != release and str(kept) in forced.stderr, forced.stderr
        assert kept.read_bytes() == edited and compose.read_bytes() == original
    finally:
        if compose.read_bytes() != original:
            compose.write_bytes(original)
    no_drift(z, env)


def test_a_retagged_image_on_a_test_host_is_one_finding(duo: Duo) -> None:
    z, h1 = duo.zixly, duo.hosts[0]
    no_drift(z, duo.env)
    ref = "zixly-offline/standin:1.0"  # h1's Portainer runs it
    was = h1.docker("image", "inspect", "--format", "{{.Id}}", ref, check=True).stdout.strip()
    tags = h1.docker("image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True).stdout
    pairs = [line.partition(" ") for line in tags.splitlines()]
    other = next(i for t, _, i in pairs if i != was and ":<none>" not in t)
    h1.docker("tag", other, ref, check=True)  # the tag now names another image: a pull or a retag by hand
    try:
        code, doc = drift(z, duo.env)
        assert code == 2 and findings(doc) == [("h1", "image", ref)], json.dumps(doc, indent=2)
        (f,) = doc["hosts"][0]["findings"]
        assert f["found"] == f"{ref} = {other.removeprefix('sha256:')[:12]}"
        assert was.removeprefix("sha256:")[:12] in f["expected"] and "portainer" in f["expected"]
    finally:
        h1.docker("tag", was, ref, check=True)
    no_drift(z, duo.env)
