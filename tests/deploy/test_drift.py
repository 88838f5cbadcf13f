"""Unit tests of drift's PURE comparison: host facts + rendered files in, typed findings out.

No engine, no host: the facts are what the fact script would report for a host where the
release of :func:`tree` is deployed (its real manifest, written with a real keyed hash), and
each test changes one thing on that "host".
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from zixly_stack.cli.main import cli
from zixly_stack.plan import host_steps, parse_facts, plan_host
from zixly_stack.plan.compute import Target, host_files
from zixly_stack.plan.drift import KINDS, Finding, edited_files, find_drift
from zixly_stack.plan.facts import ContainerFact, HostFacts, LabelledContainer, facts_script
from zixly_stack.plan.model import Plan
from zixly_stack.plan.paths import EnvPaths
from zixly_stack.plan.prepare import PrepareFacts, PrepareSpec, sha256
from zixly_stack.plan.steps import KeepEdited
from zixly_stack.plan.text import plan_lines
from zixly_stack.render.tree import RenderedFile, manifest
from zixly_stack.secrets.fingerprint import Fingerprinter
from zixly_stack.secrets.value import Secret

CANARY = "CANARY-drift-s3cr3t-41f0"
ENV = "t"
TARGET = Target("h1", ENV, "/srv/zx", "offline")
FP = Fingerprinter(Secret("k" * 64))
IMG = "sha256:" + "a" * 64
NEW_IMG = "sha256:" + "b" * 64
STANDIN = "zixly-offline/standin:1.0"


def _compose(project: str, services: dict[str, object], volumes: dict[str, object] | None = None) -> str:
    doc: dict[str, object] = {"name": project, "services": services}
    if volumes:
        doc["volumes"] = volumes
    doc["networks"] = {"internal": {"name": project}}
    return yaml.safe_dump(doc, sort_keys=False)


def tree(secret: str = CANARY, timer: str = "[Timer]\nOnCalendar=daily\n") -> list[RenderedFile]:
    """A host's release: a database and an app (compose, a secret env file), Traefik files, backup units."""
    files = [
        RenderedFile("h1/db/compose.yaml", _compose("zixly-t-db", {"server": {"image": "zixly-offline/postgres:15"}},
                                                    {"data": {"name": "zixly-t-db_data"}})),
        RenderedFile("h1/app/compose.yaml", _compose("zixly-t-app", {"web": {"image": STANDIN},
                                                                      "worker": {"image": STANDIN}})),
        RenderedFile("h1/app/env/web.env", f"SECRET_KEY={secret}\n", 0o600, True),
        RenderedFile("h1/traefik/config/dynamic/routes.yml", "http: {}\n"),
        RenderedFile(f"h1/backup/zixly-backup-{ENV}.cron", "0 3 * * * root /x\n"),
        RenderedFile(f"h1/backup/zixly-backup-{ENV}.timer", timer),
        RenderedFile(f"h1/backup/zixly-backup-{ENV}.service", "[Service]\n"),
    ]
    meta = {"environment": ENV, "projects": ["zixly-t-db", "zixly-t-app"], "networks": ["zixly-t-proxy"]}
    return [*files, manifest(files, "h1", meta, FP)]


def _container(service: str, project: str = "zixly-t-app", ref: str = "zixly-offline/standin:1.0",
               image: str = IMG, config_hash: str = "") -> ContainerFact:
    labels = {"com.docker.compose.project": project, "com.docker.compose.service": service, "org.zixly.env": ENV,
              "com.docker.compose.config-hash": config_hash or f"hash-{service}"}
    return ContainerFact(id=f"id-{service}", name=f"{project}-{service}-1", project=project, service=service,
                         image_id=image, ref=ref, created="c", started_at="s", status="running", health="healthy",
                         exit_code=0, files_hash="", restart="unless-stopped", labels=labels)


def _labelled(c: ContainerFact, env: str = ENV, oneoff: bool = False) -> LabelledContainer:
    return LabelledContainer(c.id, c.name, c.project, env, c.service, oneoff, c.ref)


SPEC = PrepareSpec("h1", ENV, frozenset({"backup_schedule"}), cron_dir="/etc/cron.d")


