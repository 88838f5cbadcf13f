"""``zixly upgrade ENV SERVICE --to VERSION`` edits only the pin: comments, layout and every other
byte of environment.yaml survive; a refused move changes nothing on disk."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.helpers import tree_snapshot, zixly
from zixly_stack.config.pin import PinError, set_version

from .conftest import line_of

ENV_TEXT = """\
# production of the demo company
domain: example.com   # public
services:
  traefik: {resources: {traefik: {memory: 512m}}}
  n8n:
    # pinned while the team tests 2.42
    version: '2.41.1'   # quoted on purpose
    subdomain: flows
  nextcloud:            # files
  redis: {}
  warehouse:
    host: vps1

backup: {schedule: "02:30"}
"""


def changed_lines(old: str, new: str) -> list[str]:
    return [line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:1] in "+-"]


def test_replacing_a_version_keeps_its_quotes_and_comment() -> None:
    new = set_version(ENV_TEXT, "n8n", "2.42.0")
    assert changed_lines(ENV_TEXT, new) == ["-     version: '2.41.1'   # quoted on purpose",
                                            "+     version: '2.42.0'   # quoted on purpose"]


def test_inserting_under_a_block_mapping_uses_its_indentation() -> None:
    new = set_version(ENV_TEXT, "warehouse", "16.16-bookworm")
    assert changed_lines(ENV_TEXT, new) == ["+     version: 16.16-bookworm"]
    assert new.index("version: 16.16") > new.index("  warehouse:")


def test_inserting_under_an_empty_entry_keeps_the_comment_on_its_key() -> None:
    new = set_version(ENV_TEXT, "nextcloud", "35.0.2-apache")
    assert changed_lines(ENV_TEXT, new) == ["+     version: 35.0.2-apache"]
    assert "  nextcloud:            # files\n    version: 35.0.2-apache\n" in new


def test_flow_mappings_get_the_key_inside_their_braces() -> None:
    assert changed_lines(ENV_TEXT, set_version(ENV_TEXT, "redis", "7.4.12-bookworm")) == [
        "-   redis: {}", "+   redis: {version: 7.4.12-bookworm}"]
    assert changed_lines(ENV_TEXT, set_version(ENV_TEXT, "traefik", "v3.7.16")) == [
        "-   traefik: {resources: {traefik: {memory: 512m}}}",
        "+   traefik: {version: v3.7.16, resources: {traefik: {memory: 512m}}}"]


def test_a_version_yaml_would_read_as_a_number_is_quoted() -> None:
    new = set_version(ENV_TEXT, "warehouse", "16.16")
    assert changed_lines(ENV_TEXT, new) == ['+     version: "16.16"']


def test_a_service_the_environment_does_not_list_is_refused() -> None:
    with pytest.raises(PinError, match=r"services\.plane is not in this environment"):
        set_version(ENV_TEXT, "plane", "v1.6.0")


# --- the command, on a copy of the real repository ----------------------------------------


def test_the_command_pins_keeping_every_other_byte(catalog_repo: Path) -> None:
    path = catalog_repo / "inventories/production/environment.yaml"
    before = path.read_text()
    result = zixly("upgrade", "production", "nextcloud", "--to", "36.0.1-apache", root=catalog_repo)
    assert result.code == 0, result.stderr
    assert changed_lines(before, path.read_text()) == ["+     version: 36.0.1-apache"]
    assert "services.nextcloud.version: 35.0.1-apache -> 36.0.1-apache" in result.stdout
    assert "hop 1: 35.0.1-apache -> 36.0.1-apache: image rollback is NOT safe" in result.stdout
    again = zixly("upgrade", "production", "nextcloud", "--to", "36.0.2-apache", root=catalog_repo)
    assert again.code == 0, again.stderr
    assert changed_lines(before, path.read_text()) == ["+     version: 36.0.2-apache"]


def test_a_refused_move_changes_nothing_on_disk(catalog_repo: Path) -> None:
    snapshot = tree_snapshot(catalog_repo)
    result = zixly("upgrade", "production", "nextcloud", "--to", "37.0.0-apache", root=catalog_repo)
    assert result.code == 2
    line = line_of(catalog_repo, "services/nextcloud/service.yaml", "image: {repository: nextcloud, tag:")
    assert result.stderr.splitlines() == [
        f"services/nextcloud/service.yaml:{line}:41: containers.app.image.tag: production pins 35.0.1-apache: "
        "nextcloud: 35.0.1-apache -> 37.0.0-apache crosses 2 majors; upgrade.max_major_step is 1 (the vendor "
        "refuses to skip a major) (allowed: 35.0.1-apache -> 36.x -> 37.0.0-apache: add a 36.x version to "
        "upgrade.path (or move one major at a time))",
        "1 error in configuration; nothing was written",
    ]
    assert tree_snapshot(catalog_repo) == snapshot


def test_a_refusal_points_at_the_environment_pin_when_it_overrides(catalog_repo: Path) -> None:
    assert zixly("upgrade", "production", "nextcloud", "--to", "36.0.1-apache", root=catalog_repo).code == 0
    snapshot = tree_snapshot(catalog_repo)
    result = zixly("upgrade", "production", "nextcloud", "--to", "38.0.0-apache", root=catalog_repo)
    assert result.code == 2
    line = line_of(catalog_repo, "inventories/production/environment.yaml", "version: 36.0.1-apache")
    assert result.stderr.startswith(f"inventories/production/environment.yaml:{line}:14: services.nextcloud.version: "
                                    "production pins 36.0.1-apache: nextcloud: 36.0.1-apache -> 38.0.0-apache")
    assert tree_snapshot(catalog_repo) == snapshot


def test_a_tag_the_rules_cannot_read_changes_nothing(catalog_repo: Path) -> None:
    snapshot = tree_snapshot(catalog_repo)
    result = zixly("upgrade", "production", "n8n", "--to", "2.42", root=catalog_repo)
    assert result.code == 2 and "version '2.42' does not match upgrade.version" in result.stderr
    unknown = zixly("upgrade", "production", "nextclod", "--to", "36.0.1-apache", root=catalog_repo)
    assert unknown.code == 2 and "'nextclod' is not enabled in production" in unknown.stderr
    assert tree_snapshot(catalog_repo) == snapshot


def test_the_same_version_writes_nothing(catalog_repo: Path) -> None:
    snapshot = tree_snapshot(catalog_repo)
    result = zixly("upgrade", "production", "n8n", "--to", "2.41.1", root=catalog_repo)
    assert result.code == 0 and "already pinned to 2.41.1; nothing written" in result.stdout
    assert tree_snapshot(catalog_repo) == snapshot


def test_a_floating_tag_is_refused_before_anything_is_written(catalog_repo: Path) -> None:
    snapshot = tree_snapshot(catalog_repo)
    result = zixly("upgrade", "production", "portainer", "--to", "latest", root=catalog_repo)  # no rules there
    assert result.code == 2
    assert result.stderr.splitlines()[0] == ("inventories/production/environment.yaml: services.portainer.version: "
                                             "'latest' is not a pinned image tag (use an exact version such as 1.2.3)")
    assert tree_snapshot(catalog_repo) == snapshot


def test_rollback_and_a_pin_are_separate_forms_and_change_nothing_when_mixed(catalog_repo: Path) -> None:
    before = tree_snapshot(catalog_repo)
    mixed = zixly("upgrade", "production", "n8n", "--to", "2.41.1", "--rollback", "n8n", root=catalog_repo)
    assert mixed.code == 2 and "--rollback SERVICE takes no other SERVICE nor --to" in mixed.stderr
    bare = zixly("upgrade", "production", root=catalog_repo)
    assert bare.code == 2 and "give SERVICE --to VERSION (or --rollback SERVICE)" in bare.stderr
    assert tree_snapshot(catalog_repo) == before
