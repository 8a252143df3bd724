"""Where the warehouse is and how to open a connection to it."""

from __future__ import annotations

import psycopg
from psycopg import sql

from customer_health.settings import Settings
from customer_health.warehouse import embedded


def warehouse_url(settings: Settings) -> str:
    """``WAREHOUSE_URL`` when set; otherwise the embedded server, started on demand."""
    if settings.warehouse_url:
        return settings.warehouse_url
    server = embedded.server_for(settings)
    if not embedded.is_running(server):
        embedded.start(server)
    _ensure_database(server.url("postgres"), settings.database)
    return server.url(settings.database)


def bi_reader_password(settings: Settings) -> str | None:
    """BI_READER_PASSWORD when set; the embedded warehouse generates one of its own."""
    if settings.bi_reader_password or settings.warehouse_url:
        return settings.bi_reader_password
    return embedded.server_for(settings).bi_password()


def _ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))


def drop_database(conn: psycopg.Connection, database: str) -> None:
    """Drop a database its clients may still hold open: tests, benchmarks and the screenshot
    start each of their databases over. ``conn`` is an autocommit connection to another one."""
    conn.execute(
        sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database))
    )


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(warehouse_url(settings), autocommit=autocommit)
