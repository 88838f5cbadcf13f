"""Plain unit tests of the PURE planner: rendered files + host facts -> plan -> steps.

No engine, no host: facts are built by hand (or parsed from recorded fact-script output).
"""

from __future__ import annotations

import dataclasses
import json

import yaml

from zixly_stack.plan import HostFacts, compose_shape, host_steps, parse_facts, plan_host, print_steps, texts_needed
from zixly_stack.plan.compute import ProjectSpec, Target, host_files
from zixly_stack.plan.facts import ContainerFact, facts_script
from zixly_stack.plan.model import Plan
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.plan.prepare import PrepareChange
from zixly_stack.plan.rollback import previous_release, rollback_projects
from zixly_stack.plan.steps import PrepareHost
from zixly_stack.plan.text import plan_lines
from zixly_stack.render.tree import RenderedFile

CANARY = "CANARY-s3cr3t-value-9f8e7d"
TARGET = Target("h1", "t", "/srv/zx", "offline", local=False)


def compose(project: str, services: dict[str, dict[str, object]]) -> str:
    return yaml.safe_dump({"name": project, "services": services}, sort_keys=False)


def tree(env_value: str = CANARY, mem: str = "256m", app_hash: str = "aaaa") -> list[RenderedFile]:
    db = compose(
        "zixly-t-db",
        {
            "server": {
                "image": "zixly-offline/postgres:15",
                "restart": "unless-stopped",
                "labels": {"org.zixly.files-hash": "d1"},
            },
            "provision": {
                "image": "zixly-offline/postgres:15",
                "restart": "no",
                "depends_on": {"server": {"condition": "service_healthy"}},
                "labels": {"org.zixly.files-hash": "d2"},
            },
        },
    )
    app = compose(
        "zixly-t-app",
        {
            "web": {
                "image": "zixly-offline/standin:1.0",
                "restart": "unless-stopped",
                "mem_limit": mem,
                "labels": {"org.zixly.files-hash": app_hash},
                "depends_on": {"migrate": {"condition": "service_completed_successfully"}},
            },
            "migrate": {
                "image": "zixly-offline/standin:1.0",
                "restart": "no",
                "labels": {"org.zixly.files-hash": "m1"},
            },
        },
    )
    files = [
        RenderedFile("h1/db/compose.yaml", db),
        RenderedFile("h1/db/secrets/admin", "pw-" + CANARY, 0o444, True),
        RenderedFile("h1/app/compose.yaml", app),
        RenderedFile("h1/app/env/web.env", f"SECRET_KEY={env_value}\n", 0o600, True),
    ]
    manifest = {"version": 1, "projects": ["zixly-t-db", "zixly-t-app"], "networks": ["zixly-t-proxy"]}
    files.append(RenderedFile("h1/manifest.json", json.dumps(manifest)))
    return files


SPECS = {"db": ProjectSpec("db", stage=0, wait_timeout=120), "app": ProjectSpec("app", stage=3, hooks=("app-setup",))}


def container(
    project: str,
    service: str,
    files_hash: str,
    *,
    status: str = "running",
    health: str = "healthy",
    exit_code: int = 0,
    restart: str = "unless-stopped",
    image_id: str = "sha256:img",
) -> ContainerFact:
    return ContainerFact(
        id=f"id-{service}",
        name=f"{project}-{service}-1",
        project=project,
        service=service,
        image_id=image_id,
        ref="r",
        created="c",
        started_at="s",
        status=status,
        health=health,
        exit_code=exit_code,
        files_hash=files_hash,
        restart=restart,
    )


def deployed(files: list[RenderedFile], **over: object) -> HostFacts:
    """Facts of a host where *files* are current and every container is fine."""
    mine = host_files(files, "h1")
    containers = [
        container("zixly-t-db", "server", "d1"),
        container("zixly-t-db", "provision", "d2", status="exited", health="", restart="no"),
        container("zixly-t-app", "web", "aaaa"),
        container("zixly-t-app", "migrate", "m1", status="exited", health="", restart="no"),
    ]
    base: dict[str, object] = dict(
        release="r1",
        releases=("r1",),
        files={p: f.sha256 for p, f in mine.items()},
        modes={p: f"{f.mode:04o}" for p, f in mine.items()},
        containers=tuple(containers),
        images={"zixly-offline/postgres:15": "sha256:img", "zixly-offline/standin:1.0": "sha256:img"},
        networks=frozenset({"zixly-t-proxy", "bridge"}),
    )
    base.update(over)
    return HostFacts(**base)  # type: ignore[arg-type]


