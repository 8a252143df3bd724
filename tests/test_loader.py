"""Loading landing files into raw: quarantine with reasons, ledger idempotency, clear errors.

Every case runs against a real PostgreSQL, in a database private to this module.
"""

from __future__ import annotations

import gzip
import io
import os
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from customer_health.errors import FileRejected, IngestError, WarehouseError
from customer_health.ingest import loader
from customer_health.ingest.contracts import entity_named
from customer_health.ingest.file_partitions import file_prefix
from customer_health.ingest.landing import LandingFile, discover
from customer_health.ingest.loader import (
    _lines_without_quotes,
    load_file,
    unchanged_since_last_load,
)
from customer_health.warehouse.bootstrap import ensure_warehouse_objects

CUSTOMERS = (
    "customer_id,name,industry,country,employee_count,parent_customer_id,created_at\n"
    "L1,Loader One,software,US,40,,2026-01-01T00:00:00+00:00\n"
    "L2,Loader Two,retail,FR,900,L1,2026-01-02T00:00:00+00:00\n"
)
RESPONSES_HEADER = "response_id,customer_id,user_id,role,score,comment,responded_at\n"


def landed(root: Path, relative: str, content: str | bytes) -> LandingFile:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    files = [f for f in discover(str(root), date(2100, 1, 1)).files if f.path == relative]
    assert files, relative
    return files[0]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("landing")


@pytest.fixture(scope="module", autouse=True)
def customers(scratch_conn, root):
    load_file(scratch_conn, landed(root, "billing/2026-01-02/customers.csv", CUSTOMERS), "r0", 1.0)


def counts(conn, path: str) -> tuple[int, int]:
    loaded = conn.execute(
        "select count(*) from raw.responses where _source_file = %s", [path]
    ).fetchone()[0]
    quarantined = conn.execute(
        "select count(*) from raw_quarantine.responses where _source_file = %s", [path]
    ).fetchone()[0]
    return loaded, quarantined


def other_files_rows(conn, path: str) -> list[tuple]:
    """Every raw and quarantined response of the files other than ``path``."""
    return conn.execute(
        "select 'raw', _source_file, _line, response_id from raw.responses"
        " where _source_file <> %(path)s union all"
        " select 'quarantine', _source_file, _line, response_id from raw_quarantine.responses"
        " where _source_file <> %(path)s order by 1, 2, 3",
        {"path": path},
    ).fetchall()


def test_bad_rows_go_to_quarantine_with_field_and_reason(scratch_conn, root):
    landing = landed(
        root,
        "nps/2026-02-01/responses.csv",
        RESPONSES_HEADER
        + "R1,L1,u1,admin,9,,2026-02-01T10:00:00+00:00\n"
        + "R2,L1,u2,admin,11,,2026-02-01T10:00:00+00:00\n"
        + "R3,NOPE,u3,admin,5,,2026-02-01T10:00:00+00:00\n"
        + "R4,L2,u4,admin,seven,,2026-02-01T10:00:00+00:00\n"
        + "R5,L2,u5,admin,3,,not-a-date\n"
        + ",L2,u6,admin,3,,2026-02-01T10:00:00+00:00\n",
    )
    result = load_file(scratch_conn, landing, "r1", threshold=1.0)
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (6, 1, 5)
    reasons = dict(
        scratch_conn.execute(
            "select _line, _field || ': ' || _reason from raw_quarantine.responses "
            "where _source_file = %s",
            [landing.path],
        ).fetchall()
    )
    assert reasons == {
        3: "score: 11 is above the maximum 10",
        4: "customer_id: unknown customer 'NOPE'",
        5: "score: 'seven' is not a valid integer",
        6: "responded_at: 'not-a-date' is not a valid timestamptz",
        7: "response_id: missing required value",
    }


