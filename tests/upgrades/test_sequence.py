"""The upgrade deploy's step list as a PURE planned sequence: checkpoint -> verify -> free space ->
each hop with its migrations and health gate; on failure the checkpoint restored and the previous
images started. Marked executed for a move ``zixly deploy`` carries out, else with its refusal."""

from __future__ import annotations

from tests.helpers import REPO
from zixly_stack.catalog.upgrades import Move, plan_move
from zixly_stack.config.loader import load_catalog
from zixly_stack.plan.upgrade_steps import sequence_lines, upgrade_sequence, upgrade_step_lines

CATALOG = load_catalog(REPO)


def move_of(name: str, src: str, dst: str, **rules: object) -> Move:
    r = CATALOG.services[name].upgrade
    assert r is not None
    m = plan_move(name, r.model_copy(update=rules) if rules else r, src, dst)
    assert m is not None
    return m


def test_two_nextcloud_hops_are_checkpointed_once_and_gated_each() -> None:
    move = move_of("nextcloud", "33.0.9-apache", "35.0.1-apache", path=["34.0.5-apache"])
    seq = upgrade_sequence(move, CATALOG.services["nextcloud"])
    assert seq.executed is True and seq.refused == ""  # several hops: one deploy, each hop in turn
    assert [(s.hop, s.kind) for s in seq.steps] == [
        (0, "checkpoint"), (0, "verify"), (0, "free-space"),
        (1, "images"), (1, "stop"), (1, "start"), (1, "health-gate"),
        (2, "images"), (2, "stop"), (2, "start"), (2, "health-gate"),
    ]
    assert seq.checkpoint == "upgrade:nextcloud:33.0.9-apache->35.0.1-apache"
    assert "databases postgres; volumes html, data" in seq.steps[0].summary
    assert [s.kind for s in seq.on_failure] == ["stop", "restore", "start", "exit"]
    assert "previous images (33.0.9-apache)" in seq.on_failure[2].summary


def test_jobs_migrate_before_start_and_hooks_after_the_gate() -> None:
    chatwoot = upgrade_sequence(move_of("chatwoot", "v4.17.0", "v4.18.0"), CATALOG.services["chatwoot"])
    kinds = [s.kind for s in chatwoot.steps if s.hop == 1]
    assert kinds == ["images", "stop", "migrate", "start", "health-gate"]
    mautic = upgrade_sequence(move_of("mautic", "7.2.0-apache", "7.2.1-apache"), CATALOG.services["mautic"])
    assert [s.kind for s in mautic.steps if s.hop == 1][-2:] == ["health-gate", "migrate"]


def test_a_data_store_major_dumps_into_a_new_volume() -> None:
    seq = upgrade_sequence(move_of("warehouse", "15.10-bookworm", "16.15-bookworm"), CATALOG.services["warehouse"])
    assert [s.kind for s in seq.steps if s.hop == 1] == ["images", "stop", "data", "start", "health-gate"]


def test_the_text_says_whether_the_deploy_executes_it() -> None:
    move = move_of("n8n", "2.40.0", "2.41.1")
    lines = upgrade_step_lines((move,), CATALOG.services)
    assert lines[0] == "upgrade n8n (executed by zixly deploy):"
    major = move_of("warehouse", "15.10-bookworm", "16.15-bookworm")
    assert upgrade_step_lines((major,), CATALOG.services)[0] == (
        "upgrade warehouse (planned, NOT executed: a data-store major needs a new volume named by the major: "
        "`zixly upgrade ENV warehouse --to 16.15-bookworm` records it (services.warehouse.data_major)):")
    assert lines == sequence_lines(upgrade_sequence(move, CATALOG.services["n8n"]))
    assert upgrade_step_lines((move,), {}) == []


def test_several_hops_with_a_data_store_major_among_them_are_refused() -> None:
    move = move_of("warehouse", "15.10-bookworm", "16.15-bookworm", path=["15.12-bookworm"])
    assert [h.data_format for h in move.hops] == [False, True]
    seq = upgrade_sequence(move, CATALOG.services["warehouse"])
    assert seq.executed is False
    assert seq.refused == ("2 hops with a data-store major among them: deploy them one at a time "
                           "(`zixly upgrade ENV warehouse --to 15.12-bookworm`)")
