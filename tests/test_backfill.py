"""Backfills run nights in order, and a corrected rerun equals a clean build of that night.

Real CLI runs (`backfill` and `run`, the DAG's steps) in two databases of this module's own.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import psycopg

from customer_health.synthetic.generator import GeneratorConfig, generate
from customer_health.transform.dbt import dbt_environment, night_environment
from tests.helpers import cli, dbt, fresh_database, table_checksums, unmatched_history_chunks

FIRST, LAST = date(2026, 10, 29), date(2026, 10, 31)
SECOND = FIRST + timedelta(days=1)
DATA = GeneratorConfig(scale_factor=0.01, days=90, end_date=LAST, seed=9)
# Indexes created by ensure_index post-hooks, not by the indexes config.
HOOK_INDEXES = {"int_usage_daily_customer_day", "int_customer_health_scored_band_drop"}


def run_models(url: str, models: str, *, full_refresh: bool = True) -> None:
    """`dbt run` of the core models named, as of the last night, on that database."""
    rebuild = dbt(
        "run",
        "--select",
        models,
        *(["--full-refresh"] if full_refresh else []),
        env={**os.environ, **dbt_environment(url, "full_refresh_check"), **night_environment(LAST)},
    )
    assert rebuild.returncode == 0, rebuild.stdout[-3000:]


def shift_weight(url: str, points: str) -> None:
    """Move ``points`` of weight from usage_trend to usage_depth (the sum stays 1), as
    `dbt seed` would load an edited seed."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "update reference.health_score_weights set weight = weight"
            " + case component when 'usage_depth' then %(p)s::numeric else -%(p)s::numeric end"
            " where component in ('usage_depth', 'usage_trend')",
            {"p": points},
        )


def hook_indexes(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "select indexname from pg_indexes where schemaname = 'core' and indexname = any(%s)",
        [sorted(HOOK_INDEXES)],
    ).fetchall()
    return {name for (name,) in rows}


def test_backfill_then_a_corrected_rerun_equals_a_clean_build(url, tmp_path_factory):
    landing = tmp_path_factory.mktemp("backfill-landing")
    generate(landing, DATA)
    base = {
        **os.environ,
        "LANDING_PATH": str(landing),
        "REPORTS_DIR": str(tmp_path_factory.mktemp("backfill-reports")),
    }
    backfilled = {**base, "WAREHOUSE_DATABASE": "backfill_replayed"}
    clean = {**base, "WAREHOUSE_DATABASE": "backfill_clean"}
    replayed_url = fresh_database(url, "backfill_replayed")
    clean_url = fresh_database(url, "backfill_clean")

    result = cli(backfilled, "backfill", "--start", FIRST.isoformat(), "--end", LAST.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    with psycopg.connect(replayed_url) as conn:
        nights = [
            d
            for (d,) in conn.execute(
                "select logical_date from ops.publish_log order by publish_id"
            ).fetchall()
        ]
    assert nights == [FIRST, SECOND, LAST]

    # The incremental models after one full night and two incremental ones equal a full
    # rebuild of the same night from the same raw data.
    with psycopg.connect(replayed_url) as conn:
        incremental = table_checksums(conn, "core")
        assert conn.execute(
            "select count(*) from core.int_customer_health_daily where health_date = %s", [LAST]
        ).fetchone()[0]
    run_models(replayed_url, "int_usage_daily int_customer_health_daily int_customer_health_scored")
    with psycopg.connect(replayed_url) as conn:
        # The opportunity history is a log of the nights published: never fully refreshed.
        assert set(incremental) == {
            "int_usage_daily",
            "int_customer_health_daily",
            "int_customer_health_scored",
            "int_expansion_opportunities_history",
        }
        assert table_checksums(conn, "core") == incremental
        assert unmatched_history_chunks(conn) == {}
        # The indexes the hooks keep survive the refresh that replaced their tables, and a
        # table built before them (dropped here) gets them on its next incremental run.
        assert hook_indexes(conn) == HOOK_INDEXES
        conn.execute("drop index " + ", ".join(f"core.{name}" for name in HOOK_INDEXES))
    run_models(replayed_url, "int_usage_daily int_customer_health_scored", full_refresh=False)
    with psycopg.connect(replayed_url) as conn:
        assert hook_indexes(conn) == HOOK_INDEXES

    # New weights rescore every day, not only the window.
    shift_weight(replayed_url, "0.05")
    scored = {}
    for run in ("incremental", "full"):
        run_models(replayed_url, "int_customer_health_scored", full_refresh=run == "full")
        with psycopg.connect(replayed_url) as conn:
            scored[run] = table_checksums(conn, "core")["int_customer_health_scored"]
            assert unmatched_history_chunks(conn) == {}, run
    assert scored["incremental"] == scored["full"] != incremental["int_customer_health_scored"]
    # The seed's own weights back (rescored once more), so the rerun below scores a window.
    shift_weight(replayed_url, "-0.05")
    run_models(replayed_url, "int_customer_health_scored", full_refresh=False)
    with psycopg.connect(replayed_url) as conn:
        assert table_checksums(conn, "core") == incremental

    # Night 2's usage export is corrected after the fact: its last 25 events were bogus.
    events = landing / "usage" / SECOND.isoformat() / "events.csv"
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:-25]))
    result = cli(backfilled, "run", "--date", SECOND.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    with psycopg.connect(replayed_url) as conn:
        replaced = conn.execute(
            "select count(*) from ops.load_ledger where file_path = %s and status = 'loaded'",
            [f"usage/{SECOND}/events.csv"],
        ).fetchone()[0]
        assert replaced == 2  # loaded, then replaced by the corrected file
        assert unmatched_history_chunks(conn) == {}
        # This database also published nights 1 and 3: compare night 2's opportunities.
        replayed = table_checksums(conn, night=SECOND)

    result = cli(clean, "run", "--date", SECOND.isoformat())
    assert result.returncode == 0, result.stderr[-3000:]
    with psycopg.connect(clean_url) as conn:
        assert table_checksums(conn, night=SECOND) == replayed
