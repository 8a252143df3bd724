"""Stream one landing file into its ``raw`` table, quarantining rows that break the contract.

The file is streamed with COPY into a temporary table of text columns (bounded memory,
whatever its size); every rule of the contract is then checked in one set-based SQL pass
that gives each row its first failing field and reason. Good rows are cast into ``raw``,
bad rows go to ``raw_quarantine`` with file, line, field and reason, and the ledger row
is written in the same transaction, so a file is either fully loaded or not at all.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import fsspec
import psycopg
import structlog
from psycopg import sql

from customer_health.errors import IngestError
from customer_health.ingest.contracts import Column, Entity
from customer_health.ingest.landing import LandingFile, open_binary

log = structlog.get_logger(__name__)

CHUNK = 1 << 20


@dataclass(frozen=True)
class LoadResult:
    path: str
    entity: str
    status: str  # loaded / skipped
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    replaced: bool = False


def _stat_signature(landing: LandingFile) -> str | None:
    """Size and modification time as the file system reports them, or None when it reports
    no time; recorded with each load for `unchanged_since_last_load`."""
    fs, path = fsspec.core.url_to_fs(landing.url)
    info = fs.info(path)
    modified = next(
        (info[key] for key in ("mtime", "LastModified", "last_modified") if info.get(key)), None
    )
    return f"{info.get('size')}@{modified}" if modified is not None else None


def _fingerprint(landing: LandingFile) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open_binary(landing) as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _source_bytes(landing: LandingFile) -> Iterator[bytes]:
    """The file as CSV bytes, streamed: gzip is decompressed, Parquet converted batch by batch."""
    if landing.path.endswith(".parquet"):
        yield from _parquet_as_csv(landing)
        return
    with open_binary(landing) as handle:
        stream = gzip.GzipFile(fileobj=handle) if landing.path.endswith(".gz") else handle
        try:
            while chunk := stream.read(CHUNK):
                yield chunk
        except (EOFError, gzip.BadGzipFile, OSError) as error:
            raise IngestError(f"{landing.path}: cannot be decompressed ({error})") from error


def _parquet_as_csv(landing: LandingFile) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    with open_binary(landing) as handle:
        try:
            parquet = pq.ParquetFile(handle)
            for number, batch in enumerate(parquet.iter_batches(batch_size=65_536)):
                text = pa.table({n: batch.column(n).cast(pa.string()) for n in batch.schema.names})
                out = io.BytesIO()
                pa_csv.write_csv(text, out, pa_csv.WriteOptions(include_header=number == 0))
                yield out.getvalue()
        except (pa.ArrowException, OSError) as error:
            raise IngestError(f"{landing.path}: not a readable Parquet file ({error})") from error


def _parquet_header(landing: LandingFile) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open_binary(landing) as handle:
        try:
            return list(pq.ParquetFile(handle).schema_arrow.names)
        except (pa.ArrowException, OSError) as error:
            raise IngestError(f"{landing.path}: not a readable Parquet file ({error})") from error


def _read_header(landing: LandingFile) -> list[str]:
    if landing.path.endswith(".parquet"):
        return _parquet_header(landing)
    buffer = b""
    for chunk in _source_bytes(landing):
        buffer += chunk
        if b"\n" in buffer or len(buffer) > CHUNK:
            break
    first_line = buffer.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise IngestError(f"{landing.path} line 1: header is not valid UTF-8") from error
    if not text.strip():
        raise IngestError(f"{landing.path}: file is empty (no header line)")
    header = [name.strip() for name in next(csv.reader(io.StringIO(text)))]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise IngestError(f"{landing.path} line 1: column {duplicates[0]!r} appears twice")
    return header


def _check_header(landing: LandingFile, header: list[str]) -> None:
    entity = landing.entity
    missing = [name for name in entity.required_names if name not in header]
    if missing:
        raise IngestError(
            f"{landing.path}: required column {missing[0]!r} is missing "
            f"(found: {', '.join(header)})"
        )
    extra = [name for name in header if name not in entity.column_names]
    if extra:
        log.warning("ignoring unknown columns", file=landing.path, columns=extra)


def _value(column: Column) -> sql.Composable:
    """A column of the checked rows: its trimmed text, NULL when blank or absent."""
    return sql.SQL("c.{}").format(sql.Identifier(column.name))


def _rules(column: Column, file_date: date) -> list[tuple[sql.Composable, sql.Composable]]:
    """(condition that marks a row bad, reason) pairs for one column, in priority order."""
    value = _value(column)
    rules: list[tuple[sql.Composable, sql.Composable]] = []
    if column.required:
        rules.append((sql.SQL("{} is null").format(value), sql.Literal("missing required value")))
    if column.type != "text":
        rules.append(
            (
                sql.SQL("{v} is not null and not pg_input_is_valid({v}, {t})").format(
                    v=value, t=sql.Literal(column.type)
                ),
                sql.SQL("format('%L is not a valid {}', left({}, 60))").format(
                    sql.SQL(column.type), value
                ),
            )
        )
    if column.allowed:
        rules.append(
            (
                sql.SQL("{} not in ({})").format(
                    value, sql.SQL(", ").join(sql.Literal(a) for a in column.allowed)
                ),
                sql.SQL("format('%L is not one of {}', left({}, 60))").format(
                    sql.SQL(", ".join(column.allowed).replace("%", "%%")), value
                ),
            )
        )
    for bound, operator in ((column.minimum, "<"), (column.maximum, ">")):
        if bound is not None:
            rules.append(
                (
                    sql.SQL("{v}::numeric {op} {b}").format(
                        v=value, op=sql.SQL(operator), b=sql.Literal(bound)
                    ),
                    sql.SQL("format('%s is {} {}', {})").format(
                        sql.SQL("below the minimum" if operator == "<" else "above the maximum"),
                        sql.SQL(f"{bound:g}"),
                        value,
                    ),
                )
            )
    if column.not_after_file_date:
        # A day of slack for time zones; later than that is a clock or export error.
        latest = file_date + timedelta(days=2)
        rules.append(
            (
                sql.SQL("{}::timestamptz >= {}").format(value, sql.Literal(latest)),
                sql.SQL("format('%s is after the file''s date {}', {})").format(
                    sql.SQL(file_date.isoformat()), value
                ),
            )
        )
    if column.references_customer:
        rules.append(
            (
                # NOT IN over a small key list runs as one hashed subplan, not a lookup per row.
                sql.SQL(
                    "{} not in (select c.customer_id from raw.customers c"
                    " where c.customer_id is not null)"
                ).format(value),
                sql.SQL("format('unknown customer %L', {})").format(value),
            )
        )
    return rules


def _ordered_rules(
    entity: Entity, file_date: date
) -> list[tuple[str, sql.Composable, sql.Composable]]:
    """(field, condition, reason) of every rule, in the order a row's first failure is found."""
    key_column = next(c for c in entity.columns if c.name == entity.key)
    duplicate_rules = [
        (
            sql.SQL("c._duplicate and c._conflict"),
            sql.Literal("key appears more than once in the file with different content"),
        ),
        (sql.SQL("c._duplicate and c._nth > 1"), sql.Literal("exact duplicate of an earlier row")),
    ]
    # A bad key is reported as such before it is reported as a duplicate.
    ordered = [(key_column.name, *rule) for rule in _rules(key_column, file_date)]
    ordered += [(entity.key, *rule) for rule in duplicate_rules]
    ordered += [
        (column.name, *rule)
        for column in entity.columns
        if column is not key_column
        for rule in _rules(column, file_date)
    ]
    return ordered


