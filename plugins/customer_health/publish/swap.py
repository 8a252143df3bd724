"""Publish the validated build schema by swapping it in for ``analytics`` atomically.

Both renames, the grants to ``bi_reader`` and the publish-log row happen in one
transaction: a BI query sees last night's tables or tonight's, never a mix. A lock
timeout bounds how long a long-running BI query can hold the swap up; the transaction
then fails cleanly and yesterday's tables stay published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg
import structlog
from psycopg import sql

from customer_health.errors import PublishError, PublishLockTimeout
from customer_health.settings import Settings
from customer_health.warehouse.bootstrap import BI_ROLE

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PublishResult:
    schema: str
    backup_schema: str | None
    row_counts: dict[str, int]


def _tables(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        "select table_name from information_schema.tables where table_schema = %s "
        "order by table_name",
        [schema],
    ).fetchall()
    return [name for (name,) in rows]


def row_counts(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    return {
        table: conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
        ).fetchone()[0]
        for table in _tables(conn, schema)
    }


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return (
        conn.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone()
        is not None
    )


def _backups(conn: psycopg.Connection, published: str) -> list[str]:
    rows = conn.execute(
        "select nspname from pg_namespace where nspname like %s order by nspname desc",
        [f"{published}\\_backup\\_%"],
    ).fetchall()
    return [name for (name,) in rows]


def publish(
    conn: psycopg.Connection,
    settings: Settings,
    *,
    run_id: str,
    logical_date: date,
    gate_results: dict,
    started: datetime,
) -> PublishResult:
    published, build = settings.publish_schema, settings.build_schema
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    backup = f"{published}_backup_{stamp}"
    try:
        with conn.transaction():
            conn.execute("select set_config('lock_timeout', %s, true)", [settings.lock_timeout])
            if not _schema_exists(conn, build):
                raise PublishError(f"build schema {build!r} does not exist; nothing to publish")
            counts = row_counts(conn, build)
            had_previous = _schema_exists(conn, published)
            if had_previous:
                conn.execute(
                    sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(published), sql.Identifier(backup)
                    )
                )
                conn.execute(
                    sql.SQL("revoke all on schema {} from {}").format(
                        sql.Identifier(backup), sql.Identifier(BI_ROLE)
                    )
                )
            conn.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(build), sql.Identifier(published)
                )
            )
            conn.execute(
                sql.SQL("grant usage on schema {} to {}").format(
                    sql.Identifier(published), sql.Identifier(BI_ROLE)
                )
            )
            conn.execute(
                sql.SQL("grant select on all tables in schema {} to {}").format(
                    sql.Identifier(published), sql.Identifier(BI_ROLE)
                )
            )
            for old in _backups(conn, published)[settings.backups_to_keep :]:
                conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(old)))
            conn.execute(
                "insert into ops.publish_log (run_id, logical_date, backup_schema, row_counts,"
                " gate_results, duration_seconds) values (%s, %s, %s, %s, %s,"
                " extract(epoch from clock_timestamp() - %s))",
                [
                    run_id,
                    logical_date,
                    backup if had_previous else None,
                    json.dumps(counts),
                    json.dumps(gate_results),
                    started,
                ],
            )
    except psycopg.errors.LockNotAvailable as error:
        raise PublishLockTimeout(
            f"could not lock {published!r} within {settings.lock_timeout} (a long BI query?); "
            "yesterday's tables remain published"
        ) from error
    log.info("published", schema=published, backup=backup if had_previous else None, **counts)
    return PublishResult(published, backup if had_previous else None, counts)
