"""Each landing file lands as partitions of its ``raw`` table, one per COPY stream.

``raw.<entity>`` is partitioned by range of (``_source_file``, ``_line``). A stream COPYs its
share of the file straight into a new table of typed columns (``raw_files`` schema, not
visible to dbt or BI), whose defaults supply the file, night and run and whose identity
numbers the lines; a row COPY cannot type is skipped, leaving a gap in the numbering.
The contract's remaining rules then run on typed values, on every stream's own connection
at once; what they find is noted in ``raw_files.bad_lines``. A file small enough for one
part does all of this in the loader's own transaction instead. The loader's
transaction later removes the bad rows and attaches the tables: attaching is a catalog
change (their CHECK constraints prove the range), so the rows are written once, in
parallel, and appear in ``raw`` all at once when the ledger row commits.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from customer_health.errors import FileRejected
from customer_health.ingest.contracts import Entity
from customer_health.ingest.rules import duplicate_rule_numbers, first_broken
from customer_health.ingest.segments import Segment
from customer_health.warehouse.bootstrap import typed_columns

SCHEMA = "raw_files"
# The bad lines of the parts being loaded, by part; unlogged scratch shared by all loads.
BAD_LINES = sql.Identifier(SCHEMA, "bad_lines")
CUSTOMER_KEYS = sql.Identifier(SCHEMA, "customer_keys")
SKIPPED_NOTICE = re.compile(r"^(\d+) rows? (?:was|were) skipped")
COPY_CONTEXT = re.compile(r"^COPY [^,]+, line (\d+)")


@dataclass(frozen=True)
class Part:
    """One stream's share of one file and the table it lands in."""

    entity: Entity
    path: str
    logical_date: date
    run_id: str
    segment: Segment
    next_line: int | None  # first line of the following part; None for the last part
    name: str

    @property
    def table(self) -> sql.Identifier:
        return sql.Identifier(SCHEMA, self.name)

    @property
    def bounds(self) -> sql.Composed:
        path = sql.Literal(self.path)
        low = (
            sql.SQL("minvalue") if self.segment.start == 0 else sql.Literal(self.segment.first_line)
        )
        high = sql.SQL("maxvalue") if self.next_line is None else sql.Literal(self.next_line)
        return sql.SQL("from ({path}, {low}) to ({path}, {high})").format(
            path=path, low=low, high=high
        )


def file_prefix(entity: Entity, path: str) -> str:
    """The start of the names of every partition holding this file's rows."""
    return f"{entity.name}_{hashlib.md5(path.encode()).hexdigest()[:16]}_"


def plan_parts(
    entity: Entity, path: str, logical_date: date, run_id: str, segments: list[Segment], load: str
) -> list[Part]:
    next_lines = [s.first_line for s in segments[1:]] + [None]
    return [
        Part(
            entity,
            path,
            logical_date,
            run_id,
            segment,
            next_line,
            f"{file_prefix(entity, path)}{load}_{n}",
        )
        for n, (segment, next_line) in enumerate(zip(segments, next_lines, strict=True), 1)
    ]


def _create_sql(part: Part, header: list[str]) -> sql.Composed:
    """The part's table: the parent's columns, whose defaults say where each row came from,
    and CHECK constraints that prove the partition range when it is attached."""
    line_range = [sql.SQL("_source_file = {}").format(sql.Literal(part.path))]
    if part.segment.start:
        line_range.append(sql.SQL("_line >= {}").format(sql.Literal(part.segment.first_line)))
    if part.next_line is not None:
        line_range.append(sql.SQL("_line < {}").format(sql.Literal(part.next_line)))
    return sql.SQL(
        "create table {table} ({columns},"
        " _source_file text not null default {path},"
        " _line bigint generated always as identity (start with {first} cache 100000),"
        " _logical_date date not null default {day}, _run_id text not null default {run},"
        " _loaded_at timestamptz not null default {now},"
        " check ({line_range}), check (_logical_date = {day}))"
    ).format(
        table=part.table,
        columns=sql.SQL(", ").join(
            [
                typed_columns(part.entity),
                *(
                    sql.SQL("{} text").format(sql.Identifier(n))
                    for n in part.entity.unknown_names(header)
                ),
            ]
        ),
        path=sql.Literal(part.path),
        first=sql.Literal(part.segment.first_line),
        day=sql.Literal(part.logical_date),
        run=sql.Literal(part.run_id),
        # The time of the part's creation as a constant, not a function called per row.
        now=sql.Literal(datetime.now(UTC)),
        line_range=sql.SQL(" and ").join(line_range),
    )


