"""The schemas, tables and roles the pipeline owns, created idempotently before each run.

``raw`` and ``raw_quarantine`` tables are generated from the landing contracts, so a new
column is declared once. ``bi_reader`` is the only role BI tools get; it sees the
published schema and nothing else. ``cs_reader`` sees the personal-data schema only.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from customer_health.errors import WarehouseError
from customer_health.ingest.contracts import ENTITIES, Entity

BI_ROLE = "bi_reader"
# Reads the personal-data schema (per-person rows) and nothing else; a group role, granted
# to the people in customer success who may see it (`grant cs_reader to alice`).
CS_ROLE = "cs_reader"
LOAD_COLUMNS = sql.SQL(
    "_source_file text not null, _line bigint not null, _logical_date date not null, "
    "_run_id text not null, _loaded_at timestamptz not null default now()"
)

OPS_DDL = """
create schema if not exists ops;
create table if not exists ops.load_ledger (
    ledger_id bigint generated always as identity primary key,
    file_path text not null,
    source text not null,
    entity text not null,
    logical_date date not null,
    size_bytes bigint not null,
    sha256 text not null,
    rows_read bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    status text not null check (status in ('loaded', 'skipped', 'failed')),
    message text,
    run_id text not null,
    started_at timestamptz not null,
    finished_at timestamptz not null default clock_timestamp()
);
-- Size and modification time at load: an unchanged file is skipped without being hashed.
alter table ops.load_ledger add column if not exists stat_signature text;
-- Rejected: an entry that can never load as it is (a name, a header, bytes that do not
-- parse), not tried again until it changes; failed: may load another night (the quarantine
-- threshold). A rejected entry may be no file at all, so it may lack entity, date and hash.
do $$ begin
    if exists (select from pg_attribute where attrelid = 'ops.load_ledger'::regclass
        and attname = 'sha256' and attnotnull) then
        alter table ops.load_ledger alter column source drop not null,
            alter column entity drop not null, alter column logical_date drop not null,
            alter column size_bytes drop not null, alter column sha256 drop not null;
    end if;
    if not exists (select from pg_constraint where conrelid = 'ops.load_ledger'::regclass
        and conname = 'load_ledger_status_check'
        and pg_get_constraintdef(oid) like '%rejected%') then
        alter table ops.load_ledger drop constraint if exists load_ledger_status_check,
            add constraint load_ledger_status_check
            check (status in ('loaded', 'skipped', 'failed', 'rejected'));
    end if;
end $$;
-- When a night failed naming a rejected entry; later nights list it without failing.
alter table ops.load_ledger add column if not exists reported_at timestamptz;
-- Rows that broke the contract, by field and rule: {"score: above the maximum 10": 12}.
alter table ops.load_ledger add column if not exists broken_rules jsonb;
create index if not exists load_ledger_file on ops.load_ledger (file_path, finished_at);
-- Each file is compared with the loaded ones: a byte-identical twin, files of the same day.
create index if not exists load_ledger_sha256 on ops.load_ledger (sha256);
create index if not exists load_ledger_day on ops.load_ledger (entity, logical_date);
create table if not exists ops.run_log (
    run_log_id bigint generated always as identity primary key,
    run_id text not null,
    logical_date date,
    status text not null check (status in ('published', 'failed')),
    failed_step text,
    stages jsonb not null,
    recorded_at timestamptz not null default clock_timestamp()
);
create table if not exists ops.health_alerts_sent (
    alert_id text primary key,
    customer_id text not null,
    alert_date date not null,
    run_id text not null,
    sent_at timestamptz not null default clock_timestamp()
);
-- One night at a time per warehouse, whoever runs it (the CLI or the DAG): a lease, bound
-- to the holder's session when it has one for the whole night (the CLI).
create table if not exists ops.night_lock (
    lock_name text primary key,
    run_id text not null,
    acquired_at timestamptz not null,
    expires_at timestamptz not null,
    backend_pid integer
);
-- Every alert is written here before it is sent, once per target; delivered_at is set only
-- when the target accepted it, so an alert a target missed is sent again by the next run.
create table if not exists ops.alert_outbox (
    outbox_id bigint generated always as identity primary key,
    idempotency_key text not null,
    target text not null,
    kind text not null,
    payload jsonb not null,
    created_at timestamptz not null default clock_timestamp(),
    attempts integer not null default 0,
    last_attempt_at timestamptz,
    last_error text,
    delivered_at timestamptz,
    unique (idempotency_key, target)
);
create index if not exists alert_outbox_pending on ops.alert_outbox (outbox_id)
    where delivered_at is null;