def test_bad_lines_are_quarantined_as_received_whether_or_not_the_file_quotes_a_value(
    scratch_conn, root, monkeypatch
):
    """The bad lines' text comes from the lines themselves in a file without quotes (plain
    or gzip) and from a second COPY in one with them: the quarantine is the same either way,
    for Windows line breaks and a last line without one too."""
    rows = [
        "R91,L1,u1,admin,9,{comment},2026-03-11T10:00:00+00:00",
        "R92,L1,u2,admin,11,,2026-03-11T10:00:00+00:00",
        "R93,L2,u3,admin, seven ,,2026-03-11T10:00:00+00:00",
        "R94, L2 ,u4,admin,5,,2026-03-11T10:00:00+00:00",
        "R95,L1,u5,admin,   ,,2026-03-11T10:00:00+00:00",
        "R96,L1,u6,admin,4,,not-a-date",
    ]
    plain = (RESPONSES_HEADER.replace("\n", "\r\n") + "\r\n".join(rows)).format(comment="fine")
    files = {
        "plain": landed(root, "nps/2026-03-11/responses.csv", plain),
        "quoted": landed(root, "nps/2026-03-12/responses.csv", plain.replace("fine", '"fine"')),
        "gzip": landed(root, "nps/2026-03-13/responses.csv.gz", gzip.compress(plain.encode())),
    }
    quarantined = {}
    for kind, landing in files.items():
        result = load_file(scratch_conn, landing, "r1", threshold=1.0)
        assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (6, 2, 4), kind
        quarantined[kind] = scratch_conn.execute(
            "select _line, response_id, customer_id, score, responded_at, _field, _reason"
            " from raw_quarantine.responses where _source_file = %s order by _line",
            [landing.path],
        ).fetchall()
    assert quarantined["plain"] == [
        (3, "R92", "L1", "11", "2026-03-11T10:00:00+00:00", "score", "11 is above the maximum 10"),
        (
            4,
            "R93",
            "L2",
            " seven ",
            "2026-03-11T10:00:00+00:00",
            "score",
            "'seven' is not a valid integer",
        ),
        (6, "R95", "L1", "   ", "2026-03-11T10:00:00+00:00", "score", "missing required value"),
        (
            7,
            "R96",
            "L1",
            "4",
            "not-a-date",
            "responded_at",
            "'not-a-date' is not a valid timestamptz",
        ),
    ]
    assert quarantined["quoted"] == quarantined["plain"] == quarantined["gzip"]
    # Which way each file took: picked out of a file without quotes, COPY for the other;
    # read 5 bytes at a time, so lines and their line breaks straddle the reads.
    monkeypatch.setattr(loader, "CHUNK", 5)
    picked = [rows[1].encode(), rows[5].encode()]
    assert _lines_without_quotes(files["plain"], [3, 7]) == picked
    assert _lines_without_quotes(files["gzip"], [3, 7]) == picked
    assert _lines_without_quotes(files["quoted"], [3, 7]) is None
    # A carriage return COPY may have taken for a line break: COPY decides.
    lone = landed(root, "nps/2026-03-14/responses.csv", "a,b\nc\rd,e\nf\n")
    assert _lines_without_quotes(lone, [2]) is None


def test_same_file_twice_is_skipped_and_changed_file_replaces_its_rows(scratch_conn, root):
    body = RESPONSES_HEADER + "R10,L1,u1,admin,8,,2026-02-02T10:00:00+00:00\n"
    landing = landed(root, "nps/2026-02-02/responses.csv", body)
    assert load_file(scratch_conn, landing, "r1", 1.0).status == "loaded"
    assert load_file(scratch_conn, landing, "r2", 1.0).status == "skipped"
    others = other_files_rows(scratch_conn, landing.path)
    landing = landed(
        root,
        "nps/2026-02-02/responses.csv",
        body + "R11,L2,u2,admin,6,,2026-02-02T11:00:00+00:00\n",
    )
    result = load_file(scratch_conn, landing, "r3", 1.0)
    assert result.replaced and result.rows_loaded == 2
    assert counts(scratch_conn, landing.path) == (2, 0)
    assert other_files_rows(scratch_conn, landing.path) == others  # untouched