@dataclass(frozen=True)
class Copied:
    rows: int  # lines read, skipped ones included
    skipped: int  # lines COPY could not type
    spaces: bool  # whether any byte was a space: without one no value needs trimming


def atomically(conn: psycopg.Connection) -> AbstractContextManager:
    """A stream's connection (autocommit) does a part's work in a transaction of its own. A
    one-part file does it in the loader's transaction, whose rollback covers it already: a
    savepoint there would add two round trips to each of a first night's 1,300 small files."""
    if conn.info.transaction_status == TransactionStatus.INTRANS:
        return nullcontext()
    return conn.transaction()


def copy_part(
    conn: psycopg.Connection, part: Part, header: list[str], data: Iterable[bytes]
) -> Copied:
    """Create the part's table and COPY its share of the file.

    Table and rows in one transaction: then FREEZE can write the rows visible to everyone
    from the start, so the scans after it need not set hint bits on every page.
    """
    skipped, spaces = 0, False

    def count_skipped(diagnostic: psycopg.errors.Diagnostic) -> None:
        nonlocal skipped
        if match := SKIPPED_NOTICE.match(diagnostic.message_primary or ""):
            skipped = int(match.group(1))

    conn.add_notice_handler(count_skipped)
    copy = sql.SQL(
        "copy {} ({}) from stdin with (format csv, header {}, encoding 'UTF8', freeze,"
        " force_null *, on_error ignore)"
    ).format(
        part.table,
        sql.SQL(", ").join(sql.Identifier(name) for name in header),
        sql.SQL("true" if part.segment.start == 0 else "false"),
    )
    try:
        with atomically(conn):
            conn.execute(_create_sql(part, header))
            cursor = conn.cursor()
            with cursor.copy(copy) as stream:
                for chunk in data:
                    spaces = spaces or b" " in chunk
                    stream.write(chunk)
            copied = cursor.rowcount
            # Columns the contract does not know were read (COPY needs a place) and go.
            if extras := part.entity.unknown_names(header):
                conn.execute(
                    sql.SQL("alter table {} {}").format(
                        part.table,
                        sql.SQL(", ").join(
                            sql.SQL("drop column {}").format(sql.Identifier(n)) for n in extras
                        ),
                    )
                )
    except psycopg.errors.DataError as error:
        raise copy_error(part.path, error, part.segment) from error
    finally:
        conn.remove_notice_handler(count_skipped)
    return Copied(copied + skipped, skipped, spaces)


def copy_error(path: str, error: psycopg.errors.DataError, segment: Segment) -> FileRejected:
    """COPY's error with its position in the whole file: a part's line numbers count from
    the part's start."""
    detail = (error.diag.message_primary or str(error)).strip()
    context = (error.diag.context or "").strip()
    match = COPY_CONTEXT.match(context)
    if not match:
        return FileRejected(f"{path}: {detail}")
    line = int(match.group(1)) + segment.lines_before
    return FileRejected(f"{path} line {line}{context[match.end() :]}: {detail}")


