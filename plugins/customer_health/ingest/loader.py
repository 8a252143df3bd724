"""Stream one landing file into its ``raw`` table, quarantining rows that break the contract.

The file is streamed with COPY (bounded memory, whatever its size), cut into parts that
load side by side on their own connections as typed partitions of ``raw`` (see
``file_partitions``); the contract's rules run there in set-based SQL. In one transaction
the loader then moves the bad lines to ``raw_quarantine`` with file, line, field and
reason, attaches the good rows and writes the ledger row, so a file is either fully loaded
or not at all.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime

import fsspec
import psycopg
import structlog
from psycopg import sql
from psycopg.types.json import Jsonb

from customer_health.errors import FileRejected, IngestError, TooManyBadRows
from customer_health.ingest.contracts import ENTITIES, LOAD_COLUMN_NAMES
from customer_health.ingest.file_partitions import (
    BAD_LINES,
    Copied,
    Part,
    attach,
    bad_lines,
    byte_range,
    check_part,
    copy_error,
    copy_part,
    drop_bad_rows,
    drop_loaded_partitions,
    drop_parts,
    mark_duplicates,
    mark_loaded_elsewhere,
    plan_parts,
    remember_customer_keys,
)
from customer_health.ingest.landing import LandingFile, RejectedEntry, open_binary
from customer_health.ingest.rules import field_and_reason, first_broken, ordered_rules
from customer_health.ingest.segments import WHOLE_FILE, Segment, plan_segments

log = structlog.get_logger(__name__)

CHUNK = 1 << 20
MAX_NAME_BYTES = 63  # PostgreSQL's identifier length; longer names are truncated
OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}
STREAMS = 2  # the cores of the machine the benchmark ran on
PARALLEL_FROM_BYTES = 64 * 2**20


@dataclass(frozen=True)
class LoadResult:
    path: str
    entity: str
    status: str  # loaded / skipped / rejected (earlier, with the same content)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    replaced: bool = False
    message: str | None = None  # why a file is rejected


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
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
            raise FileRejected(f"{landing.path}: cannot be decompressed ({error})") from error


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
            raise FileRejected(f"{landing.path}: not a readable Parquet file ({error})") from error


@dataclass(frozen=True)
class Header:
    names: list[str]
    # Nothing but a line break follows the header line: on a quiet night the customers,
    # products and NPS files hold no row. A blank line after the header is a (bad) row.
    # For Parquet, the footer's row count is zero.
    alone: bool


def _parquet_header(landing: LandingFile) -> Header:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open_binary(landing) as handle:
        try:
            parquet = pq.ParquetFile(handle)
            return Header(list(parquet.schema_arrow.names), parquet.metadata.num_rows == 0)
        except (pa.ArrowException, OSError) as error:
            raise FileRejected(f"{landing.path}: not a readable Parquet file ({error})") from error


def _read_header(landing: LandingFile) -> Header:
    if landing.path.endswith(".parquet"):
        return _parquet_header(landing)
    buffer = b""
    chunks = _source_bytes(landing)
    for chunk in chunks:
        buffer += chunk
        if b"\n" in buffer or len(buffer) > CHUNK:
            break
    first_line, line_break, rest = buffer.partition(b"\n")
    if line_break and not rest:
        rest = next(chunks, b"")
    first_line = first_line.rstrip(b"\r")
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileRejected(f"{landing.path} line 1: header is not valid UTF-8") from error
    if not text.strip():
        raise FileRejected(f"{landing.path}: file is empty (no header line)")
    names = [name.strip() for name in next(csv.reader(io.StringIO(text)))]
    return Header(names, alone=not rest and len(buffer) <= CHUNK)


def _check_header(landing: LandingFile, header: list[str]) -> None:
    """Reject a header the warehouse could not take as column names, before any DDL, with
    the reason a person can fix: PostgreSQL would refuse or silently truncate such names."""
    entity = landing.entity
    for position, name in enumerate(header, 1):
        if not name:
            raise FileRejected(
                f"{landing.path} line 1: column {position} has no name (a trailing comma?)"
            )
        if name in LOAD_COLUMN_NAMES:
            raise FileRejected(
                f"{landing.path} line 1: column {name!r} is reserved for the loader's own "
                f"columns ({', '.join(LOAD_COLUMN_NAMES)})"
            )
        if len(name.encode()) > MAX_NAME_BYTES:
            raise FileRejected(
                f"{landing.path} line 1: column {position} ({name[:30]!r}…) is longer than "
                f"PostgreSQL's {MAX_NAME_BYTES}-byte limit for names"
            )
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise FileRejected(f"{landing.path} line 1: column {duplicates[0]!r} appears twice")
    missing = [name for name in entity.required_names if name not in header]
    if missing:
        raise FileRejected(
            f"{landing.path}: required column {missing[0]!r} is missing "
            f"(found: {', '.join(header)}){_delimiter_hint(header)}"
        )
    extra = entity.unknown_names(header)
    if extra:
        log.warning("ignoring unknown columns", file=landing.path, columns=extra)


def _delimiter_hint(header: list[str]) -> str:
    """A header read as one column that another delimiter would split: say which."""
    if len(header) != 1:
        return ""
    for delimiter, name in OTHER_DELIMITERS.items():
        if delimiter in header[0]:
            return f"; the header is separated by {name}, the contract wants commas"
    return ""


def _earlier_outcome(
    conn: psycopg.Connection, path: str, checksum: str
) -> tuple[str | None, str | None]:
    """The checksum of the file's last load, and the reason this very content was rejected
    when the file's last outcome was that and a night has reported it (failed naming it):
    such a file is not tried again, and not reported again, until it changes. Unreported
    (the night died first), it is tried again. Asked once per file, under the file's lock,
    before its header is read: a file rejected for its header is not rejected twice."""
    last = {
        status: (sha256, message, reported, finished)
        for status, sha256, message, reported, finished in conn.execute(
            "select distinct on (status) status, sha256, message, reported_at, finished_at"
            " from ops.load_ledger where file_path = %s and status in ('loaded', 'rejected')"
            " order by status, finished_at desc",
            [path],
        )
    }
    loaded, rejected = last.get("loaded"), last.get("rejected")
    known = (
        rejected is not None
        and rejected[0] == checksum
        and rejected[2] is not None
        and (loaded is None or loaded[3] < rejected[3])
    )
    return (loaded[0] if loaded else None), (rejected[1] if known else None)


def _refuse_a_copy(conn: psycopg.Connection, landing: LandingFile, checksum: str) -> None:
    """Refuse a file byte for byte another loaded one with rows: for events and responses
    whatever its date, for the change logs (customers, subscriptions…) on the same day only,
    since a daily export may restate an unchanged list. Header-only files are alike by
    nature and are not asked about. Asked before the rows are read: the ledger knows both
    checksums, and a twin counts only while it is its file's last load (its rows are the
    ones in raw)."""
    twin = conn.execute(
        "select l.file_path from ops.load_ledger l where l.sha256 = %(sha256)s"
        " and l.entity = %(entity)s and l.file_path <> %(path)s and l.status = 'loaded'"
        " and l.rows_loaded > 0 and (not %(versioned)s or l.logical_date = %(day)s)"
        " and not exists (select from ops.load_ledger n where n.file_path = l.file_path"
        "  and n.status = 'loaded' and n.finished_at > l.finished_at)"
        " order by l.file_path limit 1",
        {
            "sha256": checksum,
            "entity": landing.entity.name,
            "path": landing.path,
            "versioned": landing.entity.versioned,
            "day": landing.logical_date,
        },
    ).fetchone()
    if twin:
        raise FileRejected(
            f"{landing.path}: the same bytes as {twin[0]}, already loaded; nothing was loaded"
        )


def _refuse_repeated_rows(
    conn: psycopg.Connection, landing: LandingFile, parts: list[Part], read: int
) -> None:
    """Rows another file of the same day loaded (for events and responses, their keys) are
    marked bad, quarantined with that reason; a file of nothing else is the same rows under
    another name and is refused, naming the files it repeats."""
    if not read:
        return
    same_day = [
        path
        for (path,) in conn.execute(
            "select distinct file_path from ops.load_ledger where entity = %s"
            " and logical_date = %s and file_path <> %s and status = 'loaded' order by 1",
            [landing.entity.name, landing.logical_date, landing.path],
        )
    ]
    repeated = mark_loaded_elsewhere(conn, parts, same_day) if same_day else {}
    if repeated and sum(repeated.values()) == read:
        raise FileRejected(
            f"{landing.path}: every row was already loaded from "
            f"{', '.join(repeated)} (the same rows under another name); nothing was loaded"
        )


def _refuse_orphans(conn: psycopg.Connection, landing: LandingFile, parts: list[Part]) -> None:
    """A corrected customers file (one replacing its earlier load) may not take away
    customers that loaded rows of other files still reference: their rows would stay in
    raw, pointing nowhere. Fails, listing the customers and who references them, and is
    tried again every night: correct those files first, or keep the customers. Reads the
    referencing tables only when the correction drops a customer."""
    new_keys = sql.SQL(" union all ").join(
        sql.SQL(
            "select t.customer_id from {} t where not exists"
            " (select from ({}) b where b._line = t._line)"
        ).format(part.table, bad_lines(parts))
        for part in parts
    )
    dropped = [
        key
        for (key,) in conn.execute(
            sql.SQL(
                "select customer_id from raw.customers where _source_file = %(path)s"
                " except select customer_id from ({new_keys}) n"
                " except select customer_id from raw.customers where _source_file <> %(path)s"
                " order by 1"
            ).format(new_keys=new_keys),
            {"path": landing.path},
        )
    ]
    if not dropped:
        return
    referenced = [
        f"{key} ({entity.name})"
        for entity in ENTITIES
        if any(c.references_customer for c in entity.columns)
        for (key,) in conn.execute(
            sql.SQL(
                "select distinct customer_id from {} where customer_id = any(%s) order by 1"
            ).format(sql.Identifier("raw", entity.name)),
            [dropped],
        )
    ]
    if referenced:
        # Failed, not rejected: the same file may load once the referencing files change.
        raise IngestError(
            f"{landing.path}: the correction drops customers that other loaded files still "
            f"reference: {', '.join(referenced[:10])}; nothing was loaded (keep those "
            "customers, or correct the files that reference them first)"
        )


def _line_mask(lines: list[int], last_line: int) -> bytes:
    """A bitmap of line numbers up to ``last_line``, as Postgres's ``get_bit`` reads a bytea:
    bit ``n`` is bit ``n % 8`` of byte ``n // 8``, counted from the least significant."""
    mask = bytearray(last_line // 8 + 1)
    for line in lines:
        mask[line >> 3] |= 1 << (line & 7)
    return bytes(mask)


def _copy_bad_lines_as_text(
    conn: psycopg.Connection, landing: LandingFile, header: list[str], lines: list[int], read: int
) -> None:
    """The quarantined lines as received, in a temporary table of text columns numbered as
    in the parts. A file without a quote character has a row per line: its bad lines are
    picked out here and only they are sent. Any other file is read again by COPY, which
    keeps only the lines a bitmap of their numbers names (a constant-time test per line
    however many are bad), so the queries after it join a table of bad lines, not one as big
    as the file; for 5 M rows that second parse took 2.7 s."""
    conn.execute(
        sql.SQL(
            "create temp table _incoming (_line bigint generated by default as identity"
            " (start 2), {}) on commit drop"
        ).format(sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(n)) for n in header))
    )
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in header)
    numbers = sorted(lines)
    received = _lines_without_quotes(landing, numbers)
    if received is not None:
        copy = sql.SQL(
            "copy _incoming (_line, {}) from stdin with (format csv, encoding 'UTF8')"
        ).format(columns)
        with conn.cursor().copy(copy) as stream:
            for number, text in zip(numbers, received, strict=True):
                stream.write(b"%d,%s\n" % (number, text))
        return
    copy = sql.SQL(
        "copy _incoming ({}) from stdin with (format csv, header true, encoding 'UTF8')"
        " where get_bit({}, _line::integer) = 1"
    ).format(
        columns,
        # Line 1 is the header: the last of ``read`` rows is line read + 1.
        sql.Literal(_line_mask(lines, read + 1)),
    )
    try:
        with conn.cursor().copy(copy) as stream:
            for chunk in _source_bytes(landing):
                stream.write(chunk)
    except psycopg.errors.DataError as error:
        raise copy_error(landing.path, error, WHOLE_FILE) from error