def deployed(files: list[RenderedFile] | None = None, **over: object) -> HostFacts:
    """The facts of a host running :func:`tree`'s release exactly as deployed (no drift)."""
    mine = host_files(files or tree(), "h1")
    conts = (_container("server", "zixly-t-db", "zixly-offline/postgres:15"), _container("web"), _container("worker"))
    base: dict[str, object] = dict(
        release="r1", releases=("r1",), files={p: f.sha256 for p, f in mine.items()},
        modes={p: f"{f.mode:04o}" for p, f in mine.items()}, containers=conts,
        images={"zixly-offline/postgres:15": IMG, "zixly-offline/standin:1.0": IMG},
        networks=frozenset({"zixly-t-proxy", "zixly-t-db", "zixly-t-app"}),
        volumes={"zixly-t-db_data": "zixly-t-db", "other_data": "someone-else"},
        manifest=json.loads(mine["manifest.json"].text), labelled=tuple(_labelled(c) for c in conts),
        network_projects={"zixly-t-db": "zixly-t-db", "zixly-t-app": "zixly-t-app"},
        config_hashes={"db": {"server": "hash-server"}, "app": {"web": "hash-web", "worker": "hash-worker"}},
        drift_read=True,
        prepare=PrepareFacts({"uid": "0", f"sha:/etc/cron.d/zixly-backup-{ENV}": sha256("0 3 * * * root /x\n")}),
    )
    base.update(over)
    return HostFacts(**base)  # type: ignore[arg-type]


def drift(facts: HostFacts, files: list[RenderedFile] | None = None) -> tuple[Finding, ...]:
    return find_drift("h1", ENV, host_files(files or tree(), "h1"), facts, SPEC)


def _edit(facts: HostFacts, path: str, text: str) -> HostFacts:
    return dataclasses.replace(facts, files={**facts.files, path: sha256(text)})


def test_a_host_as_deployed_has_no_drift() -> None:
    assert drift(deployed()) == ()


def test_no_release_no_drift_and_a_lost_manifest_is_said() -> None:
    assert drift(HostFacts()) == ()
    (f,) = drift(deployed(manifest=None))
    assert (f.kind, f.subject, f.found) == ("missing-file", "manifest.json", "missing or not JSON")
    (f,) = drift(deployed(manifest={"version": 1, "projects": []}))
    assert (f.kind, f.subject, f.found) == ("missing-file", "manifest.json", "no file list (an older release)")


def test_a_hand_edited_compose_file_is_one_finding_not_also_its_containers() -> None:
    facts = _edit(deployed(), "app/compose.yaml", "edited\n")
    # the edit was applied by hand too: the containers' config hashes no longer match the file's
    facts = dataclasses.replace(facts, config_hashes={**facts.config_hashes, "app": {"web": "x", "worker": "y"}})
    (f,) = drift(facts)
    assert (f.kind, f.host, f.subject) == ("edited-file", "h1", "app/compose.yaml")
    assert f.expected.startswith("sha256 ") and "release r1" in f.expected
    assert f.found == "sha256 " + sha256("edited\n")[:12]
    assert "--force" in f.hint


def test_an_edited_secret_file_differs_without_showing_value_or_hash() -> None:
    text = f"SECRET_KEY={CANARY}-changed-by-hand\n"
    (f,) = drift(_edit(deployed(), "app/env/web.env", text))
    assert (f.kind, f.subject) == ("edited-file", "app/env/web.env")
    dumped = json.dumps(f.to_json())
    assert CANARY not in dumped and "differs" in f.found
    rendered = host_files(tree(), "h1")["app/env/web.env"]
    for digest in (sha256(text), rendered.sha256):
        assert digest[:12] not in dumped, "no plain hash of a secret file may be shown"


def test_a_secret_the_render_changed_cannot_be_judged_and_is_not_a_finding() -> None:
    facts = _edit(deployed(), "app/env/web.env", "whatever\n")
    assert drift(facts, tree(secret="rotated-in-git")) == ()