def test_missing_required_column_fails_the_file_naming_file_and_column(scratch_conn, root):
    landing = landed(
        root,
        "nps/2026-02-03/responses.csv",
        "response_id,customer_id,user_id,role,comment,responded_at\n"
        "R20,L1,u1,admin,,2026-02-03T10:00:00+00:00\n",
    )
    with pytest.raises(IngestError, match=r"nps/2026-02-03/responses.csv: required column 'score'"):
        load_file(scratch_conn, landing, "r1", 1.0)
    assert counts(scratch_conn, landing.path) == (0, 0)
    status, message = scratch_conn.execute(
        "select status, message from ops.load_ledger where file_path = %s", [landing.path]
    ).fetchone()
    assert status == "rejected" and "score" in message


def test_too_many_bad_rows_fail_the_file_and_load_nothing(scratch_conn, root):
    landing = landed(
        root,
        "nps/2026-02-04/responses.csv",
        RESPONSES_HEADER
        + "R30,L1,u1,admin,9,,2026-02-04T10:00:00+00:00\n"
        + "R31,L1,u1,admin,99,,2026-02-04T10:00:00+00:00\n",
    )
    with pytest.raises(IngestError, match="1 of 2 rows broke the contract"):
        load_file(scratch_conn, landing, "r1", threshold=0.01, tolerated_rows=0)
    assert counts(scratch_conn, landing.path) == (0, 0)


def test_a_file_over_the_threshold_names_and_records_why(scratch_conn, root):
    rows = [
        "R60,L1,u1,admin,9,,2026-02-12T10:00:00+00:00",
        "R61,L1,u1,admin,12,,2026-02-12T10:00:00+00:00",
        "R62,NOPE,u1,admin,9,,2026-02-12T10:00:00+00:00",
        "R63,L1,u1,admin,13,,2026-02-12T10:00:00+00:00",
        "R64,L1,u1,admin,nine,,2026-02-12T10:00:00+00:00",
        "R65,L1,u1,admin,14,,2026-02-12T10:00:00+00:00",
        "R66,GONE,u1,admin,9,,2026-02-12T10:00:00+00:00",
    ]
    landing = landed(
        root, "nps/2026-02-12/responses.csv", RESPONSES_HEADER + "\n".join(rows) + "\n"
    )
    with pytest.raises(IngestError) as failure:
        load_file(scratch_conn, landing, "r1", threshold=0.01, tolerated_rows=0)
    assert str(failure.value) == (
        "nps/2026-02-12/responses.csv: 6 of 7 rows broke the contract, more than the 1.0% "
        "allowed (QUARANTINE_THRESHOLD); nothing was loaded. Most often: "
        "score: above the maximum 10 (3), customer_id: unknown customer (2), "
        "score: not a valid integer (1)"
    )
    assert scratch_conn.execute(
        "select status, broken_rules from ops.load_ledger where file_path = %s", [landing.path]
    ).fetchone() == (
        "failed",
        {
            "score: above the maximum 10": 3,
            "customer_id: unknown customer": 2,
            "score: not a valid integer": 1,
        },
    )
    assert counts(scratch_conn, landing.path) == (0, 0)


def test_hostile_column_name_is_ignored_and_harms_nothing(scratch_conn, root):
    landing = landed(
        root,
        "nps/2026-02-05/responses.csv",
        "response_id,customer_id,user_id,role,score,comment,responded_at,"
        '"x""; drop table raw.customers; --"\n'
        "R40,L1,u1,admin,10,,2026-02-05T10:00:00+00:00,boom\n",
    )
    assert load_file(scratch_conn, landing, "r1", 1.0).rows_loaded == 1
    assert scratch_conn.execute("select count(*) from raw.customers").fetchone()[0] == 2