def _lines_without_quotes(landing: LandingFile, lines: list[int]) -> list[bytes] | None:
    """Lines ``lines`` (ascending; the header is line 1) of the file as received, their line
    breaks (``\\n`` or ``\\r\\n``, as COPY reads them) left out; None once a quote appears,
    since a quoted field may hold a line break and only a CSV parser then knows where a row
    ends. The rows COPY loaded from such a file were numbered line by line, so the numbers
    match. A line still holding a carriage return also gives None: COPY may have read it as
    a line break (a part whose lines all end in one), which this count does not know."""
    found: list[bytes] = []
    first, carry = 1, b""  # ``carry`` is the unfinished line numbered ``first``
    for chunk in _source_bytes(landing):
        if b'"' in chunk:
            return None
        text = carry + chunk
        unfinished = first + text.count(b"\n")
        if len(found) < len(lines) and lines[len(found)] < unfinished:
            pieces = text.split(b"\n")
            while len(found) < len(lines) and lines[len(found)] < unfinished:
                found.append(pieces[lines[len(found)] - first].removesuffix(b"\r"))
            if len(found) == len(lines):
                break  # a quote further on cannot move these lines
            carry = pieces[-1]
        else:
            carry = text[text.rfind(b"\n") + 1 :]
        first = unfinished
    else:
        if len(found) < len(lines) and lines[len(found)] == first:
            found.append(carry.removesuffix(b"\r"))  # the last line, with no line break after it
    if len(found) < len(lines) or any(b"\r" in line for line in found):
        return None
    return found


