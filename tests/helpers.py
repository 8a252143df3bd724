"""Constants and helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import psycopg
from psycopg import sql

from customer_health.settings import PROJECT_HOME
from customer_health.synthetic.generator import GeneratorConfig
from customer_health.warehouse.connection import drop_database
from customer_health.warehouse.urls import with_database

NIGHT = date(2026, 11, 26)
TEST_DATA = GeneratorConfig(scale_factor=0.01, days=365, end_date=NIGHT, seed=7, bad_row_rate=0.001)
BIN = Path(sys.executable).parent


# A customer whose MRR is computed by hand (see test_end_to_end.py):
#   SI-FIX-1  Core Platform 10 seats × $360.00 a year, 10 % discount, from 2026-02-01 → $270.00
#             (renews 2027-02-01: within 90 days of the test night, whatever the seed draws)
#   SI-FIX-2  Automation €6,000.00 a year from 2026-03-10 → €500.00 × 1.08 (fx seed)  → $540.00
#   SI-FIX-3  Analytics 10 seats × $15.00, monthly, 2026-02-01 to 2026-06-15 (exclusive) → $150.00
FIXTURE_FILES = {
    "billing/2026-01-15/customers-fixture.csv": (
        "customer_id,name,industry,country,employee_count,parent_customer_id,created_at\n"
        "FIX001,Fixture Manufacturing,manufacturing,DE,250,,2026-01-15T09:00:00+00:00\n"
    ),
    "billing/2026-01-15/subscriptions-fixture.csv": (
        "subscription_item_id,customer_id,product_id,plan,quantity,unit_price,currency,"
        "billing_period,discount_pct,start_date,end_date,cancel_at,status\n"
        "SI-FIX-1,FIX001,P-CORE,business,10,360.00,USD,year,10,2026-02-01,,,active\n"
        "SI-FIX-2,FIX001,P-AUTO,business,1,6000.00,EUR,year,0,2026-03-10,,,active\n"
        "SI-FIX-3,FIX001,P-ANLT,business,10,15.00,USD,month,0,2026-02-01,2026-06-15,"
        "2026-06-15,canceled\n"
    ),
}


def copy_project(home: Path) -> Path:
    """The dbt project and GX suites copied under ``home`` (for CUSTOMER_HEALTH_HOME), so a
    test can change a model without touching the repository."""
    shutil.copytree(
        PROJECT_HOME / "dbt_project", home / "dbt_project", ignore=shutil.ignore_patterns("logs")
    )
    shutil.copytree(
        PROJECT_HOME / "expectations",
        home / "expectations",
        ignore=shutil.ignore_patterns("uncommitted"),
    )
    return home


def break_model(home: Path, model: str) -> str:
    """Make the copied model divide by zero when it runs; returns its SQL to restore it."""
    path = next((home / "dbt_project" / "models").rglob(f"{model}.sql"))
    sql_text = path.read_text()
    path.write_text(f"select * from (\n{sql_text}\n) as model where 1 / 0 = 1\n")
    return sql_text


def fresh_database(url: str, name: str) -> str:
    """An empty database of that name on the test server (dropped first); returns its URL."""
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, name)
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return with_database(url, name)


def airflow_dags_test(env: dict, night: date) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "customer_health_nightly", night.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


# Tables that log what each night published (one row per night and opportunity): not
# derived from the data alone, so a database that published more nights holds more rows than
# a clean build of one night. Compared on one night's rows, by their date column.
NIGHTLY_LOGS = {
    ("analytics", "fct_opportunity_outcomes"): "published_date",
    ("core", "int_expansion_opportunities_history"): "as_of_date",
}


def table_checksums(
    conn: psycopg.Connection, schema: str = "analytics", night: date | None = None
) -> dict[str, str]:
    """An md5 of every table's full content, to prove tables did or did not change. With
    ``night``, the NIGHTLY_LOGS count only that night's rows. Not the health history's month
    tables in `core` and their registry: a night writes new ones for the months it rescores
    (named by a counter, so they differ by name between databases and reruns), and what
    they hold is int_customer_health_scored's rows, and the published history view's."""
    tables = conn.execute(
        "select table_name from information_schema.tables where table_schema = %s"
        " and table_name not like 'health\\_history\\_%%'",
        [schema],
    ).fetchall()
    checksums = {}
    for (name,) in tables:
        where = sql.SQL("")
        if night is not None and (schema, name) in NIGHTLY_LOGS:
            column = sql.Identifier(NIGHTLY_LOGS[(schema, name)])
            where = sql.SQL(" where {} = {}").format(column, sql.Literal(night))
        checksums[name] = conn.execute(
            sql.SQL(
                "select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {} t{}"
            ).format(sql.Identifier(schema, name), where)
        ).fetchone()[0]
    return checksums


def history_chunks(conn: psycopg.Connection, schema: str = "analytics") -> dict[str, date]:
    """The month tables a schema's fct_customer_health_daily view reads, each with its month
    (read from its name, health_history_YYYY_MM_n)."""
    rows = conn.execute(
        "select table_name from information_schema.view_table_usage"
        " where view_schema = %s and view_name = 'fct_customer_health_daily'"
        " and table_schema = 'core'",
        [schema],
    ).fetchall()
    return {name: date(int(name.split("_")[2]), int(name.split("_")[3]), 1) for (name,) in rows}


def unmatched_history_chunks(conn: psycopg.Connection) -> dict[date, int]:
    """Months whose registered chunk differs from int_customer_health_scored's rows for that
    month (rows missing on either side, counted), plus scored months with no chunk: empty
    when the month tables hold exactly the scored history."""
    registered = dict(
        conn.execute("select month_start, chunk_table from core.health_history_chunks").fetchall()
    )
    scored_months = {
        month
        for (month,) in conn.execute(
            "select distinct date_trunc('month', health_date)::date"
            " from core.int_customer_health_scored"
        ).fetchall()
    }
    unmatched = {month: -1 for month in scored_months - registered.keys()}
    for month, chunk in registered.items():
        columns = sql.SQL(", ").join(
            sql.Identifier(name)
            for (name,) in conn.execute(
                "select column_name from information_schema.columns"
                " where table_schema = 'core' and table_name = %s order by ordinal_position",
                [chunk],
            ).fetchall()
        )
        scored = sql.SQL(
            "select {columns} from core.int_customer_health_scored"
            " where date_trunc('month', health_date)::date = {month}"
        ).format(columns=columns, month=sql.Literal(month))
        kept = sql.SQL("select {columns} from {chunk}").format(
            columns=columns, chunk=sql.Identifier("core", chunk)
        )
        differing = conn.execute(
            sql.SQL(
                "select (select count(*) from ({scored} except all {kept}) as missing)"
                " + (select count(*) from ({kept} except all {scored}) as extra)"
            ).format(scored=scored, kept=kept)
        ).fetchone()[0]
        if differing:
            unmatched[month] = differing
    return unmatched


@contextmanager
def capture_webhooks(refuse_first: int = 0) -> Iterator[tuple[str, list[bytes]]]:
    """A real HTTP server on 127.0.0.1 that records the bodies POSTed to it and accepted.

    ``refuse_first`` POSTs are answered 503 and not recorded: a target that is down.
    """
    received: list[bytes] = []
    refused: list[bytes] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if len(refused) < refuse_first:
                refused.append(body)
                self.send_response(503)
            else:
                received.append(body)
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/customer-health", received
    finally:
        server.shutdown()
        server.server_close()


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    """Run the `customer-health` command line for real, as an operator would."""
    return subprocess.run(
        [str(BIN / "customer-health"), *args], env=env, capture_output=True, text=True, timeout=600
    )


def dbt(*args: str, env: dict, target: Path | None = None) -> subprocess.CompletedProcess:
    """The dbt CLI on this project, in a process of its own (dbt keeps global state).

    Its artifacts go to ``target``, or a folder of the call's own, never the project's
    ``target``: the DAG is drawn from its manifest, which tests running beside this one read.
    """
    project = str(PROJECT_HOME / "dbt_project")
    with tempfile.TemporaryDirectory(prefix="dbt_target_") as scratch:
        return subprocess.run(
            [
                str(BIN / "dbt"),
                "--no-use-colors",
                *args,
                "--project-dir",
                project,
                "--profiles-dir",
                project,
                "--target-path",
                str(target or scratch),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )


def leftovers(conn: psycopg.Connection) -> tuple[list[str], int]:
    """Tables in raw_files that are no partition of raw, and the bad lines noted."""
    tables = conn.execute(
        "select c.relname from pg_class c where c.relnamespace = 'raw_files'::regnamespace"
        " and c.relkind = 'r' and c.relname not in ('bad_lines', 'customer_keys')"
        " and not exists (select from pg_inherits i where i.inhrelid = c.oid) order by 1"
    ).fetchall()
    bad = conn.execute("select count(*) from raw_files.bad_lines").fetchone()[0]
    return [name for (name,) in tables], bad
