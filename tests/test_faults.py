"""Fault tests: whatever goes wrong during a night, BI reads a whole version of the tables.

Real CLI runs (the same steps as the DAG's tasks) against a database and a landing folder
of this module's own, killed, blocked and fed bad data on purpose.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg
import pytest

from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.warehouse.connection import drop_database
from customer_health.warehouse.urls import with_database
from tests.helpers import BIN, cli, history_chunks, table_checksums

FIRST, SECOND = date(2026, 10, 30), date(2026, 10, 31)
DATA = GeneratorConfig(scale_factor=0.01, days=120, end_date=SECOND, seed=5)


@pytest.fixture(scope="module")
def env(url, tmp_path_factory) -> dict:
    landing = tmp_path_factory.mktemp("fault-landing")
    generate(landing, DATA)
    with psycopg.connect(url, autocommit=True) as admin:
        drop_database(admin, "faults")
    return {
        **os.environ,
        "WAREHOUSE_DATABASE": "faults",
        "LANDING_PATH": str(landing),
        "REPORTS_DIR": str(tmp_path_factory.mktemp("fault-reports")),
        "PUBLISH_LOCK_TIMEOUT": "60s",
    }


@pytest.fixture(scope="module")
def db(url, env) -> psycopg.Connection:
    first = cli(env, "run", "--date", FIRST.isoformat())
    assert first.returncode == 0, first.stderr[-3000:]
    with psycopg.connect(with_database(url, "faults"), autocommit=True) as connection:
        yield connection


@contextmanager
def started_cli(env: dict, *args: str) -> Iterator[subprocess.Popen]:
    """The CLI in a process group of its own, killed on the way out if it still runs,
    whether the test passed or not. Its stderr goes to a file that `wait_for` quotes."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [str(BIN / "customer-health"), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        process.stderr_file = stderr
        try:
            yield process
        finally:
            if process.poll() is None:
                kill_group(process)