def test_fresh_host_creates_everything() -> None:
    plan = plan_host(TARGET, tree(), HostFacts(), SPECS, release_id="R2")
    assert plan.changed and plan.release_to == "R2" and plan.release_from is None
    assert {f.kind for f in plan.files} == {"added"}
    assert [p.project for p in plan.projects] == ["zixly-t-db", "zixly-t-app"]
    assert {s.action for p in plan.projects for s in p.services} == {"create"}
    assert plan.networks == ("zixly-t-proxy",)
    assert {i.ref: i.action for i in plan.images} == {
        "zixly-offline/postgres:15": "load",
        "zixly-offline/standin:1.0": "load",
    }
    assert plan.hooks == ("app-setup",)


def test_no_change_means_no_steps() -> None:
    files = tree()
    plan = plan_host(TARGET, files, deployed(files), SPECS)
    assert not plan.changed, plan.to_json()
    assert plan.release_to is None
    assert host_steps(plan, host_files(files, "h1"), "R2").steps == ()
    assert plan.unchanged_projects == ("zixly-t-db", "zixly-t-app")


def test_secret_env_change_is_masked_and_recreates_only_that_service() -> None:
    old, new = tree(), tree(env_value="CANARY-rotated-value-1234", app_hash="bbbb")
    facts = deployed(old)
    mine = host_files(new, "h1")
    needed = texts_needed(mine, facts)
    assert "app/env/web.env" not in needed and "app/compose.yaml" in needed
    old_texts = {p: host_files(old, "h1")[p].text for p in needed}
    plan = plan_host(TARGET, new, facts, SPECS, old_texts=old_texts, release_id="R2")
    changed = {f.path: f for f in plan.files}
    assert set(changed) == {"app/compose.yaml", "app/env/web.env"}
    env = changed["app/env/web.env"]
    assert env.secret and env.diff is None
    assert env.summary() == f"changed app/env/web.env (secret, {len(new[3].text)} bytes)"
    assert [p.project for p in plan.projects] == ["zixly-t-app"]
    assert [(s.service, s.action) for s in plan.projects[0].services] == [("web", "recreate")]
    text = "\n".join(plan_lines(Plan("t", (plan,))))
    steps = "\n".join(print_steps(host_steps(plan, mine, "R2")))
    payload = json.dumps(plan.to_json())
    for out in (text, steps, payload):
        assert "CANARY" not in out


def test_compose_change_has_a_diff() -> None:
    old, new = tree(), tree(mem="512m")
    facts = deployed(old)
    old_texts = {p: host_files(old, "h1")[p].text for p in texts_needed(host_files(new, "h1"), facts)}
    plan = plan_host(TARGET, new, facts, SPECS, old_texts=old_texts)
    diff = next(f.diff for f in plan.files if f.path == "app/compose.yaml")
    assert diff is not None and "-    mem_limit: 256m" in diff and "+    mem_limit: 512m" in diff
    assert [(s.service, s.action, s.reason) for s in plan.projects[0].services] == [
        ("web", "recreate", "definition changed")
    ]


def test_stopped_container_and_failed_job_are_converged() -> None:
    files = tree()
    facts = deployed(files)
    cs = list(facts.containers)
    cs[2] = container("zixly-t-app", "web", "aaaa", status="exited", health="", exit_code=137)
    cs[1] = container("zixly-t-db", "provision", "d2", status="exited", health="", exit_code=1, restart="no")
    plan = plan_host(TARGET, files, deployed(files, containers=tuple(cs)), SPECS)
    actions = {(p.project, s.service): s.action for p in plan.projects for s in p.services}
    assert actions == {("zixly-t-db", "provision"): "rerun", ("zixly-t-app", "web"): "start"}
    assert plan.release_to is None  # same files: no new release, no switch
    kinds = [type(s).__name__ for s in host_steps(plan, host_files(files, "h1")).steps]
    assert kinds == ["Converge", "RecordRelease", "RunHooks"]


def test_removed_project_goes_down_and_orphans_are_removed() -> None:
    files = tree()
    extra = container("zixly-t-old", "thing", "x")
    orphan = container("zixly-t-app", "gone", "x")
    facts = deployed(files, containers=(*deployed(files).containers, extra, orphan))
    plan = plan_host(TARGET, files, facts, SPECS)
    assert plan.projects[0].project == "zixly-t-old" and plan.projects[0].action == "down"
    app = next(p for p in plan.projects if p.project == "zixly-t-app")
    assert [(s.service, s.action) for s in app.services] == [("gone", "remove")]


