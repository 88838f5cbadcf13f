"""metabase-setup and metabase-dashboards against a stand-in of Metabase's REST API.

Real Metabase cannot run on this machine (no JVM image, no registry), so
:mod:`tests.hooks.metabase_standin` implements Metabase's documented contract for exactly
the calls these hooks make (setup token, /api/setup, sessions, databases, collections,
cards, dashboards with dashcards). The cards' SQL itself is executed for real in
test_metabase_sql.py. Secrets come from a real encrypted store.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hooks.fakes import ScriptedTransport
from tests.hooks.metabase_standin import MetabaseStandin, start
from zixly_stack.hooks.base import Endpoint
from zixly_stack.hooks.local_run import context_factory
from zixly_stack.hooks.metabase_seeds import load_dashboards
from zixly_stack.hooks.runner import HooksReport, plan_hooks, run_hooks
from zixly_stack.hooks.state import MemoryState
from zixly_stack.project import Loaded
from zixly_stack.secrets.value import Secret

Env = tuple[Loaded, dict[str, Secret]]


@pytest.fixture
def standin() -> Iterator[MetabaseStandin]:
    server = start()
    yield server
    server.stop()


def _run(env: Env, standin: MetabaseStandin, state: MemoryState) -> HooksReport:
    loaded, secrets = env
    transport = ScriptedTransport(endpoints={("metabase", "metabase", 3000): Endpoint(standin.url)})
    planned = [p for p in plan_hooks(loaded.stack) if p.name in ("metabase-setup", "metabase-dashboards")]
    return run_hooks(planned, context_factory(loaded, secrets, transport, lambda _: None), state,
                     sleep=lambda _: None)


def test_first_run_sets_up_admin_database_and_three_dashboards(local_env: Env, standin: MetabaseStandin) -> None:
    loaded, secrets = local_env
    report = _run(local_env, standin, MemoryState())
    assert [(o.name, o.status) for o in report.outcomes] == [("metabase-setup", "ok"),
                                                              ("metabase-dashboards", "ok")], report.lines()
    st = standin.state
    assert st.users == {"admin@example.com": secrets["metabase.admin_password"].reveal()}
    [db] = st.databases.values()
    assert db["name"] == "Warehouse" and db["engine"] == "postgres"
    assert {k: db["details"][k] for k in ("host", "port", "dbname", "user")} == \
        {"host": "warehouse-db", "port": 5432, "dbname": "warehouse", "user": "reader"}
    assert db["details"]["password"] == secrets["warehouse.reader_password"].reveal()
    seeds = load_dashboards(loaded.root / "services" / "metabase" / "seeds" / "dashboards")
    assert sorted(d["name"] for d in st.dashboards.values()) == ["Financial", "Service delivery", "Support"]
    assert len(st.cards) == sum(len(d.cards) for d in seeds)
    for dash in st.dashboards.values():
        seed = next(d for d in seeds if d.name == dash["name"])
        names = sorted(st.cards[dc["card_id"]]["name"] for dc in dash["dashcards"])
        assert names == sorted(c.name for c in seed.cards)
    card = next(c for c in st.cards.values() if c["name"] == "Revenue by month")
    assert card["dataset_query"]["database"] == db["id"] and "warehouse.invoices" in \
        card["dataset_query"]["native"]["query"]
    # The secret never appears anywhere in the report.
    assert secrets["metabase.admin_password"].reveal() not in " ".join(report.lines())


def test_second_run_writes_nothing(local_env: Env, standin: MetabaseStandin) -> None:
    state = MemoryState()
    _run(local_env, standin, state)
    writes = len(standin.state.writes())
    report = _run(local_env, standin, state)
    assert [o.status for o in report.outcomes] == ["unchanged", "unchanged"], report.lines()
    assert len(standin.state.writes()) == writes
    assert len(standin.state.dashboards) == 3


def test_edited_card_and_lost_state_update_in_place(local_env: Env, standin: MetabaseStandin) -> None:
    loaded, _ = local_env
    state = MemoryState()
    _run(local_env, standin, state)
    cards, dashboards = len(standin.state.cards), len(standin.state.dashboards)
    seed = loaded.root / "services" / "metabase" / "seeds" / "dashboards" / "support.yaml"
    seed.write_text(seed.read_text().replace("name: NPS by quarter", "name: NPS by quarter (all clients)"))
    report = _run(local_env, standin, state)
    assert report.outcomes[1].status == "ok" and "NPS by quarter (all clients)" in report.outcomes[1].summary
    names = {c["name"] for c in standin.state.cards.values()}
    assert "NPS by quarter (all clients)" in names
    support = next(d for d in standin.state.dashboards.values() if d["name"] == "Support")
    on_board = {standin.state.cards[dc["card_id"]]["name"] for dc in support["dashcards"]}
    assert "NPS by quarter (all clients)" in on_board and "NPS by quarter" not in on_board
    assert len(standin.state.dashboards) == dashboards and len(standin.state.cards) == cards + 1
    # Without the state file nothing is duplicated either: matched by name.
    _run(local_env, standin, MemoryState())
    assert len(standin.state.dashboards) == dashboards and len(standin.state.cards) == cards + 1


def test_wrong_admin_password_is_a_clear_failure(local_env: Env, standin: MetabaseStandin) -> None:
    standin.state.users["admin@example.com"] = "someone-changed-it"
    report = _run(local_env, standin, MemoryState())
    setup = report.outcomes[0]
    assert setup.status == "degraded" and "differs from metabase.admin_password" in setup.summary
    assert report.outcomes[1].status == "skipped"
    assert standin.state.databases == {}