def test_a_stray_docker_run_with_our_project_label_is_one_finding() -> None:
    stray = LabelledContainer("id-x", "stray", "zixly-t-app", "", "", False, "zixly-offline/standin:1.0")
    facts = deployed()
    (f,) = drift(dataclasses.replace(facts, labelled=(*facts.labelled, stray)))
    assert (f.kind, f.subject) == ("stray-container", "stray")
    assert f"no org.zixly.env={ENV} label" in f.found


def test_other_environments_and_drill_projects_are_not_strays() -> None:
    facts = deployed()
    others = (LabelledContainer("1", "a", "zixly-prod-app", "prod", "web", False, "i"),
              LabelledContainer("2", "b", f"zixly-{ENV}-drill", ENV, "server", False, "i"),
              LabelledContainer("3", "c", f"zixly-{ENV}-drill-apps", ENV, "web", False, "i"))
    assert drift(dataclasses.replace(facts, labelled=(*facts.labelled, *others))) == ()


def test_a_one_off_compose_run_and_an_unknown_project_of_our_env_are_strays() -> None:
    facts = deployed()
    oneoff = LabelledContainer("1", "run-1", "zixly-t-app", ENV, "web", True, "i")
    gone = LabelledContainer("2", "old-1", "zixly-t-old", ENV, "web", False, "i")
    found = drift(dataclasses.replace(facts, labelled=(*facts.labelled, oneoff, gone)))
    assert [(f.kind, f.subject) for f in found] == [("stray-container", "run-1"), ("stray-container", "old-1")]


def test_a_retagged_image_is_one_finding_per_tag() -> None:
    facts = deployed(images={"zixly-offline/postgres:15": IMG, "zixly-offline/standin:1.0": NEW_IMG})
    (f,) = drift(facts)
    assert (f.kind, f.subject) == ("image", "zixly-offline/standin:1.0")
    assert f.found == f"zixly-offline/standin:1.0 = {'b' * 12}"
    assert "a" * 12 in f.expected and "zixly-t-app-web-1" in f.expected and "zixly-t-app-worker-1" in f.expected


def test_a_tag_gone_from_the_host_is_said() -> None:
    (f,) = drift(deployed(images={"zixly-offline/postgres:15": IMG}))
    assert f.kind == "image" and f.found == "no image tagged zixly-offline/standin:1.0"


def test_a_container_made_from_another_definition_is_one_finding() -> None:
    facts = deployed()
    web = dataclasses.replace(facts.containers[1], labels={**facts.containers[1].labels,
                                                            "com.docker.compose.config-hash": "f" * 64})
    (f,) = drift(dataclasses.replace(facts, containers=(facts.containers[0], web, facts.containers[2])))
    assert (f.kind, f.subject) == ("container-config", "zixly-t-app-web-1")
    assert f.found == "config hash " + "f" * 12


def test_containers_are_judged_only_when_read_for_drift() -> None:
    facts = deployed(images={}, drift_read=False, labelled=())
    assert drift(facts) == ()


def test_files_nobody_rendered() -> None:
    facts = deployed()
    files = {**facts.files, "traefik/config/dynamic/extra.yml": "1" * 64,
             "traefik/config/dynamic/demo-acme.yml": "2" * 64, "app/notes.txt": "3" * 64}
    found = drift(dataclasses.replace(facts, files=files))
    assert [(f.kind, f.subject) for f in found] == [("unknown-file", "app/notes.txt"),
                                                    ("traefik-file", "traefik/config/dynamic/extra.yml")]


def test_a_deleted_file_is_missing() -> None:
    facts = deployed()
    files = {k: v for k, v in facts.files.items() if k != "db/compose.yaml"}
    (f,) = drift(dataclasses.replace(facts, files=files))
    assert (f.kind, f.subject, f.found) == ("missing-file", "db/compose.yaml", "missing")


def test_stray_volumes_and_networks_of_our_projects() -> None:
    facts = deployed(volumes={"zixly-t-db_data": "zixly-t-db", "junk": "zixly-t-db", "x": "other"},
                     network_projects={"zixly-t-db": "zixly-t-db", "zixly-t-app_extra": "zixly-t-app"})
    found = drift(facts)
    assert [(f.kind, f.subject) for f in found] == [("stray-volume", "junk"), ("stray-network", "zixly-t-app_extra")]