def check_part(conn: psycopg.Connection, part: Part, copied: Copied) -> None:
    """Record the part's bad lines: the lines COPY skipped (the gaps in the line numbers)
    and the rules typed values break. Text with spaces around it is trimmed first (blank
    is missing); the scan only looks closer at rows with a space somewhere, and not at all
    when the part had no space byte."""
    text = [sql.Identifier(c.name) for c in part.entity.columns if c.type == "text"]
    padded = (
        sql.SQL("strpos(concat({}), ' ') > 0 and ({})").format(
            sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in text),
            sql.SQL(" or ").join(sql.SQL("t.{0} <> btrim(t.{0})").format(c) for c in text),
        )
        if copied.spaces
        else sql.SQL("false")
    )
    rule = first_broken(part.entity, part.logical_date, typed=True)
    with atomically(conn):
        conn.execute(
            sql.SQL(
                "insert into {bad} (_part, _line, _rule, _kind) "
                "select {name}, _line, _rule, case when _padded then 'padded' else 'rule' end "
                "from (select t._line, {rule} as _rule, {padded} as _padded from {table} t) s "
                "where _rule is not null or _padded"
            ).format(
                bad=BAD_LINES,
                name=sql.Literal(part.name),
                rule=rule,
                padded=padded,
                table=part.table,
            )
        )
        trimmed = 0
        if copied.spaces:
            trimmed = conn.execute(
                sql.SQL(
                    "update {table} t set {trim} from {bad} b "
                    "where b._part = {name} and b._line = t._line and b._kind = 'padded'"
                ).format(
                    table=part.table,
                    trim=sql.SQL(", ").join(
                        sql.SQL("{0} = nullif(btrim(t.{0}), '')").format(c) for c in text
                    ),
                    bad=BAD_LINES,
                    name=sql.Literal(part.name),
                )
            ).rowcount
        if trimmed:
            conn.execute(
                sql.SQL(
                    "insert into {bad} (_part, _line, _rule, _kind) select {name}, _line, _rule,"
                    " 'rule' from (select t._line, {rule} as _rule from {table} t join {bad} b"
                    " on b._part = {name} and b._line = t._line and b._kind = 'padded') s"
                    " where _rule is not null"
                ).format(bad=BAD_LINES, name=sql.Literal(part.name), rule=rule, table=part.table)
            )
        if copied.skipped:
            conn.execute(
                sql.SQL(
                    "insert into {bad} (_part, _line, _kind) select {name}, g, 'skipped' "
                    "from generate_series({first}::bigint, {last}::bigint) g "
                    "where not exists (select from {table} t where t._line = g)"
                ).format(
                    bad=BAD_LINES,
                    name=sql.Literal(part.name),
                    first=sql.Literal(part.segment.first_line),
                    last=sql.Literal(part.segment.first_line + copied.rows - 1),
                    table=part.table,
                )
            )


def mark_duplicates(conn: psycopg.Connection, parts: list[Part], share: int) -> None:
    """Record the lines whose key appears more than once in the file, for the keys whose
    hash falls in ``share`` of ``len(parts)``: each stream's connection takes one share.
    Comparing 64-bit hashes is cheaper than comparing text; rows are then grouped by the
    key itself, so a collision of hashes flags nothing."""
    entity, key = parts[0].entity, sql.Identifier(parts[0].entity.key)
    hashed = sql.SQL(" union all ").join(
        sql.SQL("select hashtextextended(t.{}::text, 0) as _hash, t.* from {} t").format(
            key, p.table
        )
        for p in parts
    )
    in_share = sql.SQL("t.{key} is not null and abs(_hash % {parts}) = {share}").format(
        key=key, parts=sql.Literal(len(parts)), share=sql.Literal(share)
    )
    # Whether there is any duplicate first, and by sorting the hashes: faster than hashing
    # them into one group each, and the usual answer (none) ends the check.
    any_duplicate = sql.SQL(
        "select count(*) <> count(distinct _hash) from ({hashed}) t where {in_share}"
    ).format(hashed=hashed, in_share=in_share)
    if not conn.execute(any_duplicate).fetchone()[0]:
        return
    duplicate_hashes = sql.SQL(
        "select _hash from ({hashed}) t where {in_share} group by _hash having count(*) > 1"
    ).format(hashed=hashed, in_share=in_share)
    conflicting, exact, _ = duplicate_rule_numbers(entity, parts[0].logical_date)
    content = sql.SQL("md5(row({})::text)").format(
        sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(n)) for n in entity.column_names)
    )
    conn.execute(
        sql.SQL(
            "insert into {bad} (_part, _line, _rule, _kind) "
            "select {name}, _line, case when _conflict then {conflicting} else {exact} end,"
            " 'rule' "
            "from (select t._line,"
            "  min({content}) over w <> max({content}) over w as _conflict,"
            "  row_number() over (partition by t.{key} order by t._line) as _nth"
            "  from ({hashed}) t where t._hash in ({duplicate_hashes})"
            "  window w as (partition by t.{key})) s "
            "where _conflict or _nth > 1"
        ).format(
            bad=BAD_LINES,
            name=sql.Literal(parts[share].name),
            conflicting=sql.Literal(conflicting),
            exact=sql.Literal(exact),
            content=content,
            key=key,
            hashed=hashed,
            duplicate_hashes=duplicate_hashes,
        )
    )


