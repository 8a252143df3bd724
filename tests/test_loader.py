"""Loading landing files into raw: quarantine with reasons, ledger idempotency, clear errors.

Every case runs against a real PostgreSQL, in a database private to this module.
"""

from __future__ import annotations

import gzip
import os
from datetime import date
from pathlib import Path

import pytest

from customer_health.errors import IngestError
from customer_health.ingest.contracts import entity_named
from customer_health.ingest.landing import LandingFile, discover
from customer_health.ingest.loader import load_file, unchanged_since_last_load

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
    files = [f for f in discover(str(root), date(2100, 1, 1)) if f.path == relative]
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


def test_same_file_twice_is_skipped_and_changed_file_replaces_its_rows(scratch_conn, root):
    body = RESPONSES_HEADER + "R10,L1,u1,admin,8,,2026-02-02T10:00:00+00:00\n"
    landing = landed(root, "nps/2026-02-02/responses.csv", body)
    assert load_file(scratch_conn, landing, "r1", 1.0).status == "loaded"
    assert load_file(scratch_conn, landing, "r2", 1.0).status == "skipped"
    landing = landed(
        root,
        "nps/2026-02-02/responses.csv",
        body + "R11,L2,u2,admin,6,,2026-02-02T11:00:00+00:00\n",
    )
    result = load_file(scratch_conn, landing, "r3", 1.0)
    assert result.replaced and result.rows_loaded == 2
    assert counts(scratch_conn, landing.path) == (2, 0)
    assert counts(scratch_conn, "nps/2026-02-01/responses.csv") == (1, 5)  # untouched


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
    assert status == "failed" and "score" in message


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


def test_discovery_orders_customers_first_and_ignores_other_files(root):
    (root / "billing" / "2026-02-10").mkdir(parents=True, exist_ok=True)
    (root / "billing" / "2026-02-10" / "notes.txt").write_text("not data")
    files = discover(str(root), date(2026, 2, 10))
    assert files[0].entity == entity_named("customers")
    assert all(f.path.endswith((".csv", ".csv.gz")) for f in files)
    assert not discover(str(root), date(2026, 1, 1))


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
    files = discover("memory://landing", date(2026, 4, 1))
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
