"""Version moves against real hosts: the shared ``duo`` pair (own sshd and dockerd each, reached
over real SSH), deployed once by the run's fixture. ``zixly upgrade`` edits the pin, ``zixly
plan`` reads the host's current release (its manifest's recorded versions) and shows the move,
and ``zixly deploy`` refuses a move it cannot carry out with nothing changed on any host.

The apps are the kit's labelled stand-ins (Invoice Ninja) and real MariaDB from Debian; no
vendor migration runs here (no second kit version yet): this checks our side of the contract.
The module restores ``duo``'s environment file before it ends (the fixture is shared).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.duo import Duo
from tests.harness.vps import VpsHost

pytestmark = [pytest.mark.engine, pytest.mark.e2e]


@pytest.fixture
def duo_env(duo: Duo) -> Iterator[Duo]:
    """``duo`` whose environment.yaml is put back byte for byte after the test."""
    before = duo.env_file.read_bytes()
    try:
        yield duo
    finally:
        duo.env_file.write_bytes(before)


def _state(host: VpsHost) -> tuple[str, str]:
    """The host's containers (id, image, state) and its current release."""
    ps = host.docker("ps", "-a", "--filter", "label=org.zixly.env=duo", "--format",
                     "{{.ID}} {{.Image}} {{.State}}", check=True).stdout
    release = host.ssh(["readlink", "/opt/zixly/duo/current"], check=True).stdout
    return "\n".join(sorted(ps.splitlines())), release


def test_plan_shows_a_pinned_move_against_what_the_host_runs(duo_env: Duo) -> None:
    z = duo_env.zixly
    assert duo_env.first_deploy is not None and duo_env.first_deploy["ok"]
    edit = z.run("upgrade", "duo", "invoiceninja", "--to", "5.13.48")
    assert "services.invoiceninja.version: 5.13.47 -> 5.13.48" in edit.stdout
    plan = z.json("plan", "duo")
    by_host = {h["host"]: h for h in plan["hosts"]}
    assert by_host["h1"]["upgrades"] == []
    [move] = by_host["h2"]["upgrades"]
    assert (move["service"], move["from"], move["to"], move["direction"]) == ("invoiceninja", "5.13.47",
                                                                              "5.13.48", "upgrade")
    assert [(h["from"], h["to"], h["image_rollback_safe"]) for h in move["hops"]] == [("5.13.47", "5.13.48", False)]
    assert move["deploy_refuses"] is None
    text = z.run("plan", "duo").stdout
    assert "upgrade invoiceninja: 5.13.47 -> 5.13.48 (1 hop)" in text


def test_deploy_refuses_a_downgrade_that_needs_its_data_and_changes_nothing(duo_env: Duo) -> None:
    z = duo_env.zixly
    _, h2 = duo_env.hosts
    before = _state(h2)
    z.run("upgrade", "duo", "mariadb", "--to", "10.11.14")  # the rules allow it: a downgrade that needs a restore
    plan = z.run("plan", "duo").stdout
    assert "downgrade mariadb: 11.4.13 -> 10.11.14 (1 hop)" in plan
    assert "! zixly deploy refuses this move" in plan
    res = z.run("deploy", "duo", "--yes", "--no-hooks", check=2)
    assert "services.mariadb.version: the host runs 11.4.13: downgrade to 10.11.14: a downgrade needs the data " \
           "from before the upgrade restored" in res.stderr
    located = [line for line in res.stderr.splitlines() if line.startswith("inventories/duo/environment.yaml:")]
    assert len(located) == 1 and "services.mariadb.version" in located[0], res.stderr
    assert _state(h2) == before
    assert h2.ssh(["test", "-e", "/opt/zixly/duo/.lock"]).returncode != 0, "the deploy lock is released"
