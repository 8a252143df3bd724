"""Files loading side by side (INGEST_CONNECTIONS) end as they do one at a time: the same
ledger, rows, quarantine and known customers, a day's customers known to its other files
and no later day's, and a copy refused whichever file of the entity loads first.

Real PostgreSQL, a database per connection count. The plan of rounds, and that its lanes
do run at once, are checked without a database. A night killed while its two connections
load leaves every file whole or absent, and its rerun ends where an uninterrupted ingest does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import nullcontext
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from customer_health.errors import IngestError
from customer_health.ingest.contracts import LOAD_ORDER
from customer_health.ingest.landing import discover
from customer_health.ingest.lanes import load_in_lanes, plan_rounds
from customer_health.pipeline import ingest
from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.warehouse.connection import drop_database
from customer_health.warehouse.urls import with_database
from tests.helpers import BIN, leftovers

CUSTOMERS = "customer_id,name,industry,country,employee_count,parent_customer_id,created_at\n"
CUSTOMER = "{id},Lane {id},software,US,40,,2026-03-01T00:00:00+00:00\n"
EVENTS = "event_id,customer_id,user_id,product_id,feature,occurred_at,quantity\n"
EVENT = "{id},{customer},{customer}-U1,P-CORE,explore,{day}T10:00:00+00:00,1\n"
RESPONSES = "response_id,customer_id,user_id,role,score,comment,responded_at\n"
RESPONSE = "{id},{customer},{customer}-U1,admin,9,,{day}T11:00:00+00:00\n"
SECOND_DAY_EVENTS = EVENTS + EVENT.format(id="E3", customer="K2", day="2026-03-02")
LANDING = {
    "billing/2026-03-01/customers.csv": CUSTOMERS + CUSTOMER.format(id="K1"),
    # K2 is a customer from the next day on: its event of the first day is unknown.
    "usage/2026-03-01/events.csv": EVENTS
    + EVENT.format(id="E1", customer="K1", day="2026-03-01")
    + EVENT.format(id="E2", customer="K2", day="2026-03-01"),
    "nps/2026-03-01/responses.csv": RESPONSES
    + RESPONSE.format(id="R1", customer="K1", day="2026-03-01"),
    "billing/2026-03-02/customers.csv": CUSTOMERS + CUSTOMER.format(id="K2"),
    "billing/2026-03-02/products.csv": (
        "product_id,name,family,list_price_monthly,unit,usage_limit\n"
    ),
    "usage/2026-03-02/events-resent.csv": SECOND_DAY_EVENTS,
    "usage/2026-03-02/events.csv": SECOND_DAY_EVENTS,
    "nps/2026-03-02/responses.csv": RESPONSES
    + RESPONSE.format(id="R2", customer="K2", day="2026-03-02"),
}
COPY = (
    "usage/2026-03-02/events.csv: the same bytes as usage/2026-03-02/events-resent.csv, "
    "already loaded; nothing was loaded"
)
LEDGER = [
    ("billing/2026-03-01/customers.csv", "loaded", 1, 1, 0, None),
    ("billing/2026-03-02/customers.csv", "loaded", 1, 1, 0, None),
    ("billing/2026-03-02/products.csv", "loaded", 0, 0, 0, None),
    ("nps/2026-03-01/responses.csv", "loaded", 1, 1, 0, None),
    ("nps/2026-03-02/responses.csv", "loaded", 1, 1, 0, None),
    ("usage/2026-03-01/events.csv", "loaded", 2, 1, 1, None),
    ("usage/2026-03-02/events-resent.csv", "loaded", 1, 1, 0, None),
    ("usage/2026-03-02/events.csv", "rejected", 0, 0, 0, COPY),
]
# Rows as loaded, without the run that loaded them and when.
CONTENT = (
    "select coalesce(jsonb_agg(to_jsonb(t) - '_run_id' - '_loaded_at'"
    " order by t._source_file, t._line), '[]') from {} t"
)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    for relative, text in LANDING.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    return tmp_path


def test_a_days_customers_load_first_then_a_lane_per_entity(landing):
    rounds = plan_rounds(discover(str(landing), date(2026, 3, 2)).files)
    assert [[[f.path for f in lane] for lane in lanes] for lanes in rounds] == [
        [["billing/2026-03-01/customers.csv"]],
        [["usage/2026-03-01/events.csv"], ["nps/2026-03-01/responses.csv"]],
        [["billing/2026-03-02/customers.csv"]],
        [
            ["billing/2026-03-02/products.csv"],
            ["usage/2026-03-02/events-resent.csv", "usage/2026-03-02/events.csv"],
            ["nps/2026-03-02/responses.csv"],
        ],
    ]


def test_a_rounds_lanes_load_at_once_and_nothing_beside_a_customers_file(landing):
    """Each file's load notes the files loading when it starts. The first day's events and
    responses wait for each other at a barrier, which breaks after 10 s alone."""
    files = discover(str(landing), date(2026, 3, 2)).files
    loading: set[str] = set()
    beside: dict[str, set[str]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(2, timeout=10)

    def load(conn: object, landing_file) -> object:
        with lock:
            beside[landing_file.path] = set(loading)
            loading.add(landing_file.path)
        if landing_file.path in ("usage/2026-03-01/events.csv", "nps/2026-03-01/responses.csv"):
            barrier.wait()
        with lock:
            loading.discard(landing_file.path)
        return conn

    outcomes = list(load_in_lanes(object(), lambda: nullcontext(object()), 2, files, load))
    assert [landing_file.path for landing_file, _ in outcomes] == [f.path for f in files]
    assert len({id(conn) for _, conn in outcomes}) == 2
    customers = {f.path for f in files if f.entity.name == "customers"}
    assert {path: beside[path] for path in customers} == {path: set() for path in customers}
    assert {path for path, others in beside.items() if others & customers} == set()
    assert "usage/2026-03-02/events-resent.csv" not in beside["usage/2026-03-02/events.csv"]


def _warehouse(conn: psycopg.Connection) -> dict[str, object]:
    """The ingest's outcome without the runs that produced it."""
    return {
        "ledger": conn.execute(
            "select file_path, status, rows_read, rows_loaded, rows_quarantined, message"
            " from ops.load_ledger order by file_path, ledger_id"
        ).fetchall(),
        "rows": {
            f"{schema}.{entity}": conn.execute(
                f"select md5(({CONTENT.format(f'{schema}.{entity}')})::text)"
            ).fetchone()[0]
            for entity in LOAD_ORDER
            for schema in ("raw", "raw_quarantine")
        },
        "known customers": conn.execute(
            "select customer_id from raw_files.customer_keys order by 1"
        ).fetchall(),
        "leftovers": leftovers(conn),
    }


