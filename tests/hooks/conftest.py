"""Hook tests: a real PostgreSQL (tests.warehouse.pgserver) and, for n8n, the real n8n image."""

from __future__ import annotations

from tests.warehouse.pgserver import pg_server, warehouse_db

__all__ = ["pg_server", "warehouse_db"]


from collections.abc import Iterator

import pytest

from tests.helpers import copy_repo, load_env
from zixly_stack.project import Loaded
from zixly_stack.secrets.value import Secret


@pytest.fixture(autouse=True)
def no_unscripted_exec() -> Iterator[None]:
    """Fail the test when a hook ran a container command no reply was scripted for, even if
    the hook (or the runner) caught the :class:`tests.hooks.fakes.UnscriptedExec`."""
    from tests.hooks.fakes import CREATED

    CREATED.clear()
    yield
    unscripted = [argv for t in CREATED for argv in t.unscripted]
    CREATED.clear()
    assert not unscripted, f"hooks ran unscripted container commands: {unscripted}"


@pytest.fixture
def local_env(tmp_path: pytest.TempPathFactory, age_key: object) -> tuple[Loaded, dict[str, Secret]]:
    """The repo's `local` environment (a copy) and its secrets, read back from a real encrypted store.

    The store is created with this test's age key, every secret the catalog declares is
    generated into it and saved; the values the hooks get come from
    :func:`zixly_stack.hooks.local_run.open_secrets`, the function ``zixly hooks run`` uses.
    """
    from zixly_stack.hooks.local_run import open_secrets
    from zixly_stack.render.context import required_secrets
    from zixly_stack.secrets.identity import load_identity
    from zixly_stack.secrets.store import SecretStore

    root = copy_repo(tmp_path / "repo", envs=("local",))  # type: ignore[operator]
    loaded = load_env(root, "local")
    identity = load_identity()
    assert identity is not None
    store = SecretStore.create(loaded.config.directory, identity)
    store.ensure(required_secrets(loaded.stack))
    store.save()
    return loaded, open_secrets(loaded)