def _stream_connection(conn: psycopg.Connection) -> psycopg.Connection:
    """Another connection to the same warehouse as the same user, for one COPY stream."""
    password = conn.pgconn.password
    stream = psycopg.connect(
        **conn.info.get_parameters(),
        password=password.decode() if password else None,
        autocommit=True,
    )
    # The duplicate check hashes a stream's share of the keys in memory; the streams are
    # the parallelism, workers of their own would only compete with them for the cores.
    stream.execute("set work_mem = '256MB'; set max_parallel_workers_per_gather = 0")
    return stream


def _segments(landing: LandingFile, size: int, streams: int | None) -> list[Segment]:
    """Plain CSV files big enough to gain are cut for parallel streams; gzip and Parquet
    cannot be entered in the middle and stream whole."""
    wanted = streams or (STREAMS if size >= PARALLEL_FROM_BYTES else 1)
    if wanted < 2 or not landing.path.endswith(".csv"):
        return [WHOLE_FILE]
    with open_binary(landing) as handle:
        return plan_segments(handle, size, wanted)


def _part_data(landing: LandingFile, part: Part) -> Iterator[bytes]:
    if part.segment == WHOLE_FILE:
        yield from _source_bytes(landing)
        return
    with open_binary(landing) as handle:
        yield from byte_range(handle, part.segment, CHUNK)


