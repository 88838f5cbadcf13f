"""Warehouse hooks: schema migrations + roles (``warehouse-migrate``), demo data.

``migrate`` applies ``services/warehouse/migrations/*.sql`` (versioned, checksummed; see
:mod:`zixly_stack.warehouse.migrations`), then makes sure roles ``loader`` and ``reader``
exist with the passwords ``warehouse.loader_password`` / ``warehouse.reader_password``
from the secrets store (sent as SCRAM verifiers) and re-states their grants. SQL runs
through ``psql`` inside the warehouse's ``db`` container as the ``postgres`` OS user over
the Unix socket, with the script on stdin.

``load_demo_data`` loads the deterministic demo year (seed 2025) into an empty
warehouse, once; it is meant for demo environments (declare it there with
``needs: [warehouse-migrate]``) and refuses a warehouse that holds real data.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..commands.db import psql_argv
from ..warehouse.demo import DEFAULT_SEED, generate
from ..warehouse.load import DemoDataError, load_dataset
from ..warehouse.migrations import MigrationError, discover
from ..warehouse.migrations import migrate as apply_migrations
from ..warehouse.psql import SqlError
from ..warehouse.roles import ensure_roles
from .base import HookError, HookResult
from .context import HookContext

SERVICE = "warehouse"
CONTAINER = "db"
DATABASE = "warehouse"


@dataclass(frozen=True)
class ContainerPsql:
    """:class:`~zixly_stack.warehouse.psql.SqlRunner` running psql in the warehouse container."""

    ctx: HookContext
    container: str = CONTAINER
    database: str = DATABASE
    service: str = SERVICE

    def run(self, sql: str, *, timeout: float = 120.0) -> str:
        """Run *sql* as the superuser over the container's Unix socket."""
        res = self.ctx.exec(self.container, psql_argv(user="postgres", database=self.database),
                            service=self.service, user="postgres", stdin=sql, timeout=timeout, check=False)
        if not res.ok:
            raise SqlError(self.ctx.redact(res.stderr.strip() or f"psql exited {res.returncode}"))
        return res.stdout


def migrate(ctx: HookContext) -> HookResult:
    """``warehouse-migrate``: migrations, then roles and grants (module docstring)."""
    runner = ContainerPsql(ctx)
    migrations = discover(ctx.root / "services" / SERVICE / "migrations")
    try:
        result = apply_migrations(runner, migrations)
        roles = ensure_roles(runner, {"loader": ctx.secret("warehouse.loader_password"),
                                      "reader": ctx.secret("warehouse.reader_password")})
    except (MigrationError, SqlError) as exc:
        raise HookError(str(exc)) from None
    changes = [f"applied {m.label}" for m in result.applied]
    changes += [f"created role {r}" for r in roles.created]
    changes += [f"set password of {r}" for r in roles.password_set if r not in roles.created]
    applied = {f"migration:{m.label}": m.checksum for m in migrations}
    applied.update({f"role:{r}": ctx.secret(f"warehouse.{r}_password").fingerprint() for r in ("loader", "reader")})
    return HookResult.done(changes, applied, f"schema at {migrations[-1].label}, roles in place")


def load_demo_data(ctx: HookContext) -> HookResult:
    """Demo environments: the demo year (seed 2025), loaded once into an empty warehouse."""
    try:
        loaded = load_dataset(ContainerPsql(ctx), generate(DEFAULT_SEED))
    except (DemoDataError, SqlError) as exc:
        raise HookError(str(exc)) from None
    summary = f"loaded {loaded.rows} demo rows (seed {DEFAULT_SEED})" if loaded.changed else "demo data in place"
    return HookResult(loaded.changed, summary, {f"demo:{DEFAULT_SEED}": loaded.digest})