def test_duplicate_keys_in_one_file(scratch_conn, root):
    row = "R50,L1,u1,admin,7,,2026-02-06T10:00:00+00:00\n"
    landing = landed(
        root,
        "nps/2026-02-06/responses.csv",
        RESPONSES_HEADER
        + row
        + row
        + "R51,L1,u1,admin,7,,2026-02-06T10:00:00+00:00\n"
        + "R51,L1,u1,admin,2,,2026-02-06T10:00:00+00:00\n",
    )
    result = load_file(scratch_conn, landing, "r1", 1.0)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 3)
    reasons = {
        r
        for (r,) in scratch_conn.execute(
            "select _reason from raw_quarantine.responses where _source_file = %s", [landing.path]
        ).fetchall()
    }
    assert reasons == {
        "exact duplicate of an earlier row",
        "key appears more than once in the file with different content",
    }


def test_gzip_files_load_and_truncated_gzip_fails_clearly(scratch_conn, root):
    body = (RESPONSES_HEADER + "R60,L2,u1,admin,9,,2026-02-07T10:00:00+00:00\n").encode()
    good = landed(root, "nps/2026-02-07/responses.csv.gz", gzip.compress(body))
    assert load_file(scratch_conn, good, "r1", 1.0).rows_loaded == 1
    truncated = landed(root, "nps/2026-02-08/responses.csv.gz", gzip.compress(body * 50)[:60])
    with pytest.raises(IngestError, match="nps/2026-02-08/responses.csv.gz"):
        load_file(scratch_conn, truncated, "r1", 1.0)


def test_empty_file_fails_clearly(scratch_conn, root):
    landing = landed(root, "nps/2026-02-09/responses.csv", "")
    with pytest.raises(IngestError, match="file is empty"):
        load_file(scratch_conn, landing, "r1", 1.0)


def test_discovery_orders_customers_first_and_names_what_it_cannot_load(tmp_path):
    for relative in [
        "nps/2026-02-10/responses.csv",
        "billing/2026-02-10/customers-late.csv",
        "billing/2026-02-10/notes.txt",
        "billing/2026-02-09/customers.csv",
    ]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("")
    found = discover(str(tmp_path), date(2026, 2, 10))
    assert [f.path for f in found.files] == [
        "billing/2026-02-09/customers.csv",
        "billing/2026-02-10/customers-late.csv",
        "nps/2026-02-10/responses.csv",
    ]
    assert [(r.path, r.reason) for r in found.rejected] == [
        (
            "billing/2026-02-10/notes.txt",
            "file name does not follow <entity>[-suffix].csv, .csv.gz or .parquet",
        )
    ]
    assert [f.path for f in discover(str(tmp_path), date(2026, 2, 9)).files] == [
        "billing/2026-02-09/customers.csv"
    ]


def test_landing_root_can_be_any_fsspec_filesystem(scratch_conn):
    import fsspec

    memory = fsspec.filesystem("memory")
    memory.pipe(
        "/landing/billing/2026-04-01/customers.csv",
        CUSTOMERS.replace("L1,", "M1,").replace("L2,", "M2,").replace(",L1,", ",M1,").encode(),
    )
    memory.pipe(
        "/landing/nps/2026-04-01/responses.csv",
        (RESPONSES_HEADER + "RM1,M2,u1,admin,10,,2026-04-01T09:00:00+00:00\n").encode(),
    )
    files = discover("memory://landing", date(2026, 4, 1)).files
    assert [(f.entity.name, f.path) for f in files] == [
        ("customers", "billing/2026-04-01/customers.csv"),
        ("responses", "nps/2026-04-01/responses.csv"),
    ]
    results = [load_file(scratch_conn, f, "memory", 1.0) for f in files]
    assert [r.rows_loaded for r in results] == [2, 1]
    assert scratch_conn.execute(
        "select customer_id from raw.responses where response_id = 'RM1'"
    ).fetchone() == ("M2",)