def _copy_and_check(
    conn: psycopg.Connection, landing: LandingFile, header: list[str], parts: list[Part]
) -> tuple[int, int]:
    """Every part loaded and checked, all at once, each on its own connection (one part
    runs in the loader's own transaction); returns the rows read and those COPY skipped.
    Duplicate keys can span parts, so they are looked for once all are in."""

    def copy_and_check(stream: psycopg.Connection, part: Part) -> Copied:
        copied = copy_part(stream, part, header, _part_data(landing, part))
        check_part(stream, part, copied)
        return copied

    if len(parts) == 1:
        copied = [copy_and_check(conn, parts[0])]
        mark_duplicates(conn, parts, 0)
    else:
        with ExitStack() as connections, ThreadPoolExecutor(len(parts)) as pool:
            streams = [connections.enter_context(_stream_connection(conn)) for _ in parts]
            copied = list(pool.map(copy_and_check, streams, parts))
            list(
                pool.map(
                    lambda stream, share: mark_duplicates(stream, parts, share),
                    streams,
                    range(len(parts)),
                )
            )
    return sum(c.rows for c in copied), sum(c.skipped for c in copied)


def _cleaned_text(entity_columns: list[str], header: list[str]) -> sql.Composable:
    """The text table's lines as the contract reads them: trimmed, blank as NULL."""
    return sql.SQL("select i._line, {} from _incoming i").format(
        sql.SQL(", ").join(
            sql.SQL("nullif(btrim(i.{0}), '') as {0}").format(sql.Identifier(name))
            if name in header
            else sql.SQL("null::text as {}").format(sql.Identifier(name))
            for name in entity_columns
        )
    )


