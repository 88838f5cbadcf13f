"""Warehouse tests run against a real PostgreSQL (see :mod:`tests.warehouse.pgserver`)."""

from tests.warehouse.pgserver import pg_server, warehouse_db

__all__ = ["pg_server", "warehouse_db"]
