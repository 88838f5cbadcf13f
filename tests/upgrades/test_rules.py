"""The catalog's ``upgrade:`` rules are validated like the rest: file:line:col, key path, what
was expected and a hint. Each rule's bad inputs are beside it; the real catalog passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from zixly_stack.catalog.upgrades import check_service_rules, check_upgrade_overrides
from zixly_stack.config.loader import load_catalog, load_environment
from zixly_stack.errors import Problem

from .conftest import edit, line_of

NC = "services/nextcloud/service.yaml"
N8N = "services/n8n/service.yaml"
CW = "services/chatwoot/service.yaml"
MAUTIC = "services/mautic/service.yaml"
PG = "services/postgres/service.yaml"
MB = "services/metabase/service.yaml"


def problems(repo: Path) -> list[Problem]:
    found: list[Problem] = []
    cat = load_catalog(repo, found)
    return found + [p for svc in cat.services.values() for p in check_service_rules(cat, svc)]


def test_the_real_catalog_has_rules_and_passes(catalog_repo: Path) -> None:
    cat = load_catalog(catalog_repo)
    assert [p for svc in cat.services.values() for p in check_service_rules(cat, svc)] == []
    with_rules = {n for n, s in cat.services.items() if s.upgrade is not None}
    assert {"nextcloud", "n8n", "chatwoot", "invoiceninja", "mautic", "metabase", "plane", "postgres",
            "mariadb", "redis", "warehouse"} <= with_rules
    assert cat.services["nextcloud"].upgrade is not None and cat.services["nextcloud"].upgrade.max_major_step == 1


# (id, file, old, new, needle for the expected line, expected "path: message" fragment)
CASES = [
    ("pattern-does-not-compile", NC, r"version: '^(?P<major>[0-9]+)\.", r"version: '^(?P<major>[0-9]+\.",
     "  version: '^", "upgrade.version: not a regular expression"),
    ("pattern-without-major-group", NC, r"version: '^(?P<major>[0-9]+)\.", r"version: '^(?P<big>[0-9]+)\.",
     "  version: '^", "upgrade.version: the pattern has no named group 'major'"),
    ("pinned-tag-does-not-parse", NC, "image: {repository: nextcloud, tag: 35.0.1-apache}",
     "image: {repository: nextcloud, tag: 35.0.1-fpm}", "image: {repository: nextcloud, tag: 35.0.1-fpm}",
     "containers.app.image.tag: tag '35.0.1-fpm' does not match upgrade.version"),
    ("path-entry-does-not-parse", NC, "  path: ['33.0.9-apache',", "  path: ['33.0.x',",
     "  path: ['33.0.x'", "upgrade.path[0]: '33.0.x' does not match upgrade.version"),
    ("path-not-oldest-first", NC, "  path: ['33.0.9-apache', '34.0.5-apache']",
     "  path: ['34.0.5-apache', '33.0.9-apache']", "  path: ['34.0.5",
     "upgrade.path[1]: '33.0.9-apache' is not newer than '34.0.5-apache'"),
    ("max-step-on-a-dotted-major", "services/mariadb/service.yaml", "  major_change: dump_restore\n",
     "  max_major_step: 1\n  major_change: dump_restore\n", "  max_major_step: 1",
     "upgrade.max_major_step: the major '11.4' is not one number"),
    ("migration-container-unknown", NC, "      container: app\n      reversible: false",
     "      container: apps\n      reversible: false", "      container: apps",
     "upgrade.migrations[0].container: no container named 'apps' (did you mean 'app'?)"),
    ("job-migration-not-a-job", CW, "      container: migrate\n      reversible: false",
     "      container: rails\n      reversible: false", "      container: rails",
     "upgrade.migrations[0].container: container 'rails' is not a one-shot job"),
    ("hook-migration-unknown-hook", MAUTIC, "      hook: mautic-install", "      hook: mautic-instal",
     "      hook: mautic-instal", "upgrade.migrations[0].hook: no hook named 'mautic-instal' in this service"),
    ("revert-without-command", N8N, '    command: ["n8n", "db:revert"]\n', "", "    needs: revert",
     "upgrade.downgrade: 'revert' needs the command that reverts"),
    ("revert-unknown-container", MB, "    container: metabase\n    command: [\"migrate down\"]",
     "    container: mb\n    command: [\"migrate down\"]", "    container: mb",
     "upgrade.downgrade.container: no container named 'mb'"),
    ("unknown-key", PG, "  major_change: dump_restore", "  major_chnage: dump_restore", "major_chnage",
     "upgrade.major_chnage"),
    ("bad-major-change", PG, "  major_change: dump_restore", "  major_change: pg_upgrade", "major_change",
     "upgrade.major_change"),
    ("downgrade-needs-what", PG, "    needs: restore", "    needs: nothing", "    needs: nothing",
     "upgrade.downgrade.needs"),
]


@pytest.mark.parametrize(("case_id", "file", "old", "new", "needle", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_rule(catalog_repo: Path, case_id: str, file: str, old: str, new: str, needle: str,
                  expected: str) -> None:
    edit(catalog_repo, file, old, new)
    found = problems(catalog_repo)
    line = line_of(catalog_repo, file, needle)
    texts = [str(p) for p in found]
    match = [t for t in texts if expected in t]
    assert match, texts
    assert match[0].startswith(f"{file}:{line}:"), match
    assert len(found) == 1, texts


def test_override_version_must_parse(catalog_repo: Path) -> None:
    edit(catalog_repo, "inventories/production/environment.yaml", "\n  nextcloud:\n",
         "\n  nextcloud:\n    version: 36-beta\n")
    cat = load_catalog(catalog_repo)
    cfg = load_environment(catalog_repo, "production")
    assert cfg is not None
    found = [str(p) for p in check_upgrade_overrides(cat, cfg)]
    line = line_of(catalog_repo, "inventories/production/environment.yaml", "version: 36-beta")
    assert found == [
        f"inventories/production/environment.yaml:{line}:14: services.nextcloud.version: '36-beta' does not "
        f"match nextcloud's upgrade.version ^(?P<major>[0-9]+)\\.(?P<minor>[0-9]+\\.[0-9]+)-apache$ "
        "(a version like '35.0.1-apache' (services/nextcloud/service.yaml))"
    ]
