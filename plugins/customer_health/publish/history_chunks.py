"""Drop the health history's month tables that nothing reads any more.

The published ``fct_customer_health_daily`` is a view over month tables ("chunks") in
``core``, written by the dbt hooks in ``dbt_project/macros/health_history_chunks.sql``: a
rescored month gets a new chunk and the old one stays for the views still naming it (last
night's, the backups'). Once the backups reading it are pruned and the registry points its
month elsewhere, a chunk is dead weight. Pruning runs after the backups' pruning, so it
frees their months the same night; PostgreSQL still refuses to drop a chunk a view reads
(no ``cascade``), whatever this query thinks.
"""

from __future__ import annotations

import psycopg
import structlog
from psycopg import sql

from customer_health.settings import Settings

log = structlog.get_logger(__name__)

CHUNKS_SCHEMA = "core"


def prune_history_chunks(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Drop every chunk no registry row names and no view reads; returns their names."""
    unread = conn.execute(
        "select chunk.relname from pg_class as chunk"
        " join pg_namespace as chunk_schema on chunk.relnamespace = chunk_schema.oid"
        " where chunk_schema.nspname = %(schema)s and chunk.relkind = 'r'"
        " and chunk.relname ~ '^health_history_[0-9]{4}_[0-9]{2}_[0-9]+$'"
        " and chunk.relname not in (select chunk_table from core.health_history_chunks)"
        " and not exists (select from pg_depend as reader"
        "  where reader.refobjid = chunk.oid and reader.classid = 'pg_rewrite'::regclass)"
        " order by chunk.relname",
        {"schema": CHUNKS_SCHEMA},
    ).fetchall()
    pruned = []
    for (chunk,) in unread:
        try:
            with conn.transaction():
                conn.execute("select set_config('lock_timeout', %s, true)", [settings.lock_timeout])
                conn.execute(sql.SQL("drop table {}").format(sql.Identifier(CHUNKS_SCHEMA, chunk)))
            pruned.append(chunk)
        except psycopg.errors.LockNotAvailable:
            log.warning("history chunk still in use, kept until the next publish", chunk=chunk)
    return pruned