def _load(settings, url: str, landing: Path, connections: int) -> dict[str, object]:
    database = f"ingest_lanes_{connections}"
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, database)
    night = replace(
        settings, landing_path=str(landing), database=database, ingest_connections=connections
    )
    with pytest.raises(IngestError) as failed:
        ingest(night, date(2026, 3, 2), f"lanes-{connections}")
    with psycopg.connect(with_database(url, database), autocommit=True) as conn:
        outcome = {
            "error": str(failed.value),
            **_warehouse(conn),
            "quarantine": conn.execute(
                "select event_id, _reason from raw_quarantine.events order by event_id"
            ).fetchall(),
            "keys": {
                table: conn.execute(f"select {key} from raw.{table} order by 1").fetchall()
                for table, key in (
                    ("customers", "customer_id"),
                    ("events", "event_id"),
                    ("responses", "response_id"),
                )
            },
        }
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, database)
    return outcome


def test_two_or_three_connections_load_what_one_loads(settings, url, landing):
    """With three, the second day's products, events and responses each have a connection."""
    one = _load(settings, url, landing, 1)
    assert one["error"] == f"1 landing entries could not be loaded:\n  {COPY}"
    assert one["ledger"] == LEDGER
    assert one["quarantine"] == [("E2", "unknown customer 'K2'")]
    assert one["known customers"] == [("K1",), ("K2",)]
    assert one["keys"] == {
        "customers": [("K1",), ("K2",)],
        "events": [("E1",), ("E3",)],
        "responses": [("R1",), ("R2",)],
    }
    assert _load(settings, url, landing, 2) == one
    assert _load(settings, url, landing, 3) == one


KILLED_NIGHT = date(2026, 3, 1)
KILLED_LANDING = GeneratorConfig(
    scale_factor=0.02, days=90, end_date=KILLED_NIGHT, seed=5, bad_row_rate=0.002
)
# Two files of the same day, each long enough to COPY that the kill lands inside both.
BULK_DAY = "2026-01-20"
BULK = {
    f"usage/{BULK_DAY}/events.csv": f"usage/{BULK_DAY}/events-bulk.csv",
    f"nps/{BULK_DAY}/responses.csv": f"nps/{BULK_DAY}/responses-bulk.csv",
}
BULK_ROWS = 150_000
# COPY statements on the night's database that have run for a while.
LONG_COPIES = (
    "select count(*) from pg_stat_activity where datname = current_database()"
    " and state = 'active' and query ilike 'copy %%' and now() - query_start > %s"
)