def test_a_schedule_missing_or_changed() -> None:
    gone = deployed(prepare=PrepareFacts({"uid": "0"}))
    (f,) = drift(gone)
    assert (f.kind, f.subject, f.found) == ("schedule", f"/etc/cron.d/zixly-backup-{ENV}", "missing")
    edited = deployed(prepare=PrepareFacts({"uid": "0", f"sha:/etc/cron.d/zixly-backup-{ENV}": "c" * 64}))
    (f,) = drift(edited)
    assert f.found == "sha256 " + "c" * 12
    systemd = deployed(prepare=PrepareFacts({"uid": "0", "systemd": "yes"}))
    assert {f.subject for f in drift(systemd)} == {f"/etc/systemd/system/zixly-backup-{ENV}.service",
                                                   f"/etc/systemd/system/zixly-backup-{ENV}.timer"}


def test_every_kind_is_documented_in_the_model() -> None:
    assert set(KINDS) == {"edited-file", "missing-file", "unknown-file", "traefik-file", "container-config", "image",
                          "stray-container", "stray-volume", "stray-network", "schedule"}


# -- the fact script's drift sections ------------------------------------------------------------
def test_the_fact_script_reads_drift_only_when_asked() -> None:
    paths = EnvPaths("/srv/zx", ENV)
    plain = facts_script(paths, ENV)
    with_drift = facts_script(paths, ENV, drift_dirs=["app", "db"])
    assert "@@manifest" in plain and "@@labelled" not in plain and "config --hash" not in plain
    assert "echo @@labelled" in with_drift and "/srv/zx/t/current/app/compose.yaml config --hash" in with_drift


def test_parse_drift_sections() -> None:
    doc = {"files": [{"path": "a", "sha256": "1" * 64}], "projects": ["p"]}
    out = "\n".join([
        "@@release", "/srv/zx/t/releases/r1", "@@manifest", *json.dumps(doc, indent=2).splitlines(), "",
        "@@labelled", "id1\tname1\tzixly-t-app\tt\tweb\tFalse\timg", "id2\tstray\tzixly-t-app\t\t\tTrue\timg",
        "@@netprojects", "zixly-t-app zixly-t-app", "@@confighash", "app web abc", "app worker def", "@@end",
    ])
    facts = parse_facts(out)
    assert facts.manifest == doc and facts.drift_read and facts.complete
    assert [(c.name, c.env, c.oneoff) for c in facts.labelled] == [("name1", "t", False), ("stray", "", True)]
    assert facts.network_projects == {"zixly-t-app": "zixly-t-app"}
    assert facts.config_hashes == {"app": {"web": "abc", "worker": "def"}}
    assert not parse_facts("@@release\n@@end").drift_read


# -- the plan and the deploy --------------------------------------------------------------------
def test_the_plan_lists_drift_apart_from_its_changes_and_names_what_it_would_overwrite() -> None:
    facts = _edit(deployed(), "app/compose.yaml", "edited\n")
    plan = plan_host(TARGET, tree(), facts, {}, release_id="r2")
    assert plan.edited == ("app/compose.yaml",)
    assert [f.kind for f in plan.drift] == ["edited-file"]
    doc = plan.to_json()
    assert doc["drift"][0]["subject"] == "app/compose.yaml" and doc["overwrites_edited"] == ["app/compose.yaml"]
    text = "\n".join(plan_lines(Plan(ENV, (plan,))))
    assert "drift (1): the host differs from release r1" in text and "refuses without --force" in text
    assert edited_files(host_files(tree(), "h1"), facts) == {"app/compose.yaml": "edited"}


def test_an_unchanged_plan_has_no_drift_and_nothing_to_overwrite() -> None:
    plan = plan_host(TARGET, tree(), deployed(), {}, release_id="r2")
    assert not plan.changed and plan.drift == () and plan.edited == ()


