"""Pure parts of demos: client names, TTLs, service selection, the rendered demo environment,
its Compose rewrites (host edge network, demo-unique aliases), routes and the reap schedule."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from tests.deploy.helpers import REPO
from zixly_stack.demo import build, spec
from zixly_stack.demo.run import _project_order, _write_root, template_of
from zixly_stack.project import Loaded, load, prepare_secrets, render


@pytest.mark.parametrize("name", ["acme", "a", "acme-2", "x" * 20, "9lives"])
def test_good_client_names(name: str) -> None:
    assert spec.validate_client(name) == name


@pytest.mark.parametrize(("name", "why"), [
    ("Acme", "not a lowercase DNS label"), ("-acme", "not a lowercase DNS label"), ("acme-", "not a lowercase"),
    ("ac_me", "not a lowercase"), ("acme.corp", "not a lowercase"), ("x" * 21, "21 characters, at most 20"),
    ("", "empty"),
])
def test_bad_client_names_say_why_and_hint(name: str, why: str) -> None:
    with pytest.raises(spec.DemoError) as err:
        spec.validate_client(name)
    assert why in str(err.value) and "e.g. 'acme'" in str(err.value)
    assert err.value.exit_code == 2


def test_ttls() -> None:
    assert spec.parse_ttl("7d") == timedelta(days=7)
    assert spec.parse_ttl("36h") == timedelta(hours=36)
    assert spec.parse_ttl("30m") == timedelta(minutes=30)
    assert spec.parse_ttl("2w") == timedelta(weeks=2)
    for bad in ("7", "d", "0d", "7x", "-1d", "91d"):
        with pytest.raises(spec.DemoError, match="--ttl"):
            spec.parse_ttl(bad)


@pytest.fixture(scope="module")
def local_loaded() -> Loaded:
    return load(REPO, "local")


def test_default_services_come_from_the_template(local_loaded: Loaded) -> None:
    tpl = template_of(REPO)
    assert spec.template_services(tpl["services"], local_loaded.catalog.services) == [
        "warehouse", "n8n", "metabase", "nextcloud"]


def test_selection_adds_stores_and_used_services(local_loaded: Loaded) -> None:
    tpl = template_of(REPO)["services"]
    cat = local_loaded.catalog.services
    assert spec.select_services(["metabase"], tpl, cat) == ["metabase", "postgres", "warehouse"]
    assert spec.select_services(["nextcloud"], tpl, cat) == ["nextcloud", "postgres", "redis"]
    with pytest.raises(spec.DemoError, match="plane not offered by the demo template"):
        spec.select_services(["plane"], tpl, cat)
    with pytest.raises(spec.DemoError, match="traefik"):
        spec.select_services(["traefik"], tpl, cat)


@pytest.fixture(scope="module")
def demo_loaded(tmp_path_factory: pytest.TempPathFactory, local_loaded: Loaded) -> Loaded:
    tpl = template_of(REPO)
    dest = tmp_path_factory.mktemp("demo-root")
    svcs = spec.select_services(["warehouse", "metabase", "n8n"], tpl["services"], local_loaded.catalog.services)
    doc = build.environment_doc(tpl, local_loaded.config.environment, "acme", svcs, str(dest / "state"))
    _write_root(dest / "root", REPO, "demo-acme", doc, build.hosts_doc("local"))
    return load(dest / "root", "demo-acme")


def test_demo_environment_is_isolated_by_name(demo_loaded: Loaded) -> None:
    st = demo_loaded.stack
    assert st.prefix == "zixly-demo-acme"
    assert st.environment.domain == "acme.demo.localhost"
    assert "traefik" not in st.services and "socket-proxy" not in st.services
    assert {p.project for p in st.placements} == {f"zixly-demo-acme-{n}" for n in st.services}
    assert build.app_urls(st) == {"metabase": "https://metabase.acme.demo.localhost/",
                                  "n8n": "https://n8n.acme.demo.localhost/"}
    # metabase 1536m + n8n 1g + runners 512m + postgres 512m + warehouse 384m
    assert build.memory_of(st) == (1536 + 1024 + 512 + 512 + 384) * 1024**2


def test_compose_joins_the_host_edge_with_demo_aliases_only(demo_loaded: Loaded, age_key: Path) -> None:
    prepared = prepare_secrets(demo_loaded, create=True)
    files = {f.path: f for f in render(demo_loaded, prepared.values)}
    text = build.rewrite_compose(files["local/metabase/compose.yaml"].text, demo_loaded.stack, "zixly-e2e-proxy")
    assert text.startswith("# Rendered by zixly")
    doc = yaml.safe_load(text)
    assert doc["networks"]["proxy"] == {"name": "zixly-e2e-proxy", "external": True}
    assert doc["services"]["metabase"]["networks"]["proxy"] == {"aliases": ["zixly-demo-acme-metabase-metabase"]}
    assert all(n["name"].startswith("zixly-demo-acme-") for k, n in doc["networks"].items() if k != "proxy")
    unrouted = files["local/postgres/compose.yaml"].text
    assert build.rewrite_compose(unrouted, demo_loaded.stack, "zixly-e2e-proxy") == unrouted
    for f in files.values():  # no secret value in a non-secret file
        if not f.secret:
            assert not any(v.reveal() in f.text for v in prepared.values.values() if len(v.reveal()) > 8)


def test_routes_are_prefixed_and_point_at_demo_aliases(demo_loaded: Loaded) -> None:
    doc = build.routes_doc(demo_loaded.stack, "local", acme=False)
    routers = doc["http"]["routers"]
    assert {"zixly-demo-acme-metabase", "zixly-demo-acme-n8n", "zixly-demo-acme-n8n-signin"} <= set(routers)
    assert all(name.startswith(("zixly-demo-acme-metabase", "zixly-demo-acme-n8n")) for name in routers)
    assert routers["zixly-demo-acme-n8n"]["rule"] == "Host(`n8n.acme.demo.localhost`)"
    assert routers["zixly-demo-acme-n8n"]["tls"] == {}
    # the catalog's per-route limits, from the host edge's middlewares file; one service per routed port
    assert routers["zixly-demo-acme-n8n"]["middlewares"] == ["ratelimit-ui@file"]
    assert routers["zixly-demo-acme-n8n-signin"]["middlewares"] == ["ratelimit-signin@file"]
    assert routers["zixly-demo-acme-n8n-signin"]["service"] == "zixly-demo-acme-n8n"
    urls = {s["loadBalancer"]["servers"][0]["url"] for s in doc["http"]["services"].values()}
    assert urls == {"http://zixly-demo-acme-metabase-metabase:3000", "http://zixly-demo-acme-n8n-n8n:5678"}
    acme = build.routes_doc(demo_loaded.stack, "local", acme=True)
    assert acme["http"]["routers"]["zixly-demo-acme-n8n"]["tls"] == {"certResolver": "le"}


def test_reap_schedule(tmp_path: Path) -> None:
    files = build.reap_schedule(["/usr/local/bin/zixly"], "/srv/my repo", "local")
    assert set(files) == {"zixly-demo-reap-local.service", "zixly-demo-reap-local.timer", "zixly-demo-reap-local"}
    assert "ExecStart=/usr/local/bin/zixly --root '/srv/my repo' demo reap --env local" in \
        files["zixly-demo-reap-local.service"]
    assert "OnCalendar=*:0/15" in files["zixly-demo-reap-local.timer"]
    assert files["zixly-demo-reap-local"].splitlines()[-1].startswith("*/15 * * * * root /usr/local/bin/zixly")
    if shutil.which("systemd-analyze"):
        for name, text in files.items():
            if "." in name:
                (tmp_path / name).write_text(text.replace("/usr/local/bin/zixly", "/bin/true"))
        res = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "zixly-demo-reap-local.timer")],
                             capture_output=True, text=True, check=False)
        assert res.returncode == 0, res.stderr


def test_projects_start_once_what_they_need_is_up(demo_loaded: Loaded) -> None:
    assert _project_order(demo_loaded) == [["postgres", "warehouse"], ["metabase", "n8n"]]
