"""Benchmarks run on the embedded warehouse only, each in databases of its own.

They create, fill and drop databases named in ``Settings.database``; with ``WAREHOUSE_URL``
set, every connection would reach the configured warehouse instead, and a benchmark's nights
would load and publish its synthetic data there. Kept light: a benchmark's measured child
processes import it too.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import psycopg

from customer_health.settings import Settings
from customer_health.warehouse.connection import drop_database, warehouse_url


def require_embedded_warehouse(settings: Settings) -> None:
    if settings.warehouse_url:
        raise SystemExit(
            f"{Path(sys.argv[0]).name}: unset WAREHOUSE_URL; benchmarks run on the embedded"
            " warehouse, in databases of their own"
        )


def admin_connection(settings: Settings) -> psycopg.Connection:
    """Autocommit, to the server's ``postgres`` database: for dropping and copying warehouses."""
    return psycopg.connect(warehouse_url(replace(settings, database="postgres")), autocommit=True)


def fresh_database(settings: Settings) -> Settings:
    """``settings``, its database dropped: the next connection makes it again, empty."""
    with admin_connection(settings) as conn:
        drop_database(conn, settings.database)
    return settings