def _rescue_blank_values(
    conn: psycopg.Connection, landing: LandingFile, header: list[str], parts: list[Part]
) -> int:
    """Load the lines COPY skipped that keep every rule: a typed column whose value is only
    spaces is blank, so missing, to the contract, but not a number or a date to COPY.

    The rules run once per line (``ruled``, materialized): the planner, which sees no
    statistics for the bad lines, joins them in a nested loop, and with the rules inside
    the loop a 5 M-row file with 2,494 bad lines spent 1.1 s a part evaluating them."""
    entity = landing.entity
    names = sql.SQL(", ").join(sql.Identifier(n) for n in entity.column_names)
    typed = sql.SQL(", ").join(
        sql.SQL("c.{}::{}").format(sql.Identifier(c.name), sql.SQL(c.type)) for c in entity.columns
    )
    return sum(
        conn.execute(
            sql.SQL(
                "with ruled as materialized ("
                "  select c.*, {text_rule} as _rule from ({cleaned}) c"
                "), rescued as ("
                "  delete from {bad} b using ruled c"
                "  where b._part = {name} and b._kind = 'skipped' and b._line = c._line"
                "  and c._rule is null returning b._line"
                ") insert into {table} ({names}, _line) overriding system value "
                "select {typed}, c._line from ruled c join rescued r on r._line = c._line"
            ).format(
                bad=BAD_LINES,
                cleaned=_cleaned_text(entity.column_names, header),
                name=sql.Literal(part.name),
                text_rule=first_broken(entity, landing.logical_date, typed=False),
                table=part.table,
                names=names,
                typed=typed,
            )
        ).rowcount
        for part in parts
    )


def _broken_rules(
    conn: psycopg.Connection, landing: LandingFile, header: list[str], parts: list[Part]
) -> dict[str, int]:
    """How many bad lines broke each rule ("field: rule"), most often broken first: the
    ledger keeps it, and a file over the threshold names its top reasons."""
    entity = landing.entity
    rules = ordered_rules(entity, landing.logical_date)
    counts = conn.execute(
        sql.SQL(
            "select coalesce(b._rule, {text_rule}), count(*) from ({cleaned}) c"
            " join ({bad}) b on b._line = c._line group by 1"
        ).format(
            text_rule=first_broken(entity, landing.logical_date, typed=False),
            cleaned=_cleaned_text(entity.column_names, header),
            bad=bad_lines(parts),
        )
    ).fetchall()
    named = sorted(((rules[number - 1].name, count) for number, count in counts), key=_by_count)
    return dict(named)


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


def _quarantine(
    conn: psycopg.Connection, landing: LandingFile, header: list[str], parts: list[Part]
) -> None:
    """Copy the bad lines, exactly as received (``_incoming``), to ``raw_quarantine`` with
    field and reason; a line COPY skipped is named by the rules on its text."""
    entity = landing.entity
    as_received = sql.SQL(", ").join(
        sql.SQL("i.{}").format(sql.Identifier(c.name)) if c.name in header else sql.SQL("null")
        for c in entity.columns
    )
    field, reason = field_and_reason(entity, landing.logical_date)
    conn.execute(
        sql.SQL(
            "insert into {quarantine} ({names}, _source_file, _line, _logical_date, _run_id,"
            " _field, _reason) "
            "with ruled as ("
            "  select c.*, coalesce(b._rule, {text_rule}) as _rule"
            "  from ({cleaned}) c join ({bad}) b on b._line = c._line"
            ") select {as_received}, {path}, c._line, {day}, {run}, {field}, {reason} "
            "from ruled c join _incoming i on i._line = c._line"
        ).format(
            quarantine=sql.Identifier("raw_quarantine", entity.name),
            names=sql.SQL(", ").join(sql.Identifier(n) for n in entity.column_names),
            text_rule=first_broken(entity, landing.logical_date, typed=False),
            cleaned=_cleaned_text(entity.column_names, header),
            bad=bad_lines(parts),
            as_received=as_received,
            path=sql.Literal(landing.path),
            day=sql.Literal(landing.logical_date),
            run=sql.Literal(parts[0].run_id),
            field=field,
            reason=reason,
        )
    )


