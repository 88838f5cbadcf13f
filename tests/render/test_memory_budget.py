"""Each host's memory budget, on the shipped environments: what they declare fits, and the
old claim -- the whole production stack on "one 8 GB VPS" -- is refused with the figures.
Swarm is judged per node (pinned services on their node, global ones on every node)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import copy_repo, zixly

NO_EXCEPTION = "no exception is possible for this"
WHY = ("lower services.<name>.resources.<container>.memory in environment.yaml, place services on another host, "
       f"or declare the host's real memory; {NO_EXCEPTION}")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("budget") / "repo")


@contextmanager
def _hosts(repo: Path, env: str, old: str, new: str) -> Iterator[None]:
    """``inventories/<env>/hosts.yaml`` with ``old`` replaced by ``new``, restored afterwards."""
    path = repo / "inventories" / env / "hosts.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    try:
        yield
    finally:
        path.write_text(text)


@pytest.mark.parametrize("env", ["production", "staging", "local", "demo", "swarm"])
def test_shipped_environments_declare_memory_and_fit(repo: Path, env: str) -> None:
    assert "memory: " in (repo / "inventories" / env / "hosts.yaml").read_text()
    result = zixly("validate", env, root=repo)
    assert result.code == 0, result.stderr


def test_production_on_an_8_gb_vps_is_refused(repo: Path) -> None:
    with _hosts(repo, "production", "memory: 24g", "memory: 8g"):
        result = zixly("validate", "production", root=repo)
    assert result.code == 2
    assert result.stderr.split("\n")[:-2] == [
        "inventories/production/hosts.yaml:11:5: hosts.vps1.memory: hardening [memory_budget]: the containers on "
        "vps1 may use 17.25 GiB (16.50 GiB of memory limits of 35 long-running containers + 768 MiB for the largest "
        "one-shot job, chatwoot.migrate), 10.75 GiB more than its budget of 6.50 GiB (memory 8g minus "
        "memory_reserved 1536m); largest: metabase.metabase 1.50 GiB, invoiceninja.app 1.00 GiB, n8n.n8n 1.00 GiB, "
        f"nextcloud.app 1.00 GiB, chatwoot.rails 768 MiB ({WHY})"]


def test_swarm_is_judged_per_node(repo: Path) -> None:
    with _hosts(repo, "swarm", "memory: 8g", "memory: 2700m"):
        result = zixly("validate", "swarm", root=repo)
    assert result.code == 2
    # m1 runs Traefik, the socket proxy, Portainer and its agent, the warehouse and both
    # Metabase replicas; w1 (PostgreSQL, Redis, the agent and a provisioning job: 1.12 GiB)
    # fits; w2 (n8n, its runner and the agent) does not
    assert result.stderr.split("\n")[:-2] == [
        "inventories/swarm/hosts.yaml:8:5: hosts.m1.memory: hardening [memory_budget]: the containers on m1 may "
        "use 4.25 GiB (4.25 GiB of memory limits of 7 long-running containers), 3.11 GiB more than its budget of "
        "1.14 GiB (memory 2700m minus memory_reserved 1536m); largest: metabase.metabase 1.50 GiB, "
        "metabase.metabase 1.50 GiB, traefik.traefik 512 MiB, warehouse.db 384 MiB, portainer.portainer 192 MiB "
        f"({WHY})",
        "inventories/swarm/hosts.yaml:18:5: hosts.w2.memory: hardening [memory_budget]: the containers on w2 may "
        "use 1.62 GiB (1.62 GiB of memory limits of 3 long-running containers), 500 MiB more than its budget of "
        "1.14 GiB (memory 2700m minus memory_reserved 1536m); largest: n8n.n8n 1.00 GiB, n8n.runner 512 MiB, "
        f"portainer.agent 128 MiB ({WHY})"]


def test_an_undeclared_host_is_not_checked(repo: Path) -> None:
    line = "    memory: 8g    # the template's full selection: 6.3 GiB of container memory limits\n"
    with _hosts(repo, "demo", line, ""):
        assert zixly("validate", "demo", root=repo).code == 0