def test_forced_steps_keep_the_edited_copy_beside_the_release_first() -> None:
    facts = _edit(deployed(), "app/env/web.env", "SECRET_KEY=by-hand\n")
    plan = plan_host(TARGET, tree(), facts, {}, release_id="r2")
    assert plan.edited == ("app/env/web.env",)
    steps = host_steps(plan, host_files(tree(), "h1"), "r2").steps
    keep = steps[0]
    assert isinstance(keep, KeepEdited)
    assert keep.kept("app/env/web.env") == "/srv/zx/t/edited/r2/app/env/web.env"
    assert keep.argvs() == [
        ["mkdir", "-p", "-m", "0700", "--", "/srv/zx/t/edited/r2", "/srv/zx/t/edited/r2/app/env"],
        ["cp", "-p", "--", "/srv/zx/t/current/app/env/web.env", "/srv/zx/t/edited/r2/app/env/web.env"],
    ]


def test_the_deploy_refuses_an_edited_file_without_force() -> None:
    from zixly_stack.deploy.runner import refuse_edited

    plan = plan_host(TARGET, tree(), _edit(deployed(), "app/compose.yaml", "x\n"), {}, release_id="r2")
    why = refuse_edited(ENV, plan)
    assert "app/compose.yaml" in why and "--force" in why and f"zixly drift {ENV}" in why


# -- the command line's bad input ---------------------------------------------------------------
MINIREPO = Path(__file__).resolve().parents[1] / "fixtures" / "minirepo"


def test_an_unknown_environment_is_a_clear_error_exit_1_nothing_run() -> None:
    res = CliRunner().invoke(cli, ["--root", str(MINIREPO), "drift", "nosuch"])
    assert res.exit_code == 1, res.output
    assert "inventories/nosuch/environment.yaml: unknown environment 'nosuch' (known: base)" in res.output
    assert "Traceback" not in res.output


def test_a_malformed_environment_name_is_refused_by_the_command_line() -> None:
    res = CliRunner().invoke(cli, ["--root", str(MINIREPO), "drift", "../base", "--json"])
    assert res.exit_code == 2 and "invalid environment name '../base'" in res.output
    assert "Traceback" not in res.output


# -- reading hosts (a recorded answer instead of a host) ----------------------------------------
class Answer:
    """A runner that answers every command with one recorded output (and records what it was asked)."""

    host = "h1"
    executes = True

    def __init__(self, out: str) -> None:
        self.out = out
        self.asked: list[tuple[list[str], bool]] = []

    def run(self, argv: list[str], *, stdin: bytes | None = None, timeout: float = 600.0, read: bool = False) -> object:
        from zixly_stack.runner import Result

        self.asked.append((list(argv), read))
        return Result(tuple(argv), 0, self.out.encode(), b"")


def _et() -> object:
    from zixly_stack.deploy.runner import EnvTarget

    return EnvTarget(ENV, {}, {"h1": TARGET}, {}, tuple(tree()))


def test_a_host_read_once_read_only_and_one_cut_short_is_an_error_not_no_drift() -> None:
    from zixly_stack.deploy.drift import drift_env

    doc = json.loads(host_files(tree(), "h1")["manifest.json"].text)
    ok = Answer("\n".join(["@@release", "/srv/zx/t/releases/r1", "@@files", "@@manifest", json.dumps(doc),
                           "@@labelled", "@@end"]))
    report = drift_env(_et(), {"h1": ok})  # type: ignore[arg-type,dict-item]
    assert len(ok.asked) == 1 and ok.asked[0][1] is True and ok.asked[0][0][:2] == ["sh", "-c"]
    assert {f.kind for f in report.findings} == {"missing-file"} and not report.errors  # every file gone
    assert report.to_json()["drift"] is True and report.to_json()["hosts"][0]["release"] == "r1"
    cut = drift_env(_et(), {"h1": Answer("@@release\n/srv/zx/t/releases/r1\n")})  # type: ignore[arg-type,dict-item]
    assert cut.findings == [] and "could not read the host's state" in cut.errors["h1"]
    gone = drift_env(_et(), {}, {"h1": "timed out"})  # type: ignore[arg-type]
    assert gone.errors == {"h1": "unreachable: timed out"}
