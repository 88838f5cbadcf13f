"""Unit tests of the restore drill's apps half (zixly_stack/backup/drill_apps.py): the PURE
Compose-document builder against a small hand-written rendered release, the role parser and
the store aliases. The end-to-end half is tests/backup/test_drill_apps_e2e.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import REPO
from zixly_stack.backup.drill_apps import LABEL, add_store_aliases, apps_compose, pg_roles, store_aliases
from zixly_stack.project import load
from zixly_stack.render.backup.plan import Item

BASE = Path("/opt/zixly/prod/current/n8n")


def rendered() -> dict[str, Any]:
    return {
        "name": "zixly-prod-n8n",
        "services": {
            "n8n": {
                "image": "zixly-offline/n8n:2.41.1",
                "container_name": "n8n-main",
                "environment": {"DB_POSTGRESDB_HOST": "postgres"},
                "ports": ["127.0.0.1:5678:5678"],
                "user": "node",
                "command": ["start"],
                "mem_limit": "1g",
                "secrets": ["n8n_postgres_password", {"source": "n8n_encryption_key", "target": "key"}],
                "volumes": [{"type": "volume", "source": "data", "target": "/home/node/.n8n"},
                            {"type": "volume", "source": "cache", "target": "/cache"},
                            {"type": "bind", "source": "./files/hooks.js", "target": "/hooks.js", "read_only": True},
                            {"type": "bind", "source": "/var/run/docker.sock", "target": "/var/run/docker.sock"}],
                "networks": {"internal": {"aliases": ["n8n"]}, "proxy": {"aliases": ["n8n-n8n"]}, "egress": {}},
                "healthcheck": {"test": ["CMD", "true"], "interval": "15s"},
                "depends_on": {"migrate": {"condition": "service_completed_successfully"}},
                "restart": "unless-stopped",
                "labels": {"traefik.enable": "true", "org.zixly.env": "prod"},
            },
            "runner": {
                "image": "zixly-offline/n8n-runners:2.41.1",
                "env_file": [{"path": "env/runner.env", "required": True}],
                "networks": {"internal": {"aliases": ["n8n-runner"]}},
                "depends_on": {"n8n": {"condition": "service_healthy"}},
                "restart": "unless-stopped",
                "labels": {"org.zixly.standin": "true: stand-in"},
            },
            "migrate": {"image": "zixly-offline/n8n:2.41.1", "restart": "no", "networks": {"internal": {}}},
            "postgres": {"image": "zixly-offline/postgres:15", "restart": "unless-stopped",
                         "networks": {"internal": {"aliases": ["postgres"]}}},
        },
        "networks": {"internal": {"name": "zixly-prod-n8n", "internal": True}},
        "volumes": {"data": {"name": "zixly-prod-n8n_data"}, "cache": {"name": "zixly-prod-n8n_cache"}},
        "secrets": {"n8n_postgres_password": {"file": "./secrets/n8n_postgres_password"},
                    "n8n_encryption_key": {"file": "./secrets/n8n_encryption_key"}},
    }


def build() -> tuple[dict[str, Any], list[Any]]:
    return apps_compose("prod", "zixly-prod-drill-apps", "zixly-prod-drill_drill", {"n8n": (rendered(), BASE)},
                        {"zixly-prod-n8n_data": "zixly-prod-drill_v3"}, ["postgres", "warehouse-db"])


def test_jobs_and_data_stores_are_skipped_and_keys_are_unique_per_app() -> None:
    doc, containers = build()
    assert sorted(doc["services"]) == ["n8n-n8n", "n8n-runner"]
    assert [(c.service, c.container, c.key) for c in containers] == [("n8n", "n8n", "n8n-n8n"),
                                                                      ("n8n", "runner", "n8n-runner")]
    assert [c.standin for c in containers] == [False, True]
    assert [c.healthcheck for c in containers] == [True, False]
    assert doc["name"] == "zixly-prod-drill-apps"


def test_ports_labels_container_name_gone_drill_label_set_restart_no() -> None:
    svc = build()[0]["services"]["n8n-n8n"]
    assert "ports" not in svc and "container_name" not in svc
    assert svc["labels"][LABEL] == "prod" and not any(k.startswith(("traefik", "org.zixly.env")) for k in svc["labels"])
    assert svc["restart"] == "no"


def test_networks_only_the_external_drill_network_with_the_containers_own_aliases() -> None:
    doc = build()[0]
    assert doc["networks"] == {"drill": {"name": "zixly-prod-drill_drill", "external": True}}
    assert doc["services"]["n8n-n8n"]["networks"] == {"drill": {"aliases": ["n8n", "n8n-n8n"]}}
    assert doc["services"]["n8n-runner"]["networks"] == {"drill": {"aliases": ["n8n-runner"]}}


def test_depends_on_kept_between_started_containers_only() -> None:
    doc = build()[0]
    assert "depends_on" not in doc["services"]["n8n-n8n"]  # on the skipped job
    assert doc["services"]["n8n-runner"]["depends_on"] == {"n8n-n8n": {"condition": "service_healthy"}}


def test_volumes_restored_scratch_or_fresh_and_host_binds_dropped() -> None:
    doc = build()[0]
    vols = doc["services"]["n8n-n8n"]["volumes"]
    assert vols[0] == {"type": "volume", "source": "restored-zixly-prod-drill_v3", "target": "/home/node/.n8n"}
    assert vols[1] == {"type": "volume", "source": "n8n-cache", "target": "/cache"}
    assert vols[2]["source"] == str(BASE / "files/hooks.js") and vols[2]["read_only"] is True
    assert len(vols) == 3, "the Docker socket must not reach a drill container"
    assert doc["volumes"]["restored-zixly-prod-drill_v3"] == {"name": "zixly-prod-drill_v3", "external": True}
    assert doc["volumes"]["n8n-cache"] == {"labels": {LABEL: "prod"}}


def test_relative_secret_and_env_file_paths_become_absolute() -> None:
    doc = build()[0]
    n8n = doc["services"]["n8n-n8n"]
    assert n8n["secrets"] == [{"source": "n8n__n8n_postgres_password", "target": "n8n_postgres_password"},
                              {"source": "n8n__n8n_encryption_key", "target": "key"}]
    assert doc["secrets"]["n8n__n8n_postgres_password"] == {"file": str(BASE / "secrets/n8n_postgres_password")}
    assert doc["services"]["n8n-runner"]["env_file"] == [{"path": str(BASE / "env/runner.env"), "required": True}]


def test_image_environment_user_command_limits_healthcheck_kept() -> None:
    n8n = build()[0]["services"]["n8n-n8n"]
    src = rendered()["services"]["n8n"]
    for key in ("image", "environment", "user", "command", "mem_limit", "healthcheck"):
        assert n8n[key] == src[key], key


def test_the_builder_is_pure() -> None:
    a, b = build(), build()
    assert a == b


def test_pg_roles_from_owner_grant_and_default_privileges() -> None:
    sql = "\n".join([
        "ALTER TABLE public.workflow_entity OWNER TO n8n;",
        "ALTER TABLE public.settings OWNER TO n8n;",
        "ALTER SCHEMA public OWNER TO pg_database_owner;",
        'ALTER TABLE public.x OWNER TO "Odd Role";',
        "GRANT SELECT ON TABLE warehouse.clients TO reader;",
        "GRANT ALL ON SEQUENCE warehouse.clients_id_seq TO loader, reader;",
        "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
        "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA warehouse GRANT SELECT ON TABLES  TO reader;",
        "COPY public.t (a) FROM stdin;",
        "ALTER TABLE only in data OWNER TO nobody_in_copy",
    ])
    roles, owner = pg_roles(sql)
    assert roles == ["Odd Role", "loader", "n8n", "reader"]
    assert owner == "n8n"
    assert pg_roles("") == ([], "postgres")


def test_store_aliases_are_the_kind_plus_the_holding_containers_aliases() -> None:
    stack = load(REPO, "local").stack
    items = [Item("n8n", "db", "n8n.db.n8n", "postgres", "zixly-local-postgres-server-1", "n8n"),
             Item("warehouse", "db", "warehouse.db.warehouse", "postgres", "zixly-local-warehouse-db-1", "warehouse"),
             Item("mautic", "db", "mautic.db.mautic", "mariadb", "zixly-local-mariadb-server-1", "mautic"),
             Item("n8n", "volume", "n8n.volume.data", "volume", volume="zixly-local-n8n_data")]
    aliases = store_aliases(stack, items)
    assert aliases["postgres"][0] == "postgres" and {"warehouse-db", "warehouse", "postgres-server"} <= set(
        aliases["postgres"])
    assert aliases["mariadb"][0] == "mariadb" and "mariadb-server" in aliases["mariadb"]
    assert "volume" not in aliases
    services: dict[str, object] = {"pg": {"networks": ["drill"]}, "mariadb": {"networks": ["drill"]}}
    add_store_aliases(services, aliases)
    assert services["pg"] == {"networks": {"drill": {"aliases": aliases["postgres"]}}}