def test_outdated_image_on_remote_host_is_loaded_and_recreated() -> None:
    files = tree()
    plan = plan_host(
        TARGET,
        files,
        deployed(files),
        SPECS,
        local_images={"zixly-offline/standin:1.0": "sha256:new", "zixly-offline/postgres:15": "sha256:img"},
    )
    assert [(i.ref, i.action) for i in plan.images] == [("zixly-offline/standin:1.0", "load")]
    app = next(p for p in plan.projects if p.project == "zixly-t-app")
    assert {s.service: s.reason for s in app.services} == {"web": "image changed", "migrate": "image changed"}


def test_local_host_missing_image_must_be_built() -> None:
    local = Target("h1", "t", "/srv/zx", "offline", local=True)
    files = tree()
    facts = deployed(files, images={"zixly-offline/postgres:15": "sha256:img"})
    plan = plan_host(local, files, facts, SPECS)
    assert [(i.ref, i.action) for i in plan.images] == [("zixly-offline/standin:1.0", "build")]


def test_mode_drift_is_a_change() -> None:
    files = tree()
    facts = deployed(files)
    modes = dict(facts.modes)
    modes["app/env/web.env"] = "0644"
    plan = plan_host(TARGET, files, deployed(files, modes=modes), SPECS, release_id="R2")
    assert [(f.path, f.kind, f.old_mode, f.mode) for f in plan.files] == [("app/env/web.env", "mode", "0644", "0600")]
    prep = host_steps(plan, host_files(files, "h1"), "R2").steps[0]
    assert ["chmod", "0600", "--", "/srv/zx/t/releases/R2/app/env/web.env"] in prep.argvs()


def test_compose_shape_separates_standalone_jobs() -> None:
    shape = compose_shape(yaml.safe_load(host_files(tree(), "h1")["db/compose.yaml"].text))
    assert shape.waited == ("server",) and shape.jobs == ("provision",)
    shape = compose_shape(yaml.safe_load(host_files(tree(), "h1")["app/compose.yaml"].text))
    assert shape.waited == ("web", "migrate") and shape.jobs == ()


def test_steps_order_and_commands() -> None:
    files = tree()
    plan = plan_host(TARGET, files, HostFacts(), SPECS, release_id="R2")
    steps = host_steps(plan, host_files(files, "h1"), "R2").steps
    kinds = [type(s).__name__ for s in steps]
    assert kinds[0] == "PrepareRelease" and kinds[-3:] == ["Converge", "RecordRelease", "RunHooks"]
    assert kinds.index("ProvideImages") < kinds.index("SwitchCurrent") < kinds.index("Converge")
    converge = steps[kinds.index("Converge")]
    argvs = converge.argvs()
    assert argvs[0][-5:] == ["--wait-timeout", "120", "--remove-orphans", "--quiet-pull", "server"]
    assert argvs[0][:7] == ["docker", "compose", "--ansi", "never", "--progress", "plain", "-f"]
    assert argvs[0][7] == "/srv/zx/t/current/db/compose.yaml"
    assert "--exit-code-from" in argvs[1] and argvs[1][-1] == "provision"
    switch = steps[kinds.index("SwitchCurrent")].argvs()
    assert switch == [
        ["ln", "-sfn", "releases/R2", "/srv/zx/t/.current.tmp"],
        ["mv", "-Tf", "/srv/zx/t/.current.tmp", "/srv/zx/t/current"],
    ]


