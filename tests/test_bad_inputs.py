"""The bad-input catalogue: every way a landing file goes wrong, and exactly what happens.

Each case asserts its outcome (a clear error naming the file, quarantined rows with their
reason, or a clean load), that loaded + quarantined = rows read, and that no row of any
other file in ``raw`` changed. All against a real PostgreSQL, in this module's own database.
"""

from __future__ import annotations

import gzip
import io
import threading
from dataclasses import dataclass, field
from datetime import date

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from customer_health.errors import IngestError
from customer_health.ingest.landing import LandingFile, discover
from customer_health.ingest.loader import load_file

CUSTOMERS = (
    "customer_id,name,industry,country,employee_count,parent_customer_id,created_at\n"
    "L1,Loader One,software,US,40,,2026-01-01T00:00:00+00:00\n"
    "L2,Loader Two,retail,FR,900,L1,2026-01-02T00:00:00+00:00\n"
)
NPS = "response_id,customer_id,user_id,role,score,comment,responded_at\n"
OK = "R{n},L1,u1,admin,9,,2026-03-01T10:00:00+00:00\n"
INVOICES = "invoice_id,customer_id,issued_at,due_at,paid_at,amount,currency,status\n"
SUBSCRIPTIONS = (
    "subscription_item_id,customer_id,product_id,plan,quantity,unit_price,currency,"
    "billing_period,discount_pct,start_date,end_date,cancel_at,status\n"
)
TICKETS = "ticket_id,customer_id,opened_at,closed_at,priority,category,csat\n"


