"""Publish a validated build schema by swapping it in for ``analytics`` atomically.

Both renames, the move of per-person tables to the personal-data schema, the grants to
``bi_reader`` and ``cs_reader`` and the publish-log row happen in one transaction: a BI
query sees last night's tables or tonight's, never a mix, and ``bi_reader`` is never
granted a per-person table. Renaming a schema does not wait for BI queries reading it
(they keep their snapshot and the tables they opened), so the swap itself never blocks.
Dropping an old backup does wait for its readers, so pruning runs afterwards in its own
transaction with a lock timeout: a BI session still reading a week-old backup delays the
pruning, never the publish.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import structlog
from psycopg import sql

from customer_health.errors import PublishError, PublishLockTimeout
from customer_health.settings import Settings
from customer_health.transform.dbt import personal_data_models
from customer_health.warehouse.bootstrap import BI_ROLE, CS_ROLE

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PublishResult:
    schema: str
    backup_schema: str | None
    row_counts: dict[str, int]
    pruned: list[str]


def code_revision(home: Path) -> str | None:
    """The git commit the pipeline runs from, for the publish log; None outside a checkout."""
    try:
        result = subprocess.run(
            ["git", "-C", str(home), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def table_names(conn: psycopg.Connection, schema: str) -> list[str]:
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
        for table in table_names(conn, schema)
    }


def schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return (
        conn.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone()
        is not None
    )


def backups(conn: psycopg.Connection, published: str) -> list[str]:
    """Backup schemas of the published schema, newest first."""
    rows = conn.execute(
        "select nspname from pg_namespace where nspname like %s order by nspname desc",
        [f"{published}\\_backup\\_%"],
    ).fetchall()
    return [name for (name,) in rows]


def _grant_read(conn: psycopg.Connection, schema: str, role: str) -> None:
    conn.execute(
        sql.SQL("grant usage on schema {} to {}").format(
            sql.Identifier(schema), sql.Identifier(role)
        )
    )
    conn.execute(
        sql.SQL("grant select on all tables in schema {} to {}").format(
            sql.Identifier(schema), sql.Identifier(role)
        )
    )


def _move_personal_tables(
    conn: psycopg.Connection, settings: Settings, published: str, backup: str | None
) -> None:
    """Tonight's per-person tables leave the published schema for the personal one; the
    ones they replace go to the backup (with the rest of that night), or are dropped."""
    personal = settings.personal_schema
    conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(personal)))
    already_there = table_names(conn, personal)
    for table in sorted(personal_data_models(settings) & set(table_names(conn, published))):
        if table in already_there:
            old = sql.Identifier(personal, table)
            if backup is None:
                conn.execute(sql.SQL("drop table {}").format(old))
            else:
                conn.execute(
                    sql.SQL("alter table {} set schema {}").format(old, sql.Identifier(backup))
                )
        conn.execute(
            sql.SQL("alter table {} set schema {}").format(
                sql.Identifier(published, table), sql.Identifier(personal)
            )
        )
    _grant_read(conn, personal, CS_ROLE)


def _swap(
    conn: psycopg.Connection, settings: Settings, incoming: str, published: str, backup: str
) -> bool:
    """Inside the caller's transaction: published → backup (if any), incoming → published,
    per-person tables → the personal schema; then the grants."""
    had_previous = schema_exists(conn, published)
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
            sql.Identifier(incoming), sql.Identifier(published)
        )
    )
    _move_personal_tables(conn, settings, published, backup if had_previous else None)
    _grant_read(conn, published, BI_ROLE)
    return had_previous


def _log_publish(
    conn: psycopg.Connection,
    *,
    action: str,
    run_id: str,
    logical_date: date | None,
    backup: str | None,
    counts: dict,
    gate_results: dict,
    started: datetime,
    settings: Settings,
    build_schema: str | None,
) -> None:
    conn.execute(
        "insert into ops.publish_log (action, run_id, logical_date, build_schema, backup_schema,"
        " git_revision, row_counts, gate_results, duration_seconds) values"
        " (%s, %s, %s, %s, %s, %s, %s, %s, extract(epoch from clock_timestamp() - %s))",
        [
            action,
            run_id,
            logical_date,
            build_schema,
            backup,
            code_revision(settings.home),
            json.dumps(counts),
            json.dumps(gate_results),
            started,
        ],
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")


def publish(
    conn: psycopg.Connection,
    settings: Settings,
    *,
    build_schema: str,
    run_id: str,
    logical_date: date,
    gate_results: dict,
    started: datetime,
) -> PublishResult:
    """Swap ``build_schema`` in as the published schema in one transaction, then prune."""
    published = settings.publish_schema
    backup = f"{published}_backup_{_stamp()}"
    try:
        with conn.transaction():
            conn.execute("select set_config('lock_timeout', %s, true)", [settings.lock_timeout])
            if not schema_exists(conn, build_schema):
                raise PublishError(
                    f"build schema {build_schema!r} does not exist; nothing to publish"
                )
            counts = row_counts(conn, build_schema)
            had_previous = _swap(conn, settings, build_schema, published, backup)
            _log_publish(
                conn,
                action="publish",
                run_id=run_id,
                logical_date=logical_date,
                backup=backup if had_previous else None,
                counts=counts,
                gate_results=gate_results,
                started=started,
                settings=settings,
                build_schema=build_schema,
            )
    except psycopg.errors.LockNotAvailable as error:
        raise PublishLockTimeout(
            f"could not lock {published!r} within {settings.lock_timeout}; "
            "yesterday's tables remain published"
        ) from error
    pruned = prune_backups(conn, settings)
    log.info(
        "published",
        schema=published,
        backup=backup if had_previous else None,
        pruned=pruned,
        **counts,
    )
    return PublishResult(published, backup if had_previous else None, counts, pruned)


def prune_backups(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Drop backups beyond the newest N; a backup still being read stays until next time."""
    pruned = []
    for old in backups(conn, settings.publish_schema)[settings.backups_to_keep :]:
        try:
            with conn.transaction():
                conn.execute("select set_config('lock_timeout', %s, true)", [settings.lock_timeout])
                conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(old)))
            pruned.append(old)
        except psycopg.errors.LockNotAvailable:
            log.warning("backup still in use, kept until the next publish", schema=old)
    return pruned


def rollback(conn: psycopg.Connection, settings: Settings, run_id: str) -> PublishResult:
    """Put the newest backup back as the published schema, in one transaction.

    The tables being replaced are kept as a backup too, so a rollback can itself be undone.
    """
    published = settings.publish_schema
    started = datetime.now(UTC)
    with conn.transaction():
        conn.execute("select set_config('lock_timeout', %s, true)", [settings.lock_timeout])
        available = backups(conn, published)
        if not available:
            raise PublishError(f"no backup of {published!r} to roll back to")
        restored = available[0]
        counts = row_counts(conn, restored)
        replaced = f"{published}_backup_{_stamp()}"
        _swap(conn, settings, restored, published, replaced)
        _log_publish(
            conn,
            action="rollback",
            run_id=run_id,
            logical_date=None,
            backup=replaced,
            counts=counts,
            gate_results={},
            started=started,
            settings=settings,
            build_schema=restored,
        )
    log.info("rolled back", schema=published, restored=restored, replaced_kept_as=replaced)
    return PublishResult(published, replaced, counts, [])