def test_an_untouched_file_is_skipped_on_its_size_and_time_without_being_read(scratch_conn, root):
    rows = RESPONSES_HEADER + "RS1,L1,u1,admin,9,,2026-04-01T10:00:00Z\n"
    landing = landed(root, "nps/2026-04-01/responses.csv", rows)
    assert load_file(scratch_conn, landing, "r1", 0.01).status == "loaded"
    path = root / landing.path
    stat = path.stat()
    # Same size and modification time, other bytes: trusted as unchanged, so never read.
    path.write_text(rows.replace("RS1,L1,u1,admin,9", "RS1,L1,u1,admin,3"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert unchanged_since_last_load(scratch_conn, [landing]) == {landing.path}
    # Touched (new time), same bytes as loaded: hashed, found unchanged, skipped.
    path.write_text(rows)
    assert unchanged_since_last_load(scratch_conn, [landing]) == set()
    assert load_file(scratch_conn, landing, "r3", 0.01).status == "skipped"
    # Really changed: replaces its rows.
    path.write_text(rows.replace("admin,9", "admin,4"))
    result = load_file(scratch_conn, landing, "r4", 0.01)
    assert result.status == "loaded" and result.replaced
    score = scratch_conn.execute(
        "select score from raw.responses where _source_file = %s", [landing.path]
    ).fetchone()[0]
    assert score == 4


def _messy_responses(bad_byte: bool = False, key: str = "R") -> bytes:
    """200 responses with what each stream must handle the same: comments spanning lines,
    padded and blank text, a type error after a multi-line comment, duplicates and a
    conflict whose rows sit in different halves, an unknown customer. ``key`` starts every
    response id: the same rows under two names would be refused as a copy."""
    rows = []
    for n in range(200):
        comment = f'"needs\nwork, ""really"" {n}"' if n % 7 == 0 else ""
        rows.append(f"R{n},L1,u{n},admin,{n % 11},{comment},2026-02-03T10:00:00+00:00")
    rows[3] = "R3, L2 ,u3,admin,4,,2026-02-03T10:00:00+00:00"  # padded: loads as L2
    rows[150] = rows[5]  # exact duplicate of line 7, far away
    rows[160] = rows[10].replace(",admin,", ",viewer,")  # conflicts with line 12
    rows[170] = "R170,L1,u170,admin,ten,,2026-02-03T10:00:00+00:00"
    rows[180] = "R180,NOPE,u180,admin,5,,2026-02-03T10:00:00+00:00"
    rows[190] = "R190,L1,   ,admin,5,,2026-02-03T10:00:00+00:00"  # blank after trimming
    rows = [key + row[1:] for row in rows]
    data = (RESPONSES_HEADER + "\n".join(rows) + "\n").encode()
    return data.replace(b"R185,", b"R185\xff,") if bad_byte else data


def _loaded_rows(conn, path: str) -> tuple[list[tuple], list[tuple]]:
    columns = "response_id, customer_id, user_id, role, score, comment, responded_at, _line"
    raw = conn.execute(
        f"select {columns} from raw.responses where _source_file = %s order by _line", [path]
    ).fetchall()
    quarantine = conn.execute(
        f"select {columns}, _field, _reason from raw_quarantine.responses"
        " where _source_file = %s order by _line",
        [path],
    ).fetchall()
    return raw, quarantine


def test_parallel_streams_load_exactly_what_one_stream_loads(scratch_conn, root):
    one = landed(root, "nps/2026-02-03/responses-one-stream.csv", _messy_responses())
    # The same rows, a day later, behind a byte-order mark: not refused as a copy.
    two = landed(
        root, "nps/2026-02-11/responses-two-streams.csv", "\ufeff".encode() + _messy_responses()
    )
    result_one = load_file(scratch_conn, one, "r1", 1.0, streams=1)
    result_two = load_file(scratch_conn, two, "r1", 1.0, streams=2)
    assert _partitions(scratch_conn, two.path) == 2
    assert (result_two.rows_read, result_two.rows_loaded) == (200, 194)
    assert (result_one.rows_read, result_one.rows_loaded) == (200, 194)
    raw, quarantine = _loaded_rows(scratch_conn, one.path)
    assert (raw, quarantine) == _loaded_rows(scratch_conn, two.path)
    assert [(row[7], row[8], row[9]) for row in quarantine] == [
        (12, "response_id", "key appears more than once in the file with different content"),
        (152, "response_id", "exact duplicate of an earlier row"),
        (162, "response_id", "key appears more than once in the file with different content"),
        (172, "score", "'ten' is not a valid integer"),
        (182, "customer_id", "unknown customer 'NOPE'"),
        (192, "user_id", "missing required value"),
    ]
    assert next(row for row in raw if row[0] == "R3")[1] == "L2"
    assert quarantine[0][:7] == (
        "R10",
        "L1",
        "u10",
        "admin",
        "10",
        None,
        "2026-02-03T10:00:00+00:00",
    )


def test_an_error_in_a_later_stream_names_the_line_of_the_whole_file(scratch_conn, root):
    messages = []
    for streams in (1, 2):
        landing = landed(
            root,
            f"nps/2026-02-04/responses-bad-byte-{streams}.csv",
            _messy_responses(bad_byte=True),
        )
        with pytest.raises(IngestError) as failure:
            load_file(scratch_conn, landing, "r1", 1.0, streams=streams)
        messages.append(str(failure.value).split(" ", 1)[1])
    # 27 comments before R185 span two lines each: record 187 is physical line 214.
    assert messages[0] == messages[1]
    assert messages[0].startswith("line 214")
    assert _leftover_tables(scratch_conn) == 0


def _leftover_tables(conn) -> int:
    """Tables of loads that did not finish: in raw_files but attached to no raw table."""
    return (
        conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'raw_files' and c.relkind = 'r'"
            " and c.relname not in ('bad_lines', 'customer_keys')"
            " and c.oid not in (select inhrelid from pg_inherits)"
        ).fetchone()[0]
        + conn.execute("select count(*) from raw_files.bad_lines").fetchone()[0]
    )


def test_a_parallel_load_over_the_threshold_leaves_nothing_behind(scratch_conn, root):
    landing = landed(root, "nps/2026-02-07/responses-over.csv", _messy_responses(key="T"))
    with pytest.raises(IngestError, match="6 of 200 rows broke the contract"):
        load_file(scratch_conn, landing, "r1", 0.01, streams=2)
    assert counts(scratch_conn, landing.path) == (0, 0)
    assert _leftover_tables(scratch_conn) == 0


def test_a_corrected_file_replaces_every_partition_of_its_parallel_load(scratch_conn, root):
    path = "nps/2026-02-08/responses-replaced.csv"
    load_file(scratch_conn, landed(root, path, _messy_responses(key="U")), "r1", 1.0, streams=2)
    corrected = RESPONSES_HEADER + "R1,L1,u1,admin,9,,2026-02-06T10:00:00+00:00\n"
    result = load_file(scratch_conn, landed(root, path, corrected), "r2", 1.0)
    assert result.replaced and counts(scratch_conn, path) == (1, 0)
    assert _partitions(scratch_conn, path) == 1


def test_a_file_without_rows_is_in_the_ledger_only_until_a_correction_brings_some(
    scratch_conn, root
):
    path = "nps/2026-02-09/responses-none.csv"
    empty = load_file(scratch_conn, landed(root, path, RESPONSES_HEADER), "r1", 1.0)
    assert (empty.status, empty.rows_read, empty.rows_loaded) == ("loaded", 0, 0)
    assert (_partitions(scratch_conn, path), _leftover_tables(scratch_conn)) == (0, 0)
    corrected = RESPONSES_HEADER + "R1,L1,u1,admin,9,,2026-02-08T10:00:00+00:00\n"
    result = load_file(scratch_conn, landed(root, path, corrected), "r2", 1.0)
    assert result.replaced and counts(scratch_conn, path) == (1, 0)
    assert _partitions(scratch_conn, path) == 1
    emptied = load_file(scratch_conn, landed(root, path, RESPONSES_HEADER), "r3", 1.0)
    assert (emptied.replaced, emptied.rows_loaded) == (True, 0)
    assert counts(scratch_conn, path) == (0, 0)
    assert (_partitions(scratch_conn, path), _leftover_tables(scratch_conn)) == (0, 0)
    ledger = scratch_conn.execute(
        "select run_id, status, rows_loaded from ops.load_ledger where file_path = %s"
        " order by finished_at",
        [path],
    ).fetchall()
    assert ledger == [("r1", "loaded", 0), ("r2", "loaded", 1), ("r3", "loaded", 0)]


def test_a_file_of_its_header_only_is_recorded_without_creating_a_table(scratch_conn, root):
    """Most nights' customers, products and NPS files hold no row: their first load runs no
    DDL (an event trigger records every command that would), nor does a Parquet file of no
    rows. A blank line after the header is still a line, which the file is refused for, and
    a file with rows gets its partition."""
    scratch_conn.execute(
        "create table ddl_seen (tag text);"
        "create function record_ddl() returns event_trigger language plpgsql as"
        " $$ begin insert into ddl_seen select command_tag"
        "  from pg_event_trigger_ddl_commands(); end $$;"
        "create event trigger ddl_seen on ddl_command_end execute function record_ddl()"
    )

    def load(name: str, text: str | bytes) -> tuple[set[str], int, int]:
        scratch_conn.execute("delete from ddl_seen")
        result = load_file(scratch_conn, landed(root, name, text), "r1", 1.0)
        tags = {tag for (tag,) in scratch_conn.execute("select distinct tag from ddl_seen")}
        return tags, result.rows_read, result.rows_loaded

    row = "R1,L1,u1,admin,9,,2026-02-12T10:00:00+00:00\n"
    try:
        assert load("nps/2026-04-10/responses-ddl.csv", RESPONSES_HEADER) == (set(), 0, 0)
        no_line_break = RESPONSES_HEADER.rstrip("\n")
        assert load("nps/2026-04-11/responses-ddl.csv", no_line_break) == (set(), 0, 0)
        with pytest.raises(FileRejected, match="responses-ddl.csv line 2: .*missing data"):
            load("nps/2026-04-12/responses-ddl.csv", RESPONSES_HEADER + "\n")
        columns = RESPONSES_HEADER.strip().split(",")
        no_rows = pa.table({name: pa.array([], pa.string()) for name in columns})
        assert load("nps/2026-04-14/responses-ddl.parquet", _parquet(no_rows)) == (set(), 0, 0)
        with_row = load("nps/2026-04-13/responses-ddl.csv", RESPONSES_HEADER + row)
        partition = {"CREATE TABLE", "CREATE SEQUENCE", "ALTER SEQUENCE", "ALTER TABLE"}
        assert with_row == (partition, 1, 1)
    finally:
        scratch_conn.execute(
            "drop event trigger ddl_seen; drop function record_ddl(); drop table ddl_seen"
        )
    ledger = scratch_conn.execute(
        "select file_path, status, rows_loaded from ops.load_ledger"
        " where file_path like '%/responses-ddl.%' order by file_path"
    ).fetchall()
    assert ledger == [
        ("nps/2026-04-10/responses-ddl.csv", "loaded", 0),
        ("nps/2026-04-11/responses-ddl.csv", "loaded", 0),
        ("nps/2026-04-12/responses-ddl.csv", "rejected", 0),
        ("nps/2026-04-13/responses-ddl.csv", "loaded", 1),
        ("nps/2026-04-14/responses-ddl.parquet", "loaded", 0),
    ]
    assert _leftover_tables(scratch_conn) == 0


def _parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _partitions(conn, path: str) -> int:
    """The partitions of raw.responses that hold the file's rows."""
    return conn.execute(
        "select count(*) from pg_inherits where inhparent = 'raw.responses'::regclass"
        " and inhrelid::regclass::text like %s",
        ["%" + file_prefix(entity_named("responses"), path) + "%"],
    ).fetchone()[0]


def test_a_corrected_customers_file_takes_its_customers_out_of_the_known_keys(scratch_conn, root):
    path = "billing/2026-01-03/customers-acquired.csv"
    header = CUSTOMERS.splitlines()[0] + "\n"
    nine = "L9,Nine,software,US,5,,2026-01-03T00:00:00+00:00\n"
    seven = "L7,Seven,software,US,5,,2026-01-03T00:00:00+00:00\n"
    load_file(scratch_conn, landed(root, path, header + nine + seven), "r1", 1.0)
    response = RESPONSES_HEADER + "RK1,L9,u1,admin,9,,2026-02-09T10:00:00+00:00\n"
    first = landed(root, "nps/2026-02-09/responses-known.csv", response)
    assert load_file(scratch_conn, first, "r1", 1.0).rows_loaded == 1
    # A correction that drops L9, which a loaded response references, is refused.
    dropping_nine = landed(root, path, header + seven)
    with pytest.raises(IngestError) as refused:
        load_file(scratch_conn, dropping_nine, "r2", 1.0)
    assert str(refused.value) == (
        f"{path}: the correction drops customers that other loaded files still reference: "
        "L9 (responses); nothing was loaded (keep those customers, or correct the files that "
        "reference them first)"
    )
    assert scratch_conn.execute(
        "select customer_id from raw.customers where _source_file = %s order by 1", [path]
    ).fetchall() == [("L7",), ("L9",)]
    # Dropping L7, which nothing references, is a correction: L7 is no longer known.
    assert load_file(scratch_conn, landed(root, path, header + nine), "r3", 1.0).replaced
    later = landed(
        root, "nps/2026-02-10/responses-unknown.csv", response.replace("RK1,L9", "RK2,L7")
    )
    assert load_file(scratch_conn, later, "r3", 1.0).rows_quarantined == 1
    assert scratch_conn.execute(
        "select _reason from raw_quarantine.responses where _source_file = %s", [later.path]
    ).fetchone() == ("unknown customer 'L7'",)


def test_raw_tables_of_the_unpartitioned_loader_are_refused_with_a_message(scratch_conn):
    scratch_conn.execute("create table raw.flat_events (event_id text)")
    try:
        with pytest.raises(WarehouseError, match=r"raw\.flat_events was created by an older"):
            ensure_warehouse_objects(scratch_conn, None)
    finally:
        scratch_conn.execute("drop table raw.flat_events")


def test_a_column_added_to_the_contract_reaches_tables_created_before_it(scratch_conn, root):
    """A warehouse from before csm_owner existed gains the column and loads files naming it."""
    scratch_conn.execute(
        "alter table raw.customers drop column csm_owner;"
        "alter table raw_quarantine.customers drop column csm_owner"
    )
    ensure_warehouse_objects(scratch_conn, None)
    landing = landed(
        root,
        "billing/2026-01-03/customers-owned.csv",
        "customer_id,name,industry,country,employee_count,created_at,csm_owner\n"
        "L3,Loader Three,software,US,400,2026-01-03T00:00:00+00:00,csm-02\n",
    )
    assert load_file(scratch_conn, landing, "r1", 1.0).status == "loaded"
    owners = scratch_conn.execute(
        "select customer_id, csm_owner from raw.customers where customer_id in ('L1', 'L3')"
    ).fetchall()
    assert sorted(owners) == [("L1", None), ("L3", "csm-02")]
    quarantine = scratch_conn.execute(
        "select count(*) from information_schema.columns"
        " where table_schema = 'raw_quarantine' and table_name = 'customers'"
        " and column_name = 'csm_owner'"
    ).fetchone()[0]
    assert quarantine == 1