def parquet_bytes(valid: bool) -> bytes:
    table = pa.table(
        {
            "response_id": ["PQ1", "PQ2"],
            "customer_id": ["L1", "L2"],
            "user_id": ["u1", "u2"],
            "role": ["admin", "end user"],
            "score": pa.array([10, 3], pa.int32()),
            "comment": [None, "slow"],
            "responded_at": pa.array(
                [1772359200000000, 1772359200000000], pa.timestamp("us", "UTC")
            ),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue() if valid else out.getvalue()[:40] + b"garbage" * 10


def garbled_gzip(data: bytes) -> bytes:
    """A gzip file whose deflate stream is damaged after its header (zlib, not gzip, fails)."""
    garbled = bytearray(gzip.compress(data))
    for position in range(20, 60):
        garbled[position] ^= 0xFF
    return bytes(garbled)


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    content: bytes | str
    error: str | None = None  # a regex the IngestError message must match
    loaded: int = 0
    reasons: dict[int, str] = field(default_factory=dict)  # line -> "field: reason"
    first: dict[str, str] = field(default_factory=dict)  # files loaded before this one


CASES = [
    Case("empty file", "nps/2026-03-01/responses-empty.csv", "", error="file is empty"),
    Case("header only", "nps/2026-03-01/responses-header.csv", NPS),
    Case(
        "wrong delimiter",
        "nps/2026-03-01/responses-semicolon.csv",
        NPS.replace(",", ";") + OK.format(n=1).replace(",", ";"),
        error="required column 'response_id' is missing .*; the header is separated by "
        "semicolons, the contract wants commas",
    ),
    Case(
        "tab-separated",
        "nps/2026-03-01/responses-tabs.tsv.csv",
        NPS.replace(",", "\t") + OK.format(n=1).replace(",", "\t"),
        error="the header is separated by tabs, the contract wants commas",
    ),
    Case(
        "trailing comma in the header",
        "nps/2026-03-01/responses-trailing.csv",
        NPS.replace("\n", ",\n") + OK.format(n=1).replace("\n", ",\n"),
        error=r"responses-trailing.csv line 1: column 8 has no name \(a trailing comma\?\)",
    ),
    Case(
        "a column named like a load column",
        "nps/2026-03-01/responses-reserved.csv",
        NPS.strip() + ",_run_id\n" + OK.format(n=1).strip() + ",x\n",
        error="line 1: column '_run_id' is reserved for the loader's own columns",
    ),
    Case(
        "two unknown column names longer than PostgreSQL's limit",
        "nps/2026-03-01/responses-long.csv",
        NPS.strip() + f",{'x' * 64}1,{'x' * 64}2\n" + OK.format(n=1).strip() + ",a,b\n",
        error="line 1: column 8 .* is longer than PostgreSQL's 63-byte limit for names",
    ),
    Case(
        "missing column",
        "nps/2026-03-01/responses-noscore.csv",
        "response_id,customer_id,user_id,role,comment,responded_at\n",
        error="responses-noscore.csv: required column 'score' is missing",
    ),
    Case(
        "duplicate header column",
        "nps/2026-03-01/responses-twice.csv",
        NPS.strip() + ",score\n",
        error="line 1: column 'score' appears twice",
    ),
    Case(
        "extra column is ignored",
        "nps/2026-03-01/responses-extra.csv",
        NPS.strip() + ",campaign\n" + OK.format(n=2).strip() + ",spring\n",
        loaded=1,
    ),
    Case(
        "wrong type",
        "nps/2026-03-01/responses-type.csv",
        NPS + "R3,L1,u1,admin,seven,,2026-03-01T10:00:00+00:00\n",
        reasons={2: "score: 'seven' is not a valid integer"},
    ),
    Case(
        "impossible date",
        "nps/2026-03-01/responses-date.csv",
        NPS + "R4,L1,u1,admin,5,,2026-02-30T10:00:00+00:00\n",
        reasons={2: "responded_at: '2026-02-30T10:00:00+00:00' is not a valid timestamptz"},
    ),
    Case(
        "date after the file's day",
        "nps/2026-03-01/responses-future.csv",
        NPS + "R5,L1,u1,admin,5,,2027-01-01T10:00:00+00:00\n" + OK.format(n=6),
        loaded=1,
        reasons={2: "responded_at: 2027-01-01T10:00:00+00:00 is after the file's date 2026-03-01"},
    ),
    Case(
        "negative amount",
        "billing/2026-03-01/invoices-negative.csv",
        INVOICES + "INV-1,L1,2026-03-01,2026-03-31,,-5.00,USD,open\n",
        reasons={2: "amount: -5.00 is below the minimum 0"},
    ),
    Case(
        "NPS score 11",
        "nps/2026-03-01/responses-eleven.csv",
        NPS + "R7,L1,u1,admin,11,,2026-03-01T10:00:00+00:00\n",
        reasons={2: "score: 11 is above the maximum 10"},
    ),
    Case(
        "value outside the allowed set",
        "support/2026-03-01/tickets-priority.csv",
        TICKETS + "T1,L1,2026-03-01T08:00:00+00:00,,critical,bug,\n",
        reasons={2: "priority: 'critical' is not one of low, normal, high, urgent"},
    ),
    Case(
        "optional number that is only spaces",
        "support/2026-03-01/tickets-blank-csat.csv",
        TICKETS
        + "T2,L1,2026-03-01T08:00:00+00:00,,low,bug,   \n"
        + "T3,L1,2026-03-01T08:00:00+00:00,,low,bug,great\n",
        loaded=1,
        reasons={3: "csat: 'great' is not a valid integer"},
    ),
    Case(
        "missing required value",
        "nps/2026-03-01/responses-blank.csv",
        NPS + ",L1,u1,admin,7,,2026-03-01T10:00:00+00:00\n",
        reasons={2: "response_id: missing required value"},
    ),
    Case(
        "duplicate key, same content",
        "nps/2026-03-01/responses-dup.csv",
        NPS + OK.format(n=8) + OK.format(n=8),
        loaded=1,
        reasons={3: "response_id: exact duplicate of an earlier row"},
    ),
    Case(
        "duplicate key, different content",
        "nps/2026-03-01/responses-conflict.csv",
        NPS + OK.format(n=9) + OK.format(n=9).replace(",9,", ",2,"),
        reasons={
            2: "response_id: key appears more than once in the file with different content",
            3: "response_id: key appears more than once in the file with different content",
        },
    ),
    Case(
        "unknown customer",
        "nps/2026-03-01/responses-unknown.csv",
        NPS + "R10,NOPE,u1,admin,7,,2026-03-01T10:00:00+00:00\n",
        reasons={2: "customer_id: unknown customer 'NOPE'"},
    ),
    Case(
        "invalid UTF-8",
        "nps/2026-03-01/responses-latin1.csv",
        NPS.encode()
        + OK.format(n=11).encode()
        + "R12,L1,u1,admin,7,café,2026-03-01T10:00:00Z\n".encode("latin-1"),
        error=r"responses-latin1.csv line 3: invalid byte sequence for encoding \"UTF8\"",
    ),
    Case(
        "byte-order mark",
        "nps/2026-03-01/responses-bom.csv",
        "\ufeff" + NPS + OK.format(n=13),
        loaded=1,
    ),
    Case(
        "quoted newline in a field",
        "nps/2026-03-01/responses-newline.csv",
        NPS + 'R14,L1,u1,admin,6,"slow,\nand buggy",2026-03-01T10:00:00+00:00\n',
        loaded=1,
    ),
    Case(
        "CRLF line endings",
        "nps/2026-03-01/responses-crlf.csv",
        (NPS + OK.format(n=15) + OK.format(n=16)).replace("\n", "\r\n"),
        loaded=2,
    ),
    Case(
        "huge field",
        "nps/2026-03-01/responses-huge.csv",
        NPS + f"R17,L1,u1,admin,6,{'x' * 5_000_000},2026-03-01T10:00:00+00:00\n",
        loaded=1,
    ),
    Case(
        "unterminated quote",
        "nps/2026-03-01/responses-quote.csv",
        NPS + 'R18,L1,u1,admin,6,"never closed,2026-03-01T10:00:00+00:00\n',
        error="unterminated CSV quoted field",
    ),
    Case(
        "too many fields in a row",
        "nps/2026-03-01/responses-wide.csv",
        NPS + OK.format(n=19).strip() + ",surplus\n",
        error=r"responses-wide.csv line 2.*extra data after last expected column",
    ),
    Case(
        "truncated gzip",
        "nps/2026-03-01/responses-cut.csv.gz",
        gzip.compress((NPS + OK.format(n=20) * 200).encode())[:80],
        error="responses-cut.csv.gz: cannot be decompressed",
    ),
    Case(
        "gzip with corrupt data inside",
        "nps/2026-03-01/responses-garbled.csv.gz",
        garbled_gzip((NPS + OK.format(n=24) * 200).encode()),
        error=r"responses-garbled.csv.gz: cannot be decompressed \(Error -3 while decompressing",
    ),
    Case(
        "gzip",
        "nps/2026-03-01/responses-zipped.csv.gz",
        gzip.compress((NPS + OK.format(n=21)).encode()),
        loaded=1,
    ),
    Case(
        "corrupt Parquet",
        "nps/2026-03-01/responses-corrupt.parquet",
        parquet_bytes(False),
        error="responses-corrupt.parquet: not a readable Parquet file",
    ),
    Case("Parquet", "nps/2026-03-01/responses-typed.parquet", parquet_bytes(True), loaded=2),
    Case(
        "SQL in a column name",
        "nps/2026-03-01/responses-hostile.csv",
        NPS.strip() + ',"x""; drop table raw.customers; --"\n' + OK.format(n=22).strip() + ",1\n",
        loaded=1,
    ),
    Case(
        "the same bytes again on another day",
        "nps/2026-03-05/responses-resent.csv",
        NPS + OK.format(n=50) + OK.format(n=51),
        error="responses-resent.csv: the same bytes as nps/2026-03-04/responses.csv, "
        "already loaded; nothing was loaded",
        first={"nps/2026-03-04/responses.csv": NPS + OK.format(n=50) + OK.format(n=51)},
    ),
    Case(
        "the same rows again as gzip on the same day",
        "nps/2026-03-04/responses-again.csv.gz",
        gzip.compress((NPS + OK.format(n=51) + OK.format(n=50)).encode()),
        error="every row was already loaded from nps/2026-03-04/responses.csv "
        r"\(the same rows under another name\)",
        first={"nps/2026-03-04/responses.csv": NPS + OK.format(n=50) + OK.format(n=51)},
    ),
    Case(
        "some rows again on the same day",
        "nps/2026-03-04/responses-more.csv",
        NPS + OK.format(n=51) + OK.format(n=52),
        loaded=1,
        reasons={2: "response_id: already loaded from another file of the same day"},
        first={"nps/2026-03-04/responses.csv": NPS + OK.format(n=50) + OK.format(n=51)},
    ),
    Case(
        "a change log restated unchanged on another day",
        "support/2026-03-05/tickets.csv",
        TICKETS + "T9,L1,2026-03-01T08:00:00+00:00,,low,bug,\n",
        loaded=1,
        first={
            "support/2026-03-04/tickets.csv": TICKETS
            + "T9,L1,2026-03-01T08:00:00+00:00,,low,bug,\n"
        },
    ),
    Case(
        "a change log restating rows again the same day",
        "support/2026-03-04/tickets-resent.csv",
        TICKETS
        + "T9,L1,2026-03-01T08:00:00+00:00,,low,bug,\n"
        + "T10,L1,2026-03-01T09:00:00+00:00,,low,bug,\n",
        loaded=1,
        reasons={2: "ticket_id: already loaded from another file of the same day"},
        first={
            "support/2026-03-04/tickets.csv": TICKETS
            + "T9,L1,2026-03-01T08:00:00+00:00,,low,bug,\n"
        },
    ),
    Case(
        "a change log correcting a key the same day",
        "support/2026-03-04/tickets-closed.csv",
        TICKETS + "T9,L1,2026-03-01T08:00:00+00:00,2026-03-01T09:30:00+00:00,low,bug,5\n",
        loaded=1,
        first={
            "support/2026-03-04/tickets.csv": TICKETS
            + "T9,L1,2026-03-01T08:00:00+00:00,,low,bug,\n"
        },
    ),
    Case(
        "a change log sent twice on the same day",
        "support/2026-03-04/tickets-copy.csv",
        TICKETS + "T9,L1,2026-03-01T08:00:00+00:00,,low,bug,\n",
        error="tickets-copy.csv: the same bytes as support/2026-03-04/tickets.csv",
        first={
            "support/2026-03-04/tickets.csv": TICKETS
            + "T9,L1,2026-03-01T08:00:00+00:00,,low,bug,\n"
        },
    ),
    Case(
        "a subscription that ends before it starts",
        "billing/2026-03-01/subscriptions-backwards.csv",
        SUBSCRIPTIONS
        + "SI1,L1,P-CORE,business,1,10,USD,month,0,2026-02-01,2026-01-01,,active\n"
        + "SI2,L1,P-CORE,business,1,10,USD,month,0,2026-02-01,2026-02-01,2026-01-31,active\n"
        + "SI3,L1,P-CORE,business,1,10,USD,month,0,2026-02-01,,,active\n",
        loaded=1,
        reasons={
            2: "end_date: 2026-01-01 is before start_date 2026-02-01",
            3: "cancel_at: 2026-01-31 is before start_date 2026-02-01",
        },
    ),
    Case(
        "an invoice due or paid before it was issued",
        "billing/2026-03-01/invoices-backwards.csv",
        INVOICES
        + "INV-2,L1,2026-02-10,2026-02-01,,5.00,USD,open\n"
        + "INV-3,L1,2026-02-10,2026-03-10,2026-02-09,5.00,USD,paid\n",
        reasons={
            2: "due_at: 2026-02-01 is before issued_at 2026-02-10",
            3: "paid_at: 2026-02-09 is before issued_at 2026-02-10",
        },
    ),
    Case(
        "a ticket closed before it was opened",
        "support/2026-03-01/tickets-backwards.csv",
        TICKETS + "T4,L1,2026-03-01T08:00:00+00:00,2026-03-01T07:59:00+00:00,low,bug,\n",
        reasons={
            2: "closed_at: 2026-03-01T07:59:00+00:00 is before opened_at 2026-03-01T08:00:00+00:00"
        },
    ),
    Case(
        "SQL in a value",
        "nps/2026-03-01/responses-quoted.csv",
        NPS + "R23,L1,u1,admin,6,'); drop table raw.customers; --,2026-03-01T10:00:00Z\n",
        loaded=1,
    ),
]


# The cases whose values test_values_survive_exactly reads back.
SURVIVORS = {
    "quoted newline in a field",
    "huge field",
    "SQL in a value",
    "Parquet",
    "optional number that is only spaces",
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("bad-inputs")


@pytest.fixture(scope="module", autouse=True)
def customers(scratch_conn, root):
    load_file(scratch_conn, landed(root, "billing/2026-01-02/customers.csv", CUSTOMERS), "r0", 1.0)


def landed(root, relative: str, content: bytes | str) -> LandingFile:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return next(f for f in discover(str(root), date(2100, 1, 1)).files if f.path == relative)


def raw_except(conn: psycopg.Connection, path: str) -> dict[str, str]:
    """Every raw and quarantine table's rows from files other than ``path``."""
    tables = conn.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'raw_quarantine')"
    ).fetchall()
    return {
        f"{schema}.{name}": conn.execute(
            psycopg.sql.SQL(
                "select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {} t "
                "where _source_file <> %s"
            ).format(psycopg.sql.Identifier(schema, name)),
            [path],
        ).fetchone()[0]
        for schema, name in tables
    }


def quarantined(conn: psycopg.Connection, entity: str, path: str) -> dict[int, str]:
    return dict(
        conn.execute(
            psycopg.sql.SQL(
                "select _line, _field || ': ' || _reason from {} where _source_file = %s"
            ).format(psycopg.sql.Identifier("raw_quarantine", entity)),
            [path],
        ).fetchall()
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(scratch_conn, root, case: Case):
    for path, content in case.first.items():  # skipped as unchanged when loaded already
        load_file(scratch_conn, landed(root, path, content), "first", threshold=1.0)
    landing = landed(root, case.path, case.content)
    before = raw_except(scratch_conn, case.path)
    if case.error:
        with pytest.raises(IngestError, match=case.error):
            load_file(scratch_conn, landing, "bad-input", threshold=1.0)
        status = scratch_conn.execute(
            "select status from ops.load_ledger where file_path = %s", [case.path]
        ).fetchone()
        assert status == ("rejected",)
    else:
        result = load_file(scratch_conn, landing, "bad-input", threshold=1.0)
        assert result.rows_loaded == case.loaded
        assert quarantined(scratch_conn, landing.entity.name, case.path) == case.reasons
        assert result.rows_read == result.rows_loaded + result.rows_quarantined
    assert raw_except(scratch_conn, case.path) == before


def test_values_survive_exactly(scratch_conn, root):
    for case in CASES:  # loaded here when this test runs alone, skipped as unchanged if not
        if case.name in SURVIVORS:
            load_file(scratch_conn, landed(root, case.path, case.content), "survive", 1.0)
    comments = dict(
        scratch_conn.execute(
            "select response_id, comment from raw.responses "
            "where response_id in ('R14', 'R17', 'R23')"
        ).fetchall()
    )
    assert comments["R14"] == "slow,\nand buggy"
    assert len(comments["R17"]) == 5_000_000
    assert comments["R23"] == "'); drop table raw.customers; --"
    assert scratch_conn.execute("select count(*) from raw.customers").fetchone()[0] == 2
    typed = scratch_conn.execute(
        "select score, responded_at from raw.responses where response_id = 'PQ1'"
    ).fetchone()
    assert typed[0] == 10 and typed[1].isoformat() == "2026-03-01T10:00:00+00:00"
    blank = scratch_conn.execute("select csat from raw.tickets where ticket_id = 'T2'")
    assert blank.fetchall() == [(None,)]


def test_a_corrected_file_for_a_loaded_date_replaces_exactly_its_rows(scratch_conn, root):
    path = "nps/2026-03-02/responses.csv"
    load_file(scratch_conn, landed(root, path, NPS + OK.format(n=30) + OK.format(n=31)), "r1", 1.0)
    before = raw_except(scratch_conn, path)
    result = load_file(scratch_conn, landed(root, path, NPS + OK.format(n=32)), "r2", 1.0)
    assert result.replaced and result.rows_loaded == 1
    assert [
        r
        for (r,) in scratch_conn.execute(
            "select response_id from raw.responses where _source_file = %s", [path]
        )
    ] == ["R32"]
    assert raw_except(scratch_conn, path) == before


def test_the_same_file_loaded_twice_at_once_loads_once(scratch_conn, root):
    path = "nps/2026-03-03/responses.csv"
    landing = landed(root, path, NPS + "".join(OK.format(n=n) for n in range(40, 140)))
    params = scratch_conn.info.get_parameters()
    password = scratch_conn.pgconn.password.decode()
    statuses: list[str] = []

    def load() -> None:
        with psycopg.connect(**params, password=password, autocommit=True) as conn:
            statuses.append(load_file(conn, landing, "concurrent", 1.0).status)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == ["loaded", "skipped"]
    assert (
        scratch_conn.execute(
            "select count(*) from raw.responses where _source_file = %s", [path]
        ).fetchone()[0]
        == 100
    )
    assert (
        scratch_conn.execute(
            "select count(*) from ops.load_ledger where file_path = %s and status = 'loaded'",
            [path],
        ).fetchone()[0]
        == 1
    )