create table if not exists ops.publish_log (
    publish_id bigint generated always as identity primary key,
    action text not null default 'publish' check (action in ('publish', 'rollback')),
    run_id text not null,
    logical_date date,
    published_at timestamptz not null default clock_timestamp(),
    build_schema text,
    backup_schema text,
    git_revision text,
    row_counts jsonb not null,
    gate_results jsonb not null,
    duration_seconds numeric not null
);
"""


def typed_columns(entity: Entity) -> sql.Composed:
    """The contract's columns with their types, as raw tables and their partitions declare them."""
    return sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type)) for c in entity.columns
    )


def _raw_table_ddl(entity: Entity) -> sql.Composed:
    as_text = sql.SQL(", ").join(
        sql.SQL("{} text").format(sql.Identifier(c.name)) for c in entity.columns
    )
    table = sql.Identifier("raw", entity.name)
    quarantine = sql.Identifier("raw_quarantine", entity.name)
    # A column added to the contract later reaches tables created before it (empty in old
    # rows; new partitions could not attach otherwise).
    added = sql.SQL("").join(
        sql.SQL(
            "alter table {table} add column if not exists {name} {type};"
            "alter table {quarantine} add column if not exists {name} text;"
        ).format(
            table=table, quarantine=quarantine, name=sql.Identifier(c.name), type=sql.SQL(c.type)
        )
        for c in entity.columns
    )
    # Each loaded file is attached as partitions (see ingest.file_partitions); readers
    # filtering on _logical_date skip the others by their CHECK constraints, so no index.
    return sql.SQL(
        "create table if not exists {table} ({typed}, {load})"
        " partition by range (_source_file, _line);"
        "create table if not exists {quarantine} ({as_text}, {load}, "
        "_field text not null, _reason text not null);"
        "create index if not exists {index} on {quarantine} (_source_file);{added}"
    ).format(
        table=table,
        typed=typed_columns(entity),
        load=LOAD_COLUMNS,
        index=sql.Identifier(f"{entity.name}_source_file"),
        quarantine=quarantine,
        as_text=as_text,
        added=added,
    )


def _check_raw_is_partitioned(conn: psycopg.Connection) -> None:
    """Raw tables created before loads became partitions cannot be converted in place."""
    flat = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'raw' and c.relkind = 'r'"
    ).fetchall()
    if flat:
        raise WarehouseError(
            f"raw.{flat[0][0]} was created by an older version of the loader (not partitioned "
            "by file); reload the landing files into a new warehouse (for the embedded one: "
            "`customer-health warehouse stop` and remove its data directory)"
        )


def ensure_warehouse_objects(conn: psycopg.Connection, bi_password: str | None) -> None:
    """Create what is missing; never drop or rewrite what exists."""
    with conn.transaction():
        # One bootstrap at a time: concurrent "create if not exists" can still collide.
        conn.execute("select pg_advisory_xact_lock(hashtext('customer_health.bootstrap'))")
        conn.execute(OPS_DDL)
        conn.execute(
            "create schema if not exists raw; create schema if not exists raw_quarantine;"
            "create schema if not exists raw_files;"
            "create unlogged table if not exists raw_files.bad_lines (_part text not null,"
            " _line bigint not null, _rule integer, _kind text not null);"
            "create table if not exists raw_files.customer_keys (customer_id text primary key)"
        )
        _check_raw_is_partitioned(conn)
        for entity in ENTITIES:
            conn.execute(_raw_table_ddl(entity))
        _ensure_reader_roles(conn, bi_password)


def _ensure_role(conn: psycopg.Connection, name: str) -> sql.Identifier:
    role = sql.Identifier(name)
    if not conn.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone():
        conn.execute(sql.SQL("create role {} nologin").format(role))
    return role


def _ensure_reader_roles(conn: psycopg.Connection, password: str | None) -> None:
    role = _ensure_role(conn, BI_ROLE)
    cs_role = _ensure_role(conn, CS_ROLE)
    if password:
        conn.execute(sql.SQL("alter role {} login password {}").format(role, sql.Literal(password)))
    database = conn.info.dbname
    conn.execute(sql.SQL("revoke all on database {} from public").format(sql.Identifier(database)))
    for reader in (role, cs_role):
        conn.execute(
            sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database), reader)
        )
    # The maintenance database is not the readers' business either (its owner keeps access;
    # a pipeline user that does not own it gets a warning and changes nothing).
    if database != "postgres":
        conn.execute("revoke connect, temporary on database postgres from public")
    conn.execute("revoke create on schema public from public")