def load_file(
    conn: psycopg.Connection,
    landing: LandingFile,
    run_id: str,
    threshold: float,
    tolerated_rows: int = 0,
    streams: int | None = None,
) -> LoadResult:
    """Load one file exactly once per content; a changed file replaces its earlier rows.

    The file is hashed to compare it with its last load; a night first drops the files
    `unchanged_since_last_load` finds, so unchanged history is not read at all.

    The file fails, loading nothing, when more than ``threshold`` of its rows and more than
    ``tolerated_rows`` rows break the contract: one bad row in a 40-row weekend file is
    quarantined, a systematically broken export is stopped. ``streams`` COPY streams load
    it side by side (default: two for a plain CSV file of 64 MiB or more).
    """
    started = datetime.now(UTC)
    skipped = LoadResult(landing.path, landing.entity.name, "skipped")
    try:
        signature = _stat_signature(landing)
        checksum, size = _fingerprint(landing)
    except OSError as error:
        message = f"{landing.path}: cannot be read ({error.strerror or error})"
        _record(conn, landing, (None, None, None), (0, 0, 0), "failed", message, run_id, started)
        raise IngestError(message) from error
    entity = landing.entity
    fingerprint = (checksum, size, signature)
    parts: list[Part] = []
    try:
        with conn.transaction():
            # A second loader of the same file waits here, then finds the first one's ledger row.
            # Two keys: a space of their own, where no path's hash can be the ingest's lock,
            # which the night's first connection holds while files load on the others.
            conn.execute(
                "select pg_advisory_xact_lock(hashtext('customer_health.file'), hashtext(%s))",
                [landing.path],
            )
            previous, reason = _earlier_outcome(conn, landing.path, checksum)
            if previous == checksum:
                return skipped
            if reason:
                return LoadResult(landing.path, entity.name, "rejected", message=reason)
            header_line = _read_header(landing)
            header = header_line.names
            _check_header(landing, header)
            if previous is None and header_line.alone:
                return _load_header_only(conn, landing, fingerprint, run_id, started)
            if not header_line.alone:
                _refuse_a_copy(conn, landing, checksum)
            segments = _segments(landing, size, streams)
            parts = plan_parts(
                entity, landing.path, landing.logical_date, run_id, segments, uuid.uuid4().hex[:8]
            )
            read, skipped_by_copy = _copy_and_check(conn, landing, header, parts)
            _refuse_repeated_rows(conn, landing, parts, read)
            bad = [line for (line, _) in conn.execute(bad_lines(parts))]
            quarantined = len(bad)
            rescued = 0
            if quarantined:
                # The lines as received, for the quarantine and for rules COPY cannot apply.
                _copy_bad_lines_as_text(conn, landing, header, bad, read)
                if skipped_by_copy:
                    rescued = _rescue_blank_values(conn, landing, header, parts)
                    quarantined -= rescued
            if entity.name == "customers" and previous is not None:
                _refuse_orphans(conn, landing, parts)
            broken = _broken_rules(conn, landing, header, parts) if quarantined else {}
            if quarantined > tolerated_rows and quarantined / read > threshold:
                most = ", ".join(f"{name} ({count})" for name, count in list(broken.items())[:3])
                raise TooManyBadRows(
                    f"{landing.path}: {quarantined} of {read} rows broke the contract, more than "
                    f"the {threshold:.1%} allowed (QUARANTINE_THRESHOLD); nothing was loaded. "
                    f"Most often: {most}",
                    broken,
                )
            had_partitions = _remove_earlier_rows(conn, landing)
            if quarantined:
                _quarantine(conn, landing, header, parts)
            dropped = drop_bad_rows(conn, parts) if bad else 0
            loaded = read - skipped_by_copy + rescued - dropped
            # A file with no rows is in the ledger only. Most nights' products and customers
            # files are empty, and every partition is one more table each query on raw plans
            # and opens, for as long as the history is kept.
            attached = parts if loaded else []
            if not loaded:
                drop_parts(conn, parts)
            attach(conn, attached)
            if entity.name == "customers":
                remember_customer_keys(conn, attached, had_partitions)
            counts = (read, loaded, quarantined)
            _record(conn, landing, fingerprint, counts, "loaded", None, run_id, started, broken)
        parts = []
    except IngestError as error:
        status = "rejected" if isinstance(error, FileRejected) else "failed"
        broken = error.broken_rules if isinstance(error, TooManyBadRows) else None
        _record(conn, landing, fingerprint, (0, 0, 0), status, str(error), run_id, started, broken)
        raise
    finally:
        if parts:
            with _stream_connection(conn) as cleanup:
                drop_parts(cleanup, parts)
    log.info(
        "loaded file",
        file=landing.path,
        rows=loaded,
        quarantined=quarantined,
        streams=len(segments),
        replaced=previous is not None,
    )
    return LoadResult(
        landing.path,
        entity.name,
        "loaded",
        read,
        loaded,
        quarantined,
        previous is not None,
    )


