"""Drop the health history's month tables that nothing reads any more.

The published ``fct_customer_health_daily`` is a view over month tables ("chunks") in
``core``, written by the dbt hooks in ``dbt_project/macros/health_history_chunks.sql``: a
rescored month gets a new chunk and the old one stays for the views still naming it (last
night's, the backups', a failed night's build schema). Once those are dropped and the
registry points its month elsewhere, a chunk is dead weight. The night prunes after the
backups and the failed nights' build schemas are gone, so it frees their months the same
night. PostgreSQL still refuses to drop a chunk a view reads (no ``cascade``); whatever
stops one drop is logged and leaves that chunk for the next night, never failing a night
already published.
"""

from __future__ import annotations

import psycopg
import structlog
from psycopg import sql

from customer_health.settings import Settings

log = structlog.get_logger(__name__)

CHUNKS_SCHEMA = "core"
REGISTRY = "health_history_chunks"


def prune_history_chunks(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Drop every chunk no registry row names and no view reads; returns their names."""
    registry = sql.Identifier(CHUNKS_SCHEMA, REGISTRY)
    if conn.execute("select to_regclass(%s)", [registry.as_string(conn)]).fetchone()[0] is None:
        return []
    unread = conn.execute(
        sql.SQL(
            "select chunk.relname from pg_class as chunk"
            " join pg_namespace as chunk_schema on chunk.relnamespace = chunk_schema.oid"
            " where chunk_schema.nspname = %(schema)s and chunk.relkind = 'r'"
            " and chunk.relname ~ '^health_history_[0-9]{{4}}_[0-9]{{2}}_[0-9]+$'"
            " and chunk.relname not in (select chunk_table from {registry})"
            " and not exists (select from pg_depend as reader"
            "  where reader.refclassid = 'pg_class'::regclass and reader.refobjid = chunk.oid"
            "  and reader.classid = 'pg_rewrite'::regclass)"
            " order by chunk.relname"
        ).format(registry=registry),
        {"schema": CHUNKS_SCHEMA},
    ).fetchall()
    pruned = []
    for (chunk,) in unread:
        try:
            with conn.transaction():
                conn.execute("select set_config('lock_timeout', %s, true)", [settings.lock_timeout])
                conn.execute(sql.SQL("drop table {}").format(sql.Identifier(CHUNKS_SCHEMA, chunk)))
            pruned.append(chunk)
        except psycopg.Error as error:
            log.warning("history chunk kept until the next night", chunk=chunk, reason=str(error))
    return pruned
