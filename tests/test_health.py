"""The health marts on the published night: history, bands, alerts, explanations, backtest.

Hand-computed component scores and band transitions are dbt unit tests in the models' YAML;
incremental = full refresh is proven in test_backfill.py. These check the generated year.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from psycopg import sql
from psycopg.errors import CheckViolation, NotNullViolation, UniqueViolation

from tests.helpers import NIGHT, history_chunks

pytestmark = pytest.mark.usefixtures("published_night")


def test_the_score_predicts_churn_red_above_yellow_above_green(conn):
    rates = dict(
        conn.execute(
            "select health_band, sum(churned_customers)::numeric / sum(customers)"
            " from analytics.health_score_backtest group by health_band"
        ).fetchall()
    )
    assert set(rates) == {"green", "yellow", "red"}
    assert rates["red"] > rates["yellow"] > rates["green"]


def test_dim_customer_health_is_tonights_row_of_the_history(conn):
    mismatches = conn.execute(
        "select count(*) from analytics.dim_customer_health as dim"
        " full join (select * from analytics.fct_customer_health_daily"
        "            where health_date = (select max(health_date)"
        "                                 from analytics.fct_customer_health_daily)) as daily"
        " using (customer_id)"
        " where dim.health_score is distinct from daily.health_score"
        " or dim.top_driver_1 is distinct from daily.top_driver_1"
        " or dim.health_score_change_30d is distinct from daily.health_score_change_30d"
    ).fetchone()[0]
    assert mismatches == 0


def test_alerts_are_the_confirmed_drops_outside_the_cool_down(conn):
    """Recomputed in Python from the daily history and the seeds, independently of the SQL."""
    floors = dict(conn.execute("select band, min_score from reference.health_bands").fetchall())
    settings = dict(
        conn.execute("select setting, value from reference.health_alert_settings").fetchall()
    )
    confirm, cooldown = int(settings["confirm_days"]), int(settings["cooldown_days"])
    days: dict[str, dict] = {}
    for customer, day, score, band in conn.execute(
        "select customer_id, health_date, health_score, health_band"
        " from analytics.fct_customer_health_daily order by customer_id, health_date"
    ):
        days.setdefault(customer, {})[day] = (score, band)
    expected = set()
    drops = 0
    for customer, history in days.items():
        last_alert = None
        for day in sorted(history):
            before = history.get(day - timedelta(days=1))
            if before is None or floors[history[day][1]] >= floors[before[1]]:
                continue
            drops += 1
            window = [day + timedelta(days=n) for n in range(confirm)]
            if not all(d in history and history[d][0] < floors[before[1]] for d in window):
                continue
            if last_alert is None or window[-1] >= last_alert + timedelta(days=cooldown):
                expected.add((customer, day, window[-1]))
                last_alert = window[-1]
    alerts = conn.execute(
        "select customer_id, drop_date, alert_date from analytics.fct_health_alerts"
    ).fetchall()
    assert 0 < len(expected) < drops, "a year of history has drops, some of them not alerted"
    assert set(alerts) == expected and len(alerts) == len(expected)


def test_components_without_data_take_the_seeded_neutral_value(conn):
    rows = conn.execute(
        "select daily.usage_trend_score, daily.events_prior_28d, weights.neutral_score"
        " from analytics.fct_customer_health_daily as daily"
        " cross join reference.health_score_weights as weights"
        " where daily.is_usage_trend_neutral and weights.component = 'usage_trend'"
    ).fetchall()
    assert rows, "customers new to usage start without a prior 28 days"
    assert all(score == neutral and prior == 0 for score, prior, neutral in rows)


def test_the_top_drivers_are_the_largest_moves_of_the_30_days(conn):
    rows = conn.execute(
        "select top_driver_1_change, top_driver_2_change"
        " from analytics.dim_customer_health where top_driver_1 is not null"
    ).fetchall()
    assert rows
    for first, second in rows:
        assert abs(first) >= abs(second)


def test_source_freshness_flags_know_tonights_files_arrived(conn):
    flags = conn.execute(
        "select bool_and(is_billing_fresh and is_usage_fresh and is_nps_fresh"
        " and is_support_fresh) from analytics.dim_customer_health"
    ).fetchone()[0]
    assert flags is True


def chunk_of(conn, day) -> str:
    """The month table of the published history that holds ``day``."""
    return next(name for name, month in history_chunks(conn).items() if month == day.replace(day=1))


@pytest.mark.parametrize(
    ("column", "value", "violation", "named"),
    [
        ("health_score", "150", CheckViolation, ("constraint_name", "health_score_0_to_100")),
        ("health_band", "'purple'", CheckViolation, ("constraint_name", "health_band_known")),
        ("health_score", "null", NotNullViolation, ("column_name", "health_score")),
        ("health_band", "null", NotNullViolation, ("column_name", "health_band")),
        ("health_date", "date '2026-10-31'", CheckViolation, ("constraint_name", "within_month")),
    ],
)
def test_the_published_daily_history_refuses_a_row_outside_its_rules(
    conn, column, value, violation, named
):
    """A score within 0–100, a known band and a day of its month are constraints of each
    month table the history view reads, so no night re-reads the history to test them:
    PostgreSQL refuses the row as it is written."""
    row = {"customer_id": "'C-RULES'", "health_date": "date '2026-11-26'"}
    row |= {"health_score": "50", "health_band": "'yellow'", column: value}
    chunk = sql.Identifier("core", chunk_of(conn, NIGHT))
    with pytest.raises(violation) as refused, conn.transaction(force_rollback=True):
        conn.execute(
            sql.SQL("insert into {} ({}) values ({})").format(
                chunk,
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ".join(row.values())),
            )
        )
    field, name = named
    assert getattr(refused.value.diag, field) == name


def test_the_published_daily_history_refuses_a_second_row_for_a_customer_and_day(conn):
    """One row per customer and day is each month table's primary key (and a day belongs
    to one month): no night re-reads the history for duplicates, and the key's index serves
    reads by customer and day."""
    chunk = sql.Identifier("core", chunk_of(conn, NIGHT))
    key = conn.execute(
        "select conname from pg_constraint where conrelid = %s::regclass and contype = 'p'",
        [chunk.as_string(conn)],
    ).fetchone()[0]
    with pytest.raises(UniqueViolation) as refused, conn.transaction(force_rollback=True):
        conn.execute(
            sql.SQL("insert into {chunk} select * from {chunk} limit 1").format(chunk=chunk)
        )
    assert refused.value.diag.constraint_name == key