def _land_bulk_files(landing: Path) -> None:
    """The day's generated rows again and again, each under a key of its own."""
    for source, bulk in BULK.items():
        header, *rows = (landing / source).read_text().splitlines()
        assert rows, f"{source} has no rows to repeat"
        lines = [f"B{n:09d}," + rows[n % len(rows)].split(",", 1)[1] for n in range(BULK_ROWS)]
        (landing / bulk).write_text("\n".join([header, *lines, ""]))


def _kill_while_copying(run: subprocess.Popen, url: str) -> bool:
    """SIGKILL the night's processes once both its connections are inside a long COPY;
    False if the night ended first or never got there."""
    deadline = time.monotonic() + 300
    while run.poll() is None and time.monotonic() < deadline:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                copying = conn.execute(LONG_COPIES, [timedelta(milliseconds=50)]).fetchone()[0]
        except psycopg.Error:  # the night has not created its database yet
            copying = 0
        if copying == 2:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
            return True
        time.sleep(0.01)
    if run.poll() is None:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    return False


def _rows_by_file(conn: psycopg.Connection) -> dict[str, tuple[int, int]]:
    """Each file's rows in raw and in quarantine, as the tables hold them."""
    counts: dict[str, list[int]] = {}
    for entity in LOAD_ORDER:
        for slot, schema in enumerate(("raw", "raw_quarantine")):
            for path, rows in conn.execute(
                sql.SQL("select _source_file, count(*) from {} group by 1").format(
                    sql.Identifier(schema, entity)
                )
            ):
                counts.setdefault(path, [0, 0])[slot] = rows
    return {path: (raw, quarantined) for path, (raw, quarantined) in counts.items()}


def _ledger_rows_by_file(conn: psycopg.Connection) -> dict[str, tuple[int, int]]:
    """What the ledger says each loaded file put in raw and in quarantine (if anything)."""
    return {
        path: (loaded, quarantined)
        for path, loaded, quarantined in conn.execute(
            "select file_path, rows_loaded, rows_quarantined from ops.load_ledger"
            " where status = 'loaded' and rows_loaded + rows_quarantined > 0"
        )
    }


def test_a_night_killed_while_two_connections_load_is_finished_by_its_rerun(
    settings, url, tmp_path
):
    """The CLI night, SIGKILLed while both its connections COPY a big file: each file it
    loaded is in the ledger with exactly its rows, the two big files and the files after
    them have neither; the rerun loads the rest and ends with the warehouse an
    uninterrupted ingest of the same files gives."""
    landing = tmp_path / "landing"
    generate(landing, KILLED_LANDING)
    _land_bulk_files(landing)
    files = len(discover(str(landing), KILLED_NIGHT).files)
    killed, whole = "lanes_killed", "lanes_whole"
    with psycopg.connect(url, autocommit=True) as admin:
        for database in (killed, whole):
            drop_database(admin, database)
    env = {
        **os.environ,
        "WAREHOUSE_DATABASE": killed,
        "LANDING_PATH": str(landing),
        "REPORTS_DIR": str(tmp_path / "reports"),
        "INGEST_CONNECTIONS": "2",
    }
    night = [str(BIN / "customer-health"), "run", "--date", KILLED_NIGHT.isoformat()]
    run = subprocess.Popen(
        night, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        assert _kill_while_copying(run, with_database(url, killed)), "never saw both COPYs"
        with psycopg.connect(with_database(url, killed), autocommit=True) as conn:
            loaded = _ledger_rows_by_file(conn)
            in_ledger = {path for (path,) in conn.execute("select file_path from ops.load_ledger")}
            assert set(BULK.values()) & in_ledger == set()
            assert 0 < len(in_ledger) < files
            assert _rows_by_file(conn) == loaded

        for database in (killed, whole):
            night_settings = replace(
                settings, landing_path=str(landing), database=database, ingest_connections=2
            )
            ingest(night_settings, KILLED_NIGHT, f"{database}-rerun")
        with (
            psycopg.connect(with_database(url, killed), autocommit=True) as rerun,
            psycopg.connect(with_database(url, whole), autocommit=True) as uninterrupted,
        ):
            finished = _warehouse(rerun)
            assert finished == _warehouse(uninterrupted)
            assert len(finished["ledger"]) == files
            assert _rows_by_file(rerun) == _ledger_rows_by_file(rerun)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            for database in (killed, whole):
                drop_database(admin, database)
