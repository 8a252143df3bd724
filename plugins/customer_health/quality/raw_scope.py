"""What the raw gate validates: the files loaded since the last publish, or every file.

Every rule of the raw suites holds file by file — a contract rule on a row, one row per
file line, the ledger's row count for the file — so the rows of the files that arrived since
the last publish are all a night must check: older files were checked by the night that
published them, and a file never changes in ``raw`` without a new ledger row. Since the
last publish, not by this run: a run that failed after loading leaves files its rerun skips
as unchanged, and they are still unchecked. ``customer-health validate --full`` checks every
file, for a weekly look or after a manual change to ``raw``.

The gate reads a schema of its own with a view per entity and ``load_ledger_files`` (the
newest loaded ledger row of each file in scope); the suites name tables without a schema,
so the same suites validate either scope. A night's views list their files as constants:
``raw`` is partitioned by file, and constants let PostgreSQL skip the other partitions
while planning instead of scanning the history. When the files in scope are every file of
an entity (a first night), its view is the table: a year's 365 constants cost more to
check than the history they would skip (the raw gate of a first night at SF 0.1: about
10 s listed, 5.4 s unlisted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from customer_health.ingest.contracts import ENTITIES
from customer_health.ingest.loader import FINISHED_SINCE_PUBLISH

RAW_SCHEMA = "raw"
LEDGER_FILES = "load_ledger_files"
NEWEST_LOADED = (
    "select distinct on (file_path) file_path, entity, rows_loaded, finished_at"
    " from ops.load_ledger where status = 'loaded' order by file_path, finished_at desc"
)


def scope_schema(run_id: str) -> str:
    return f"raw_scope_{hashlib.sha1(run_id.encode()).hexdigest()[:8]}"


@contextmanager
def raw_scope(conn: psycopg.Connection, run_id: str, *, full: bool) -> Iterator[str]:
    """Create the scope's schema on an autocommit connection, yield its name, drop it."""
    schema = scope_schema(run_id)
    conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    try:
        newest = (
            NEWEST_LOADED
            if full
            else (f"select * from ({NEWEST_LOADED}) newest where {FINISHED_SINCE_PUBLISH}")
        )
        conn.execute(
            sql.SQL("create table {} as " + newest).format(sql.Identifier(schema, LEDGER_FILES))
        )
        loaded = (
            {}
            if full
            else dict(conn.execute(f"select entity, count(*) from ({NEWEST_LOADED}) n group by 1"))
        )
        for entity in ENTITIES:
            _entity_view(conn, schema, entity.name, full, loaded.get(entity.name, 0))
        yield schema
    finally:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def _entity_view(
    conn: psycopg.Connection, schema: str, entity: str, full: bool, loaded: int
) -> None:
    """The entity's rows in scope; ``loaded`` is how many of its files the ledger has loaded.
    The files in scope are some of those: only when fewer are the others filtered out."""
    source = sql.Identifier(RAW_SCHEMA, entity)
    view = sql.Identifier(schema, entity)
    if not full:
        files = [
            path
            for (path,) in conn.execute(
                sql.SQL("select file_path from {} where entity = %s order by file_path").format(
                    sql.Identifier(schema, LEDGER_FILES)
                ),
                [entity],
            )
        ]
        if len(files) < loaded:
            conn.execute(
                sql.SQL("create view {} as select * from {} where _source_file = any({})").format(
                    view, source, sql.Literal(files)
                )
            )
            return
    conn.execute(sql.SQL("create view {} as select * from {}").format(view, source))