def _load_header_only(
    conn: psycopg.Connection,
    landing: LandingFile,
    fingerprint: tuple[str, int, str | None],
    run_id: str,
    started: datetime,
) -> LoadResult:
    """A file of no rows, loaded for the first time: in the ledger only, like any file
    without a row to keep, but without creating the partition it would drop again (about
    4 ms of DDL; 1,211 of a year's 2,555 files at 100 customers)."""
    had_partitions = _remove_earlier_rows(conn, landing)
    if landing.entity.name == "customers":
        remember_customer_keys(conn, [], had_partitions)
    _record(conn, landing, fingerprint, (0, 0, 0), "loaded", None, run_id, started)
    log.info("loaded file", file=landing.path, rows=0, quarantined=0, streams=0, replaced=False)
    return LoadResult(landing.path, landing.entity.name, "loaded", 0, 0, 0, False)


def _remove_earlier_rows(conn: psycopg.Connection, landing: LandingFile) -> bool:
    """Whatever the ledger says, rows of this file already in raw, or in quarantine, are
    replaced; returns whether raw held any."""
    had_partitions = drop_loaded_partitions(conn, landing.entity, landing.path)
    conn.execute(
        sql.SQL("delete from {} where _source_file = %s").format(
            sql.Identifier("raw_quarantine", landing.entity.name)
        ),
        [landing.path],
    )
    return had_partitions


def _record(
    conn: psycopg.Connection,
    landing: LandingFile,
    fingerprint: tuple[str | None, int | None, str | None],
    counts: tuple[int, int, int],
    status: str,
    message: str | None,
    run_id: str,
    started: datetime,
    broken_rules: dict[str, int] | None = None,
) -> None:
    conn.execute(
        "insert into ops.load_ledger (file_path, source, entity, logical_date, sha256, size_bytes,"
        " stat_signature, rows_read, rows_loaded, rows_quarantined, status, message, run_id,"
        " started_at, broken_rules)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
            Jsonb(broken_rules) if broken_rules else None,
        ],
    )


def record_rejected_entries(
    conn: psycopg.Connection, entries: list[RejectedEntry], run_id: str
) -> list[RejectedEntry]:
    """Write a ledger row for each landing entry that is not a loadable file, unless its
    last ledger row already rejects it for the same reason; returns those no night has
    reported yet (see `mark_reported`)."""
    last = {
        path: (message, reported)
        for path, message, reported in conn.execute(
            "select distinct on (file_path) file_path, message, reported_at is not null"
            " from ops.load_ledger where file_path = any(%s) and status = 'rejected'"
            " order by file_path, finished_at desc",
            [[entry.path for entry in entries]],
        )
    }
    unrecorded = [e for e in entries if last.get(e.path, (None,))[0] != e.message]
    if unrecorded:
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into ops.load_ledger (file_path, source, logical_date, status, message,"
                " run_id, started_at) values (%s, %s, %s, 'rejected', %s, %s, now())",
                [(e.path, e.source, e.logical_date, e.message, run_id) for e in unrecorded],
            )
    return [e for e in entries if last.get(e.path) != (e.message, True)]


def mark_reported(conn: psycopg.Connection, paths: list[str]) -> None:
    """Note that a night failed naming these rejected entries: later nights list them
    without failing. Until then (a night that died first) every night reports them again."""
    conn.execute(
        "update ops.load_ledger set reported_at = clock_timestamp()"
        " where status = 'rejected' and reported_at is null and file_path = any(%s)",
        [paths],
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


# A ledger row written after the last publish: its file is not in the published tables yet.
FINISHED_SINCE_PUBLISH = (
    "finished_at > coalesce((select max(published_at) from ops.publish_log"
    " where action = 'publish'), '-infinity')"
)


def earliest_date_loaded_since_publish(conn: psycopg.Connection) -> date | None:
    """The oldest landing date of a file loaded since the last publish, by any run.

    Late or corrected data there means the incremental models must rebuild back to it,
    beyond their usual lookback. Asking the ledger rather than the current run keeps what a
    failed run loaded: its rerun skips those files as unchanged, but they are still owed to
    the history.
    """
    return conn.execute(
        f"select min(logical_date) from ops.load_ledger where status = 'loaded'"
        f" and {FINISHED_SINCE_PUBLISH}"
    ).fetchone()[0]