def mark_loaded_elsewhere(
    conn: psycopg.Connection, parts: list[Part], paths: list[str]
) -> dict[str, int]:
    """Record the lines one of ``paths`` (files of the same entity and day) already loaded:
    the same rows sent again under another name must not be in raw twice. For events and
    responses a key is a row; a change log may restate a key the same day (a correction),
    so there only a row equal in every column repeats. Reads only those files' partitions;
    returns how many lines each file repeats (a line counted once, for the first file)."""
    entity = parts[0].entity
    *_, loaded_elsewhere = duplicate_rule_numbers(entity, parts[0].logical_date)
    same_row = sql.SQL("r.{0} = t.{0}").format(sql.Identifier(entity.key))
    if entity.versioned:
        columns = [sql.Identifier(name) for name in entity.column_names]
        same_row = sql.SQL("{} and ({}) is not distinct from ({})").format(
            same_row,
            sql.SQL(", ").join(sql.SQL("r.{}").format(c) for c in columns),
            sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in columns),
        )
    repeated: dict[str, int] = {}
    for part in parts:
        rows = conn.execute(
            sql.SQL(
                "with found as (select distinct on (t._line) t._line, r._source_file"
                "  from {table} t join {raw} r on {same_row}"
                "  and r._source_file in ({paths}) order by t._line, r._source_file),"
                " marked as (insert into {bad} (_part, _line, _rule, _kind)"
                "  select {name}, _line, {rule}, 'rule' from found)"
                " select _source_file, count(*) from found group by 1 order by 1"
            ).format(
                table=part.table,
                raw=sql.Identifier("raw", entity.name),
                same_row=same_row,
                paths=sql.SQL(", ").join(sql.Literal(path) for path in paths),
                bad=BAD_LINES,
                name=sql.Literal(part.name),
                rule=sql.Literal(loaded_elsewhere),
            )
        ).fetchall()
        for path, count in rows:
            repeated[path] = repeated.get(path, 0) + count
    return repeated


def bad_lines(parts: list[Part]) -> sql.Composed:
    """Each quarantined line once, with the number of its first broken rule when the typed
    checks know it (NULL for lines COPY skipped)."""
    return sql.SQL(
        "select _line, min(_rule) as _rule from {} where _part in ({}) and _kind <> 'padded'"
        " group by _line"
    ).format(BAD_LINES, sql.SQL(", ").join(sql.Literal(p.name) for p in parts))


def drop_bad_rows(conn: psycopg.Connection, parts: list[Part]) -> int:
    """Delete the quarantined lines from the parts (a duplicate found by one stream's share
    may sit in another stream's part); returns the rows deleted."""
    return sum(
        conn.execute(
            sql.SQL("delete from {} t using ({}) b where b._line = t._line").format(
                part.table, bad_lines(parts)
            )
        ).rowcount
        for part in parts
    )