def _checked_rows_sql(entity: Entity, header: list[str], file_date: date) -> sql.Composed:
    """One pass over the incoming rows giving each the number of its first broken rule.

    Values are trimmed once; duplicate keys come from a hash aggregate, and only their rows
    are hashed and ranked; the rule number is all a good row carries, the field and reason
    text are produced for bad rows only (see ``_quarantine_sql``).
    """
    key = sql.Identifier(entity.key)
    whole_row = sql.SQL("md5(row({})::text)").format(
        sql.SQL(", ").join(sql.SQL("x.{}").format(sql.Identifier(n)) for n in header)
    )
    cleaned = sql.SQL(", ").join(
        sql.SQL("nullif(btrim(i.{0}), '') as {0}").format(sql.Identifier(c.name))
        if c.name in header
        else sql.SQL("null::text as {}").format(sql.Identifier(c.name))
        for c in entity.columns
    )
    rule_number = sql.SQL("case {} end").format(
        sql.SQL(" ").join(
            sql.SQL("when {} then {}").format(condition, sql.Literal(number))
            for number, (_, condition, _) in enumerate(_ordered_rules(entity, file_date), 1)
        )
    )
    return sql.SQL(
        "create temp table _checked on commit drop as "
        "with duplicate_keys as ("
        "  select {key} from _incoming group by {key} having count(*) > 1"
        "), duplicates as ("
        "  select x._line, row_number() over (partition by x.{key} order by x._line) as _nth,"
        "         min({hash}) over w <> max({hash}) over w as _conflict"
        "  from _incoming x join duplicate_keys k on x.{key} = k.{key}"
        "  window w as (partition by x.{key})"
        "), cleaned as ("
        "  select i._line, {cleaned}, d._line is not null as _duplicate,"
        "         coalesce(d._nth, 1) as _nth, coalesce(d._conflict, false) as _conflict"
        "  from _incoming i left join duplicates d on d._line = i._line"
        ") select c.*, {rule} as _rule from cleaned c"
    ).format(key=key, hash=whole_row, cleaned=cleaned, rule=rule_number)