def test_fact_script_output_parses() -> None:
    script = facts_script(EnvPaths("/srv/zx", "t"), "t")
    assert "label=org.zixly.env=t" in script and "cd /srv/zx/t/current/ &&" in script
    inspect = {
        "id": "abc",
        "name": "/zixly-t-app-web-1",
        "image": "sha256:img",
        "ref": "zixly-offline/standin:1.0",
        "created": "2026",
        "restart": "unless-stopped",
        "labels": {
            "com.docker.compose.project": "zixly-t-app",
            "com.docker.compose.service": "web",
            "org.zixly.files-hash": "aaaa",
        },
        "state": {
            "Status": "running",
            "StartedAt": "2026-11-26",
            "ExitCode": 0,
            "Health": {"Status": "unhealthy", "Log": [{"ExitCode": 1, "Output": "boom\n"}]},
        },
    }
    out = "\n".join(
        [
            "@@release",
            "releases/R1",
            "@@releases",
            "R0",
            "R1",
            "@@files",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  ./app/compose.yaml",
            "@@modes",
            "600 app/env/web.env",
            "@@docker",
            "yes",
            "@@containers",
            json.dumps(inspect),
            "@@images",
            "zixly-offline/standin:1.0 sha256:img",
            "<none>:<none> sha256:x",
            "@@networks",
            "bridge",
            "zixly-t-proxy",
            "@@lock",
            json.dumps({"owner": "bob", "machine": "m", "pid": 7, "since": "then"}),
            "",
            "@@end",
        ]
    )
    facts = parse_facts(out)
    assert facts.complete and facts.release == "R1" and facts.releases == ("R0", "R1")
    assert facts.files == {"app/compose.yaml": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
    assert facts.modes == {"app/env/web.env": "0600"}
    c = facts.containers[0]
    assert (c.name, c.project, c.service, c.health, c.ok, c.problem()) == (
        "zixly-t-app-web-1",
        "zixly-t-app",
        "web",
        "unhealthy",
        False,
        "unhealthy",
    )
    assert c.health_log == ("exit 1: boom",)
    assert facts.images == {"zixly-offline/standin:1.0": "sha256:img"}
    assert facts.lock is not None and facts.lock.describe().startswith("bob@m (pid 7")
    assert not parse_facts("@@release\n").complete


def test_previous_release_prefers_last_good_one() -> None:
    log = [
        json.dumps({"release": "R1", "result": "ok"}),
        json.dumps({"release": "R2", "result": "ok"}),
        json.dumps({"release": "R3", "result": "rolled back"}),
    ]
    assert previous_release("R2", ("R1", "R2", "R3"), log) == "R1"
    assert previous_release("R3", ("R1", "R2", "R3"), log) == "R2"
    assert previous_release("R1", ("R1",), []) is None
    assert previous_release("R2", ("R1", "R2"), []) == "R1"


def test_rollback_projects_only_what_differs() -> None:
    old, new = tree(), tree(mem="512m")
    old_files, new_files = host_files(old, "h1"), host_files(new, "h1")
    facts = deployed(new)
    texts = {p: f.text for p, f in old_files.items() if not f.secret}
    projects = rollback_projects(
        {p: f.sha256 for p, f in new_files.items()},
        {p: f.sha256 for p, f in old_files.items()},
        texts,
        facts,
        SPECS,
        "t",
    )
    assert [(p.project, p.action) for p in projects] == [("zixly-t-app", "up")]
    assert projects[0].shape.waited == ("web", "migrate")


def test_a_project_left_half_deployed_is_brought_up_again() -> None:
    """A deploy cut after switching ``current`` but before a project came up: the rerun sees it."""
    from zixly_stack.plan.compute import project_digest

    files = tree()
    hashes = {p: f.sha256 for p, f in host_files(files, "h1").items()}
    applied = {"zixly-t-db": project_digest(hashes, "db"), "zixly-t-app": "digest-of-the-previous-files"}
    plan = plan_host(TARGET, files, deployed(files, applied=applied), SPECS)
    assert [p.project for p in plan.projects] == ["zixly-t-app"]
    assert "did not finish" in plan.projects[0].reasons[0]
    assert plan.projects[0].digest == project_digest(hashes, "app")
    assert not plan_host(TARGET, files, deployed(files), SPECS).changed, "no record: nothing to say"
    parsed = parse_facts("@@applied\nzixly-t-app:abc\n@@end")
    assert parsed.applied == {"zixly-t-app": "abc"}


def test_schedules_are_installed_after_the_release_is_recorded() -> None:
    """A deploy that fails in Converge stops there (pyinfra runs no later step of the host), so
    the backup timer and the health agent of a release that never became current are not
    written: after the rollback the previous release's schedules stay and a plan shows nothing."""
    files = tree()
    modes = dict(deployed(files).modes)
    modes["app/env/web.env"] = "0644"
    plan = plan_host(TARGET, files, deployed(files, modes=modes), SPECS, release_id="R2")
    prepare = (PrepareChange("firewall", "open 80/443", argvs=(("nft", "-f", "/etc/nftables.conf"),)),
               PrepareChange("health_schedule", "install the health agent", files=(("/x/checks.json", "{}", "0644"),)),
               PrepareChange("backup_schedule", "install the nightly backup", files=(("/x/b.timer", "", "0644"),)))
    steps = host_steps(dataclasses.replace(plan, prepare=prepare), host_files(files, "h1"), "R2").steps
    kinds = [type(s).__name__ for s in steps]
    assert kinds.index("RecordRelease") < len(kinds) - 1 and isinstance(steps[kinds.index("RecordRelease") + 1],
                                                                        PrepareHost), kinds
    first, late = steps[0], steps[kinds.index("RecordRelease") + 1]
    assert isinstance(first, PrepareHost) and [c.step for c in first.changes] == ["firewall"]
    assert isinstance(late, PrepareHost) and [c.step for c in late.changes] == ["health_schedule", "backup_schedule"]
    assert kinds.index("SwitchCurrent") < kinds.index("RecordRelease")
