"""``mode: swarm``: the example ``swarm`` environment renders valid, golden-pinned stack files.

Validation is the real ``docker stack config`` (Docker CLI 28 here: it parses and validates a
stack file offline, without an engine or a swarm) plus the Compose-spec JSON schema and
swarm-specific checks ``docker stack config`` does not make (it accepts Compose-only keys
such as ``container_name`` silently; ``docker stack deploy`` would then ignore them).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tests.goldens import check_golden
from tests.helpers import REPO, SCHEMAS, fake_secrets
from zixly_stack.project import load, render, write_tree
from zixly_stack.render import RenderedFile
from zixly_stack.render.swarm import COMPOSE_ONLY, check_stack, node_labels

from .conftest import render_env
from .test_render_outputs import _masked

ENV = "swarm"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / ENV


def _stacks(files: tuple[RenderedFile, ...]) -> dict[str, dict[str, Any]]:
    return {f.path: yaml.safe_load(f.text) for f in files if f.path.endswith("/stack.yaml")}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("render-swarm") / ENV
    write_tree(render_env(ENV), target)
    return target


def test_swarm_golden_tree(update_golden: bool) -> None:
    files = render_env(ENV)
    actual = {f.path: (_masked(f.text, f.path) if f.secret else f.text, f.mode) for f in files}
    loaded = load(REPO, ENV)
    values = [s.reveal() for s in fake_secrets(loaded).values()]
    for path, (text, _) in actual.items():
        assert not [v for v in values if v in text], f"{path} holds a secret value"
    check_golden(GOLDEN, actual, update_golden)


def test_stack_files_pass_docker_stack_config(tree: Path) -> None:
    files = sorted(tree.rglob("stack.yaml"))
    assert len(files) == 8
    for f in files:
        proc = subprocess.run(["docker", "stack", "config", "-c", str(f)], capture_output=True, text=True,
                              cwd=f.parent, check=False)
        assert proc.returncode == 0, f"{f}: {proc.stderr}"
        assert "unsupported" not in proc.stderr.lower(), f"{f}: {proc.stderr}"
        merged = yaml.safe_load(proc.stdout)
        assert set(merged["services"]) == set(yaml.safe_load(f.read_text())["services"])


def test_stack_config_rejects_what_it_should(tmp_path: Path) -> None:
    """The validator is not a rubber stamp: a Compose-only top-level key fails it."""
    bad = tmp_path / "stack.yaml"
    bad.write_text("name: x\nservices:\n  a:\n    image: busybox:1\n")
    proc = subprocess.run(["docker", "stack", "config", "-c", str(bad)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode != 0 and "name" in proc.stderr


def test_stack_files_match_compose_spec_schema() -> None:
    validator = jsonschema.Draft7Validator(json.loads((SCHEMAS / "compose-spec.json").read_text()))
    for path, doc in _stacks(render_env(ENV)).items():
        errors = list(validator.iter_errors(doc))
        assert not errors, f"{path}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_swarm_specific_shape() -> None:
    stacks = _stacks(render_env(ENV))
    by_name = {p.split("/")[1]: d for p, d in stacks.items()}
    for path, doc in stacks.items():
        assert check_stack(path, path.split("/")[1], doc) == []
        for key, s in doc["services"].items():
            assert not set(COMPOSE_ONLY) & set(s), f"{path}:{key}"
            assert all(isinstance(e, str) for e in s.get("env_file", []))
            d = s["deploy"]
            if d["mode"] != "replicated-job":
                assert d["update_config"]["failure_action"] == "rollback"
                assert d["rollback_config"] and d["restart_policy"]["condition"] == "any"
            assert len(d["labels"]["org.zixly.spec-hash"]) == 16
        for name, net in doc["networks"].items():
            assert net.get("external") or net["driver"] == "overlay", f"{path}: {name}"
    meta = json.loads(next(f for f in render_env(ENV) if f.path == "m1/manifest.json").text)
    for doc in stacks.values():  # project networks: shared by name, internal overlays made by the deploy
        assert doc["networks"]["internal"]["name"] in meta["internal_networks"]
    # data stores pinned to the labelled node that holds their volumes; apps replicated anywhere
    pg = by_name["postgres"]["services"]["server"]["deploy"]
    assert pg["replicas"] == 1 and pg["placement"]["constraints"] == ["node.labels.zixly.postgres==true"]
    assert pg["update_config"]["order"] == "stop-first"
    mb = by_name["metabase"]["services"]["metabase"]["deploy"]
    assert mb["replicas"] == 2 and "placement" not in mb and mb["update_config"]["order"] == "start-first"
    assert mb["labels"]["traefik.http.routers.metabase.rule"] == "Host(`metabase.swarm.zixly.example.com`)"
    assert mb["labels"]["traefik.http.services.metabase.loadbalancer.server.port"] == "3000"
    assert mb["labels"]["traefik.swarm.network"] == "zixly-swarm-proxy"
    assert by_name["postgres"]["services"]["provision"]["deploy"]["mode"] == "replicated-job"
    # a service holding volumes pins every container of it: its sidecars and jobs run (and need
    # their images) on the node of its volumes only
    n8n = by_name["n8n"]["services"]
    assert "volumes" not in n8n["runner"] and n8n["runner"]["deploy"]["mode"] == "replicated"
    for s in (n8n["n8n"], n8n["runner"]):
        assert s["deploy"]["placement"]["constraints"] == ["node.labels.zixly.n8n==true"]
    assert by_name["postgres"]["services"]["provision"]["deploy"]["placement"]["constraints"] == [
        "node.labels.zixly.postgres==true"]
    # the edge: global on edge nodes, host-mode ports; the socket proxy on a manager
    tr = by_name["traefik"]["services"]["traefik"]
    assert tr["deploy"]["mode"] == "global"
    assert tr["deploy"]["placement"]["constraints"] == ["node.labels.zixly.edge==true"]
    assert {p["mode"] for p in tr["ports"]} == {"host"}
    assert "node.role==manager" in by_name["socket-proxy"]["services"]["socket-proxy"]["deploy"]["placement"][
        "constraints"]
    # Portainer: the server talks to its agent, a global service
    pt = by_name["portainer"]["services"]
    assert pt["agent"]["deploy"]["mode"] == "global"
    assert "tcp://tasks.agent:9001" in pt["portainer"]["command"]
    assert all(v.get("source") != "/var/run/docker.sock" for v in pt["portainer"]["volumes"])
    # secrets and files become Swarm secrets/configs with content-hashed names
    assert set(by_name["traefik"]["configs"]) == {"config_traefik_yml", "config_dynamic_tls_yml",
                                                  "config_dynamic_middlewares_yml", "config_dynamic_routes_yml"}
    for doc in stacks.values():
        for obj in [*doc.get("configs", {}).values(), *doc.get("secrets", {}).values()]:
            assert len(obj["name"]) <= 64 and obj["name"].rsplit("-", 1)[1].isalnum()


def test_traefik_uses_the_swarm_provider(tree: Path) -> None:
    static = yaml.safe_load((tree / "m1/traefik/config/traefik.yml").read_text())
    assert "docker" not in static["providers"]
    assert static["providers"]["swarm"]["endpoint"] == "tcp://socket-proxy:2375"
    assert static["providers"]["swarm"]["network"] == "zixly-swarm-proxy"
    routes = yaml.safe_load((tree / "m1/traefik/config/dynamic/routes.yml").read_text())
    assert set(routes["http"]["routers"]) == {"dashboard"}  # catalog routes are service labels
    schema = jsonschema.Draft7Validator(json.loads((SCHEMAS / "traefik-v3.json").read_text()))
    assert not list(schema.iter_errors(static))


def test_manifest_and_node_labels() -> None:
    files = {f.path: f for f in render_env(ENV)}
    meta = json.loads(files["m1/manifest.json"].text)
    assert meta["mode"] == "swarm" and "zixly-swarm-postgres" in meta["internal_networks"]
    assert "zixly-swarm-proxy" in meta["networks"] and "zixly-swarm-proxy" not in meta["internal_networks"]
    labels = node_labels(load(REPO, ENV).stack)
    assert labels["m1"] == {"zixly.edge": "true", "zixly.portainer": "true", "zixly.warehouse": "true"}
    assert labels["w1"] == {"zixly.postgres": "true", "zixly.redis": "true"}
    assert labels["w2"] == {"zixly.n8n": "true"}


def test_a_change_renames_only_its_config(tmp_path: Path) -> None:
    """Configs are immutable in Swarm: a changed file gets a new name, so the service rolls."""
    loaded = load(REPO, ENV)
    env = loaded.stack.environment
    limits = env.edge.rate_limits.model_copy(update={"ui": env.edge.rate_limits.ui.model_copy(update={"average": 7})})
    changed_env = env.model_copy(update={"edge": env.edge.model_copy(update={"rate_limits": limits})})
    stack = loaded.stack
    changed = type(stack)(stack.env_name, changed_env, stack.hosts, stack.services, stack.placements)
    before = _stacks(render(loaded, fake_secrets(loaded)))["m1/traefik/stack.yaml"]
    after = _stacks(render(type(loaded)(**{**vars(loaded), "stack": changed}), fake_secrets(loaded)))[
        "m1/traefik/stack.yaml"]
    diff = {k for k in before["configs"] if before["configs"][k]["name"] != after["configs"][k]["name"]}
    assert diff == {"config_dynamic_middlewares_yml"}
    assert (before["services"]["traefik"]["deploy"]["labels"]["org.zixly.spec-hash"]
            != after["services"]["traefik"]["deploy"]["labels"]["org.zixly.spec-hash"])


def test_check_stack_reports_compose_only_keys_and_unpinned_volumes() -> None:
    doc = {"services": {"db": {"image": "x:1", "container_name": "db", "volumes": [{"type": "volume", "source": "d",
                                                                                   "target": "/d"}],
                               "deploy": {"mode": "replicated", "update_config": {"failure_action": "pause"}}}},
           "networks": {"n": {"driver": "bridge"}}}
    msgs = [p.message for p in check_stack("x/stack.yaml", "x", doc)]
    assert any("container_name" in m for m in msgs)
    assert any("not rollback" in m for m in msgs)
    assert any("not pinned" in m for m in msgs)
    assert any("not an overlay" in m for m in msgs)


def test_replicating_a_service_that_holds_volumes_is_a_located_error(tmp_path: Path) -> None:
    from tests.helpers import copy_repo
    from zixly_stack.errors import ConfigError

    root = copy_repo(tmp_path / "repo", envs=(ENV,))
    env_file = root / "inventories" / ENV / "environment.yaml"
    env_file.write_text(env_file.read_text().replace("  redis:\n", "  redis:\n    replicas: 3\n"))
    with pytest.raises(ConfigError) as exc:
        load(root, ENV)
    text = str(exc.value)
    assert "inventories/swarm/environment.yaml:" in text and "services.redis.replicas" in text
    assert "holds volumes" in text and "Traceback" not in text