def _outcome_of_rule(entity: Entity, file_date: date) -> tuple[sql.Composed, sql.Composed]:
    """The field and the reason text of the rule a bad row broke (``c._rule``)."""
    rules = list(enumerate(_ordered_rules(entity, file_date), 1))
    field = sql.SQL("case c._rule {} end").format(
        sql.SQL(" ").join(
            sql.SQL("when {} then {}").format(sql.Literal(n), sql.Literal(name))
            for n, (name, _, _) in rules
        )
    )
    reason = sql.SQL("case c._rule {} end").format(
        sql.SQL(" ").join(
            sql.SQL("when {} then {}").format(sql.Literal(n), text) for n, (_, _, text) in rules
        )
    )
    return field, reason


def _previous_checksum(conn: psycopg.Connection, path: str) -> str | None:
    row = conn.execute(
        "select sha256 from ops.load_ledger where file_path = %s and status = 'loaded' "
        "order by finished_at desc limit 1",
        [path],
    ).fetchone()
    return row[0] if row else None


def _copy_into_incoming(conn: psycopg.Connection, landing: LandingFile, header: list[str]) -> int:
    """Stream the file into a temporary table of text columns; returns the rows read."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in header)
    conn.execute(
        sql.SQL(
            "create temp table _incoming (_line bigint generated always as identity (start 2), {})"
            " on commit drop"
        ).format(sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(n)) for n in header))
    )
    copy = sql.SQL(
        "copy _incoming ({}) from stdin with (format csv, header true, encoding 'UTF8')"
    ).format(columns)
    try:
        cursor = conn.cursor()
        with cursor.copy(copy) as stream:
            for chunk in _source_bytes(landing):
                stream.write(chunk)
    except psycopg.errors.DataError as error:
        detail = (error.diag.message_primary or str(error)).strip()
        where = (error.diag.context or "").replace("COPY _incoming, ", "").strip()
        raise IngestError(f"{landing.path} {where}: {detail}") from error
    return cursor.rowcount


def load_file(
    conn: psycopg.Connection,
    landing: LandingFile,
    run_id: str,
    threshold: float,
    tolerated_rows: int = 0,
) -> LoadResult:
    """Load one file exactly once per content; a changed file replaces its earlier rows.

    The file is hashed to compare it with its last load; a night first drops the files
    `unchanged_since_last_load` finds, so unchanged history is not read at all.

    The file fails, loading nothing, when more than ``threshold`` of its rows and more than
    ``tolerated_rows`` rows break the contract: one bad row in a 40-row weekend file is
    quarantined, a systematically broken export is stopped.
    """
    started = datetime.now(UTC)
    skipped = LoadResult(landing.path, landing.entity.name, "skipped")
    signature = _stat_signature(landing)
    checksum, size = _fingerprint(landing)
    if _previous_checksum(conn, landing.path) == checksum:
        return skipped
    entity = landing.entity
    try:
        header = _read_header(landing)
        _check_header(landing, header)
        with conn.transaction():
            # A second loader of the same file waits here, then finds the first one's ledger row.
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [landing.path])
            previous = _previous_checksum(conn, landing.path)
            if previous == checksum:
                return skipped
            counts = _load_in_transaction(conn, landing, header, run_id, previous is not None)
            read, loaded, quarantined = counts
            if quarantined > tolerated_rows and quarantined / read > threshold:
                raise IngestError(
                    f"{landing.path}: {quarantined} of {read} rows broke the contract, more than "
                    f"the {threshold:.1%} allowed (QUARANTINE_THRESHOLD); nothing was loaded"
                )
            _record(
                conn, landing, (checksum, size, signature), counts, "loaded", None, run_id, started
            )
    except IngestError as error:
        fingerprint = (checksum, size, signature)
        _record(conn, landing, fingerprint, (0, 0, 0), "failed", str(error), run_id, started)
        raise
    log.info(
        "loaded file",
        file=landing.path,
        rows=loaded,
        quarantined=quarantined,
        replaced=previous is not None,
    )
    return LoadResult(
        landing.path, entity.name, "loaded", read, loaded, quarantined, previous is not None
    )


def _load_in_transaction(
    conn: psycopg.Connection, landing: LandingFile, header: list[str], run_id: str, replace: bool
) -> tuple[int, int, int]:
    entity = landing.entity
    read = _copy_into_incoming(conn, landing, header)
    conn.execute(_checked_rows_sql(entity, header, landing.logical_date))
    raw_table = sql.Identifier("raw", entity.name)
    quarantine_table = sql.Identifier("raw_quarantine", entity.name)
    if replace:
        for table in (raw_table, quarantine_table):
            conn.execute(
                sql.SQL("delete from {} where _source_file = %s").format(table), [landing.path]
            )
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in entity.columns)
    meta = sql.SQL("_source_file, _line, _logical_date, _run_id")
    typed = sql.SQL(", ").join(
        sql.SQL("{}::{}").format(_value(c), sql.SQL(c.type)) for c in entity.columns
    )
    as_text = sql.SQL(", ").join(
        sql.SQL("i.{}").format(sql.Identifier(c.name)) if c.name in header else sql.SQL("null")
        for c in entity.columns
    )
    # Literals, not placeholders: the reason expressions use format()'s own % codes.
    source = sql.SQL("{}, c._line, {}, {}").format(
        sql.Literal(landing.path), sql.Literal(landing.logical_date), sql.Literal(run_id)
    )
    loaded = conn.execute(
        sql.SQL(
            "insert into {} ({}, {}) select {}, {} from _checked c where c._rule is null"
        ).format(raw_table, names, meta, typed, source)
    ).rowcount
    if loaded == read:
        return read, loaded, 0
    # Quarantined rows keep their text exactly as received, with the rule they broke.
    field, reason = _outcome_of_rule(entity, landing.logical_date)
    quarantined = conn.execute(
        sql.SQL(
            "insert into {} ({}, {}, _field, _reason) select {}, {}, {}, {} "
            "from _checked c join _incoming i on i._line = c._line where c._rule is not null"
        ).format(quarantine_table, names, meta, as_text, source, field, reason)
    ).rowcount
    return loaded + quarantined, loaded, quarantined


def _record(
    conn: psycopg.Connection,
    landing: LandingFile,
    fingerprint: tuple[str, int, str | None],
    counts: tuple[int, int, int],
    status: str,
    message: str | None,
    run_id: str,
    started: datetime,
) -> None:
    conn.execute(
        "insert into ops.load_ledger (file_path, source, entity, logical_date, sha256, size_bytes,"
        " stat_signature, rows_read, rows_loaded, rows_quarantined, status, message, run_id,"
        " started_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            landing.path,
            landing.entity.source,
            landing.entity.name,
            landing.logical_date,
            *fingerprint,
            *counts,
            status,
            message,
            run_id,
            started,
        ],
    )


def unchanged_since_last_load(conn: psycopg.Connection, files: list[LandingFile]) -> set[str]:
    """Paths whose size and modification time equal their last load's, skipped without being
    read: hashing every landing file every night would make a night's cost grow with history.
    One ledger query for the whole night."""
    signatures = dict(
        conn.execute(
            "select distinct on (file_path) file_path, stat_signature from ops.load_ledger"
            " where status = 'loaded' order by file_path, finished_at desc"
        ).fetchall()
    )
    return {
        landing.path
        for landing in files
        if signatures.get(landing.path) is not None
        and signatures[landing.path] == _stat_signature(landing)
    }


def earliest_date_loaded(conn: psycopg.Connection, run_id: str) -> date | None:
    """The oldest landing date this run loaded a file for: late or corrected data there means
    the incremental models must rebuild back to it, beyond their usual lookback."""
    return conn.execute(
        "select min(logical_date) from ops.load_ledger where run_id = %s and status = 'loaded'",
        [run_id],
    ).fetchone()[0]
