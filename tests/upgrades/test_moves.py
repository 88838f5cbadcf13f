"""A version move planned from the catalog's real rules: hops, migrations, and for each hop
whether image rollback alone is safe. Pure: no host, no engine."""

from __future__ import annotations

import pytest

from tests.helpers import REPO
from zixly_stack.catalog.upgrades import MoveRefused, plan_move
from zixly_stack.config.loader import load_catalog
from zixly_stack.models.upgrade import UpgradeRules

CATALOG = load_catalog(REPO)


def rules(name: str, **changes: object) -> UpgradeRules:
    found = CATALOG.services[name].upgrade
    assert found is not None
    return found.model_copy(update=changes) if changes else found


def test_same_version_is_no_move() -> None:
    assert plan_move("nextcloud", rules("nextcloud"), "35.0.1-apache", "35.0.1-apache") is None


def test_nextcloud_one_major_is_one_hop_that_needs_a_restore_to_undo() -> None:
    move = plan_move("nextcloud", rules("nextcloud"), "34.0.5-apache", "35.0.1-apache")
    assert move is not None and move.direction == "upgrade"
    assert [(h.src, h.dst, h.rollback) for h in move.hops] == [("34.0.5-apache", "35.0.1-apache", "restore")]
    assert [m.name for m in move.hops[0].migrations] == [
        "occ upgrade (image entrypoint, when the image is newer than the installed code)"]


def test_nextcloud_skipping_a_major_is_refused_with_the_allowed_hops() -> None:
    # The catalog's path starts at 33.0.9: a move from 31 would skip 32.
    with pytest.raises(MoveRefused) as caught:
        plan_move("nextcloud", rules("nextcloud"), "31.0.9-apache", "35.0.1-apache")
    assert caught.value.allowed == ("31.0.9-apache", "32.x", "33.0.9-apache", "34.0.5-apache", "35.0.1-apache")
    assert "31.0.9-apache -> 33.0.9-apache crosses 2 majors" in caught.value.message
    assert caught.value.hint.startswith("allowed: 31.0.9-apache -> 32.x -> 33.0.9-apache -> 34.0.5-apache -> "
                                        "35.0.1-apache: add a 32.x version")
    # Without the path, even one skipped major is refused.
    with pytest.raises(MoveRefused) as bare:
        plan_move("nextcloud", rules("nextcloud", path=[]), "33.0.9-apache", "35.0.1-apache")
    assert bare.value.allowed == ("33.0.9-apache", "34.x", "35.0.1-apache")


def test_nextcloud_two_majors_with_the_catalog_path_are_two_hops() -> None:
    move = plan_move("nextcloud", rules("nextcloud"), "33.0.9-apache", "35.0.1-apache")
    assert move is not None and move.direction == "upgrade"
    assert [(h.src, h.dst, h.rollback) for h in move.hops] == [("33.0.9-apache", "34.0.5-apache", "restore"),
                                                               ("34.0.5-apache", "35.0.1-apache", "restore")]


def test_nextcloud_two_majors_via_the_path_are_two_hops() -> None:
    r = rules("nextcloud", path=["33.0.9-apache", "34.0.5-apache", "36.0.0-apache"])
    move = plan_move("nextcloud", r, "33.0.2-apache", "35.0.1-apache")
    assert move is not None
    assert [(h.src, h.dst) for h in move.hops] == [("33.0.2-apache", "33.0.9-apache"),
                                                    ("33.0.9-apache", "34.0.5-apache"),
                                                    ("34.0.5-apache", "35.0.1-apache")]


def test_a_patch_move_without_migrations_rolls_back_by_image() -> None:
    move = plan_move("redis", rules("redis"), "7.4.10-bookworm", "7.4.11-bookworm")
    assert move is not None and [h.rollback for h in move.hops] == ["image"]
    assert move.hops[0].migrations == ()


def test_a_redis_feature_release_moves_its_data_to_a_new_volume() -> None:
    move = plan_move("redis", rules("redis"), "7.2.5-bookworm", "7.4.11-bookworm")
    assert move is not None and [(h.data_format, h.rollback) for h in move.hops] == [(True, "restore")]
    patch = plan_move("redis", rules("redis"), "7.4.10-bookworm", "7.4.11-bookworm")
    assert patch is not None and [(h.data_format, h.rollback) for h in patch.hops] == [(False, "image")]


def test_a_mariadb_major_moves_its_data_and_a_minor_release_upgrades_in_place() -> None:
    move = plan_move("mariadb", rules("mariadb"), "11.4.13", "11.8.9")
    assert move is not None and [(h.data_format, h.rollback) for h in move.hops] == [(True, "restore")]
    minor = plan_move("mariadb", rules("mariadb"), "11.4.12", "11.4.13")
    assert minor is not None and [(h.data_format, h.rollback) for h in minor.hops] == [(False, "image")]


def test_postgres_major_is_a_data_format_change() -> None:
    move = plan_move("postgres", rules("postgres"), "0.8.4-pg15-bookworm", "0.8.4-pg16-bookworm")
    assert move is not None
    assert [(h.data_format, h.rollback) for h in move.hops] == [(True, "restore")]
    minor = plan_move("postgres", rules("postgres"), "0.8.3-pg16-bookworm", "0.8.4-pg16-bookworm")
    assert minor is not None and [(h.data_format, h.rollback) for h in minor.hops] == [(False, "image")]


def test_downgrades_say_what_they_need() -> None:
    n8n = plan_move("n8n", rules("n8n"), "2.41.1", "2.30.0")
    assert n8n is not None and n8n.direction == "downgrade"
    assert (n8n.downgrade_needs, n8n.downgrade_command) == ("revert", ("n8n", "db:revert"))
    nc = plan_move("nextcloud", rules("nextcloud"), "35.0.1-apache", "34.0.5-apache")
    assert nc is not None and (nc.downgrade_needs, nc.hops[0].rollback) == ("restore", "restore")
    pg_minor = plan_move("warehouse", rules("warehouse"), "16.15-bookworm", "16.14-bookworm")
    assert pg_minor is not None and pg_minor.downgrade_needs == "none" and pg_minor.hops[0].rollback == "image"
    pg_major = plan_move("warehouse", rules("warehouse"), "16.15-bookworm", "15.10-bookworm")
    assert pg_major is not None and pg_major.downgrade_needs == "restore"


def test_metabase_reversible_migrations_roll_back_by_revert() -> None:
    move = plan_move("metabase", rules("metabase"), "v0.63.4.2", "v0.64.1.5")
    assert move is not None and [h.rollback for h in move.hops] == ["revert"]


def test_metabase_orders_by_the_second_number() -> None:
    move = plan_move("metabase", rules("metabase"), "v0.64.1.5", "v0.9.0")
    assert move is not None and move.direction == "downgrade"


def test_a_tag_the_rules_cannot_parse_is_refused() -> None:
    with pytest.raises(MoveRefused, match=r"version 'latest' does not match upgrade\.version"):
        plan_move("n8n", rules("n8n"), "2.41.1", "latest")


def test_chatwoot_migration_is_its_job() -> None:
    move = plan_move("chatwoot", rules("chatwoot"), "v4.17.0", "v4.18.0")
    assert move is not None
    mig = move.hops[0].migrations[0]
    assert (mig.run, mig.container, move.hops[0].rollback) == ("job", "migrate", "restore")