def wait_for(
    condition: Callable[[], bool],
    what: str,
    process: subprocess.Popen | None = None,
    timeout: float = 600,
) -> None:
    """Polls until `condition` holds. A night on a loaded 2-core CI box takes minutes to
    reach its publish, so the deadline is generous; a night that ended first fails at
    once, with its stderr, rather than at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            process.stderr_file.seek(0)
            tail = process.stderr_file.read().decode(errors="replace")[-3000:]
            raise AssertionError(
                f"the night ended (exit {process.returncode}) before {what}:\n{tail}"
            )
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def build_schemas(db: psycopg.Connection) -> list[str]:
    return [
        n
        for (n,) in db.execute(
            "select nspname from pg_namespace where nspname like 'analytics\\_build\\_%'"
        ).fetchall()
    ]


def published_nights(db: psycopg.Connection) -> list[date]:
    return [
        d
        for (d,) in db.execute(
            "select logical_date from ops.publish_log where action = 'publish' order by publish_id"
        ).fetchall()
    ]


def bi_can_read(url: str) -> int:
    params = psycopg.conninfo.conninfo_to_dict(with_database(url, "faults"))
    params.update(user="bi_reader", password=os.environ["BI_READER_PASSWORD"])
    with psycopg.connect(**params) as bi:
        return bi.execute("select count(*) from analytics.fct_mrr").fetchone()[0]


def test_a_failed_mart_gate_leaves_analytics_untouched(db, env, url):
    before = table_checksums(db)
    customer = db.execute(
        "select customer_id from analytics.fct_mrr"
        " where revenue_month = '2026-10-01' and mrr_usd > 0 order by customer_id limit 1"
    ).fetchone()[0]
    implausible = (
        Path(env["LANDING_PATH"]) / "billing" / SECOND.isoformat() / "subscriptions-bulk.csv"
    )
    header = (
        "subscription_item_id,customer_id,product_id,plan,quantity,unit_price,currency,"
        "billing_period,discount_pct,start_date,end_date,cancel_at,status\n"
    )
    implausible.write_text(
        header + f"SI-BULK-1,{customer},P-CORE,business,500000,30,USD,month,0,2026-10-01,,,active\n"
    )
    result = cli(env, "run", "--date", SECOND.isoformat())
    assert result.returncode == 1
    assert "marts_gate failed, nothing was published" in result.stderr
    assert "fct_net_revenue_retention.net_revenue_retention" in result.stderr
    assert "Traceback" not in result.stderr
    assert table_checksums(db) == before
    assert bi_can_read(url) > 0
    assert len(build_schemas(db)) == 1  # the failed night's schema is kept for inspection
    assert db.execute(
        "select status, failed_step from ops.run_log order by run_log_id desc limit 1"
    ).fetchone() == ("failed", "validate_marts")
    assert "FAILED at validate_marts" in cli(env, "status").stdout
    # The export is corrected: the changed file replaces its rows and the night publishes.
    implausible.write_text(
        header + f"SI-BULK-1,{customer},P-CORE,business,5,30,USD,month,0,2026-10-01,,,active\n"
    )
    result = cli(env, "run", "--date", SECOND.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    assert published_nights(db)[-1] == SECOND
    assert build_schemas(db) == []


def test_killed_during_dbt_leaves_analytics_whole_and_the_next_run_succeeds(db, env, url):
    before = table_checksums(db)
    with started_cli(env, "run", "--date", SECOND.isoformat()) as process:
        wait_for(
            lambda: bool(
                db.execute(
                    "select 1 from information_schema.tables "
                    "where table_schema like 'analytics\\_build\\_%'"
                ).fetchone()
            ),
            "dbt to start writing marts",
            process,
        )
        kill_group(process)
    assert table_checksums(db) == before
    assert bi_can_read(url) > 0
    result = cli(env, "run", "--date", SECOND.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    # The killed night's hold on the night ended with its session: nobody waited for it.
    assert "waiting for the night lock" not in result.stderr


def test_killed_inside_the_publish_transaction_changes_nothing(db, env, url):
    before = table_checksums(db)
    nights = len(published_nights(db))
    with psycopg.connect(db.info.dsn, password=db.pgconn.password.decode()) as blocker:
        # Holding the publish log makes the publish transaction wait after both renames.
        blocker.execute("lock table ops.publish_log in exclusive mode")
        with started_cli(env, "run", "--date", SECOND.isoformat()) as process:
            wait_for(
                lambda: bool(
                    db.execute(
                        "select 1 from pg_stat_activity where wait_event_type = 'Lock' "
                        "and query like 'insert into ops.publish_log%%'"
                    ).fetchone()
                ),
                "publish to block inside its transaction",
                process,
            )
            kill_group(process)
        blocker.rollback()
    wait_for(
        lambda: (
            not db.execute(
                "select 1 from pg_stat_activity where query like 'insert into ops.publish_log%%' "
                "and state <> 'idle'"
            ).fetchone()
        ),
        "the killed session to end",
    )
    assert table_checksums(db) == before
    assert len(published_nights(db)) == nights
    assert bi_can_read(url) > 0
    result = cli(env, "run", "--date", SECOND.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]


def test_an_open_bi_transaction_neither_blocks_publish_nor_sees_a_mix(db, env):
    """BI tools run READ COMMITTED: each statement sees one whole version, old or new.

    (A REPEATABLE READ transaction held open across the swap would see the new tables
    empty, since they were created after its snapshot; the README says so.)
    """
    query = "select min(health_date), count(*) from analytics.dim_customer_health"
    with psycopg.connect(db.info.dsn, password=db.pgconn.password.decode()) as bi:
        old = bi.execute(query).fetchone()  # holds locks on the old tables until rollback
        other = FIRST if old[0] == SECOND else SECOND
        # Blocked, the publish would give up after PUBLISH_LOCK_TIMEOUT and the run fail.
        result = cli(env, "run", "--date", other.isoformat())
        assert result.returncode == 0, result.stderr[-3000:]
        new = bi.execute(query).fetchone()
        assert new == db.execute(query).fetchone()
        assert new[0] == other
        bi.rollback()


def test_rerun_of_the_same_night_publishes_identical_tables(db, env):
    before = table_checksums(db)
    night = db.execute("select health_date from analytics.dim_customer_health limit 1").fetchone()[
        0
    ]
    result = cli(env, "run", "--date", night.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    assert table_checksums(db) == before


def test_rollback_restores_the_previous_version_in_one_step(db, env):
    current = table_checksums(db)
    current_personal = table_checksums(db, "cs_personal")
    night = db.execute("select health_date from analytics.dim_customer_health limit 1").fetchone()[
        0
    ]
    result = cli(env, "run", "--date", (FIRST if night == SECOND else SECOND).isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    assert table_checksums(db) != current
    result = cli(env, "publish", "rollback")
    assert result.returncode == 0, result.stderr
    assert table_checksums(db) == current
    assert table_checksums(db, "cs_personal") == current_personal
    assert set(current_personal) == {"fct_referral_contacts"}
    assert (
        db.execute(
            "select action from ops.publish_log order by publish_id desc limit 1"
        ).fetchone()[0]
        == "rollback"
    )


def test_a_night_writes_the_months_it_rescored_and_the_night_before_keeps_its_own(db, env):
    """The history view of the night before (now the backup) still reads the chunks it was
    published with, unchanged; tonight's view shares every month before the rescored window
    and has a new chunk for the rest. The publish drops a chunk no view and no registry row
    names, and keeps one that any view reads."""
    night = db.execute("select max(health_date) from analytics.fct_customer_health_daily")
    other = FIRST if night.fetchone()[0] == SECOND else SECOND
    before = history_chunks(db)
    before_rows = table_checksums(db)["fct_customer_health_daily"]
    db.execute("create table core.health_history_2026_09_900 (customer_id text)")
    db.execute("create table core.health_history_2026_09_901 (customer_id text)")
    db.execute("create schema chunk_reader")
    db.execute("create view chunk_reader.kept as select * from core.health_history_2026_09_901")
    try:
        result = cli(env, "run", "--date", other.isoformat())
        assert result.returncode == 0, result.stderr[-3000:]
        chunks = {
            name
            for (name,) in db.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'core' and table_name ~ '^health_history_\\d'"
            ).fetchall()
        }
        read = {
            name
            for (name,) in db.execute(
                "select table_name from information_schema.view_table_usage"
                " where table_schema = 'core' and table_name ~ '^health_history_\\d'"
            ).fetchall()
        }
    finally:
        db.execute("drop schema chunk_reader cascade")
        db.execute("drop table if exists core.health_history_2026_09_900")
        db.execute("drop table core.health_history_2026_09_901")
    assert "health_history_2026_09_900" not in chunks
    assert "health_history_2026_09_901" in chunks
    backup = db.execute(
        "select nspname from pg_namespace where nspname like 'analytics\\_backup\\_%'"
        " order by nspname desc limit 1"
    ).fetchone()[0]
    assert history_chunks(db, backup) == before
    assert table_checksums(db, backup)["fct_customer_health_daily"] == before_rows
    after = history_chunks(db)
    rescored = date(2026, 10, 1)  # the window (the night - 3 days) lies in October
    assert {name for name, month in after.items() if month < rescored} == {
        name for name, month in before.items() if month < rescored
    }
    assert {month for name, month in after.items() if name not in before} == {rescored}
    registered = {
        name for (name,) in db.execute("select chunk_table from core.health_history_chunks")
    }
    assert chunks == read | registered