def drop_loaded_partitions(conn: psycopg.Connection, entity: Entity, path: str) -> bool:
    """Remove the partitions of an earlier load of this file (a corrected file replaces it);
    returns whether there were any."""
    prefix = file_prefix(entity, path)
    # A range on the name, which pg_class has an index on; the prefix ends with "_".
    names = conn.execute(
        "select c.relname from pg_class c join pg_inherits i on i.inhrelid = c.oid"
        " where c.relname >= %s and c.relname < %s and c.relnamespace = %s::regnamespace"
        " and i.inhparent = %s::regclass",
        [prefix, prefix[:-1] + "`", SCHEMA, f"raw.{entity.name}"],
    ).fetchall()
    for (name,) in names:
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier(SCHEMA, name)))
    return bool(names)


def remember_customer_keys(conn: psycopg.Connection, parts: list[Part], replaced: bool) -> None:
    """Keep ``raw_files.customer_keys``, the keys every loaded customers file holds, which
    the unknown-customer rule reads: one small table instead of every customers partition,
    whose number grows by one a night. A replaced file may have taken keys away: rebuilt."""
    if replaced:
        conn.execute(
            sql.SQL(
                "delete from {keys}; insert into {keys} select distinct customer_id"
                " from raw.customers where customer_id is not null"
            ).format(keys=CUSTOMER_KEYS)
        )
    for part in parts:
        conn.execute(
            sql.SQL(
                "insert into {} select distinct customer_id from {} where customer_id is not null"
                " on conflict do nothing"
            ).format(CUSTOMER_KEYS, part.table)
        )


def attach(conn: psycopg.Connection, parts: list[Part]) -> None:
    for part in parts:
        parent = sql.Identifier("raw", part.entity.name)
        conn.execute(
            sql.SQL(
                "alter table {table} alter _line drop identity;"
                "alter table {parent} attach partition {table} for values {bounds};"
                "delete from {bad} where _part = {name}"
            ).format(
                table=part.table,
                parent=parent,
                bounds=part.bounds,
                bad=BAD_LINES,
                name=sql.Literal(part.name),
            )
        )


def drop_parts(conn: psycopg.Connection, parts: Iterable[Part]) -> None:
    """Remove a load's tables: one that did not finish, or a file without a row to keep."""
    for part in parts:
        conn.execute(sql.SQL("drop table if exists {}").format(part.table))
        conn.execute(
            sql.SQL("delete from {} where _part = {}").format(BAD_LINES, sql.Literal(part.name))
        )


def sweep_leftovers(conn: psycopg.Connection) -> list[str]:
    """Drop what loads that never finished left in ``raw_files`` (a loader killed between
    its streams' COPY and the attach): tables that are no partition of ``raw``, and their
    bad lines. Only safe while no other load runs: the night's ingest calls it holding the
    ingest advisory lock (one ingest at a time). Returns the tables dropped."""
    names = [
        name
        for (name,) in conn.execute(
            "select c.relname from pg_class c where c.relnamespace = %s::regnamespace"
            " and c.relkind = 'r' and c.relname not in ('bad_lines', 'customer_keys')"
            " and not exists (select from pg_inherits i where i.inhrelid = c.oid)"
            " order by 1",
            [SCHEMA],
        )
    ]
    for name in names:
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier(SCHEMA, name)))
    conn.execute(sql.SQL("truncate {}").format(BAD_LINES))
    return names


def byte_range(handle, segment: Segment, chunk: int) -> Iterator[bytes]:
    """The bytes of one segment of an open file."""
    handle.seek(segment.start)
    remaining = None if segment.end is None else segment.end - segment.start
    while remaining is None or remaining > 0:
        data = handle.read(chunk if remaining is None else min(chunk, remaining))
        if not data:
            return
        if remaining is not None:
            remaining -= len(data)
        yield data
