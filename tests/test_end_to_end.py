"""The nightly DAG, run for real with `airflow dags test`, publishes correct tables; a rerun of
the night from the CLI, and a build on its own, rebuild the same tables."""

from __future__ import annotations

import csv
import json
import subprocess
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import psycopg
import pytest
from dbt.constants import PARTIAL_PARSE_FILE_NAME
from psycopg import sql

from customer_health.errors import DbtError
from customer_health.pipeline import BUILD_PARSE_CACHE, build, prepare_build, working_build_schema
from customer_health.settings import PROJECT_HOME
from tests.helpers import (
    BIN,
    NIGHT,
    TEST_DATA,
    capture_webhooks,
    history_chunks,
    table_checksums,
)

PUBLISHED_TABLES = {
    "customer_360",
    "dim_accounts",
    "dim_customers",
    "dim_currencies",
    "dim_customer_health",
    "dim_health_bands",
    "dim_health_components",
    "dim_products",
    "dim_size_tiers",
    "fct_cs_actions",
    "fct_customer_health_daily",
    "fct_expansion_conversion",
    "fct_expansion_opportunities",
    "fct_expansion_outcomes",
    "fct_health_alerts",
    "fct_mrr",
    "fct_mrr_movements",
    "fct_net_revenue_retention",
    "fct_net_revenue_retention_total",
    "fct_opportunity_outcomes",
    "fct_product_affinity",
    "fct_referral_candidates",
    "fct_renewals_upcoming",
    "fct_retention_by_products_owned",
    "fct_time_to_first_expansion",
    "fct_white_space",
    "fct_white_space_by_segment",
    "health_score_backtest",
}
# The one published view: the daily history over its month tables in core.
HISTORY = "fct_customer_health_daily"
# Published in the same transaction to the personal-data schema, not to analytics.
PERSONAL_TABLES = {"fct_referral_contacts"}


@pytest.fixture(autouse=True)
def _night(published_night):
    return published_night


def test_every_published_table_is_non_empty(conn):
    counts = {
        name: conn.execute(
            sql.SQL("select count(*) from {}").format(sql.Identifier("analytics", name))
        ).fetchone()[0]
        for name in PUBLISHED_TABLES
    }
    assert set(table_checksums(conn)) == PUBLISHED_TABLES
    assert all(rows > 0 for rows in counts.values()), counts


def test_every_published_table_has_its_primary_key_in_the_warehouse(conn):
    """The marts' keys are enforced by PostgreSQL as the build writes them, not tested after:
    every table the night published carries its primary key."""
    keyed = conn.execute(
        "select table_schema, table_name from information_schema.table_constraints"
        " where constraint_type = 'PRIMARY KEY' and table_schema in ('analytics', 'cs_personal')"
    ).fetchall()
    assert set(keyed) == {("analytics", name) for name in PUBLISHED_TABLES - {HISTORY}} | {
        ("cs_personal", name) for name in PERSONAL_TABLES
    }


def test_the_published_history_is_a_view_over_one_keyed_chunk_a_month(conn):
    """The daily history is not copied each night: the published view reads one month table
    per month of history, each keyed by customer and day and checked to hold its month."""
    chunks = history_chunks(conn)
    first, last = conn.execute(
        "select date_trunc('month', min(health_date))::date, max(health_date)"
        " from analytics.fct_customer_health_daily"
    ).fetchone()
    months = set()
    while first <= last:
        months.add(first)
        first = (first + timedelta(days=32)).replace(day=1)
    assert sorted(chunks.values()) == sorted(months)
    keys = conn.execute(
        "select tc.table_name, string_agg(ccu.column_name, ',' order by ccu.column_name)"
        " from information_schema.table_constraints as tc"
        " join information_schema.constraint_column_usage as ccu"
        "  using (constraint_schema, constraint_name)"
        " where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = 'core'"
        " group by tc.table_name"
    ).fetchall()
    assert {name: key for name, key in keys if name in chunks} == dict.fromkeys(
        chunks, "customer_id,health_date"
    )


def test_every_required_column_is_not_null_in_the_warehouse(conn, dbt_manifest):
    """A mart's required columns are NOT NULL constraints of its enforced contract: the
    published columns PostgreSQL keeps from holding a null are exactly those the manifest
    declares (not_null, or part of the primary key)."""
    manifest = json.loads(dbt_manifest.read_text())
    published = PUBLISHED_TABLES | PERSONAL_TABLES
    declared = set()
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["alias"] not in published:
            continue
        for column in node["columns"].values():
            if any(c["type"] in ("not_null", "primary_key") for c in column["constraints"]):
                declared.add((node["alias"], column["name"]))
        for constraint in node["constraints"]:
            if constraint["type"] == "primary_key":
                declared.update((node["alias"], name) for name in constraint["columns"])
    not_null = conn.execute(
        "select table_name, column_name from information_schema.columns"
        " where is_nullable = 'NO' and table_schema in ('analytics', 'cs_personal')"
    ).fetchall()
    # The history is a view: its rules are its chunks' constraints (test_health).
    assert {table for table, _ in declared} == published - {HISTORY}
    assert set(not_null) == declared


def test_one_row_per_customer_in_dim_customers(conn):
    expected = TEST_DATA.customer_count + 1  # generated customers plus the fixture customer
    rows, distinct = conn.execute(
        "select count(*), count(distinct customer_id) from analytics.dim_customers"
    ).fetchone()
    assert rows == distinct == expected


def test_fixture_customer_mrr_matches_hand_computation(conn):
    rows = conn.execute(
        "select to_char(revenue_month, 'YYYY-MM'), mrr_usd, movement from analytics.fct_mrr "
        "where customer_id = 'FIX001' order by revenue_month"
    ).fetchall()
    by_month = {month: (mrr, movement) for month, mrr, movement in rows}
    assert by_month["2026-02"] == (Decimal("420.00"), "new")  # 270 + 150
    assert by_month["2026-03"] == (Decimal("960.00"), "expansion")  # + 540 (annual ÷ 12, EUR)
    assert by_month["2026-05"] == (Decimal("960.00"), "retained")
    assert by_month["2026-06"] == (Decimal("810.00"), "contraction")  # Analytics ended 06-15
    assert by_month["2026-11"] == (Decimal("810.00"), "retained")
    assert len(rows) == 10  # February to November, nothing after the current month
    mrr, arr, frequency = conn.execute(
        "select mrr_usd, arr_usd, billing_frequency from analytics.dim_customers "
        "where customer_id = 'FIX001'"
    ).fetchone()
    assert (mrr, arr, frequency) == (Decimal("810.00"), Decimal("9720.00"), "annual")


def test_every_generated_customer_s_mrr_is_what_the_generator_sold_it(conn, generation):
    """fct_mrr for the night's month against the generator's own plans — prices agreed per
    unit and month, before they became files — so a mistake the files and the SQL share (a
    yearly price read as monthly, or the reverse) cannot cancel out."""
    with (PROJECT_HOME / "dbt_project" / "seeds" / "fx_rates.csv").open() as seed:
        usd = {row["currency"]: Decimal(row["rate_to_usd"]) for row in csv.DictReader(seed)}
    month = NIGHT.replace(day=1)
    expected: dict[str, Decimal] = {}
    on_annual_plans = set()
    for customer in generation.simulated:
        for item in customer.items:
            # The night knows no end date after it (those files are still to come); an item
            # earns in the months from its start's up to, not including, its end's.
            end = item.end if item.end and item.end <= NIGHT else None
            if item.start > NIGHT:
                continue
            if end and end.replace(day=1) <= month:
                continue
            mrr = (
                item.quantity
                * Decimal(f"{item.monthly_unit_price:.2f}")
                * (1 - Decimal(f"{item.discount_pct:g}") / 100)
                * usd[item.currency]
            ).quantize(Decimal("0.01"), ROUND_HALF_UP)
            expected[customer.customer_id] = expected.get(customer.customer_id, 0) + mrr
            if item.billing_period == "year":
                on_annual_plans.add(customer.customer_id)
    published = dict(
        conn.execute(
            "select customer_id, mrr_usd from analytics.fct_mrr"
            " where revenue_month = %s and mrr_usd > 0 and customer_id <> 'FIX001'",
            [month],
        ).fetchall()
    )
    assert on_annual_plans, "the test data must hold annual plans for this to mean anything"
    assert published == expected


def test_every_month_and_segment_reconciles_to_the_cent(conn):
    rows, off = conn.execute(
        "select count(*), count(*) filter (where reconciliation_difference_usd <> 0) "
        "from analytics.fct_mrr_movements"
    ).fetchone()
    assert rows > 12 and off == 0
    # Month to month, ending MRR is the next month's starting MRR, and matches fct_mrr.
    gaps = conn.execute(
        "select count(*) from analytics.fct_mrr_movements m "
        "join analytics.fct_mrr_movements n on n.size_segment = m.size_segment "
        "and n.revenue_month = (m.revenue_month + interval '1 month')::date "
        "where m.ending_mrr_usd <> n.starting_mrr_usd"
    ).fetchone()[0]
    assert gaps == 0
    # Segments add up to the whole base: no rollup row is needed (or present).
    mismatched = conn.execute(
        "select m.revenue_month from analytics.fct_mrr_movements m group by m.revenue_month"
        " having sum(m.ending_mrr_usd) <> (select coalesce(sum(f.mrr_usd), 0)"
        " from analytics.fct_mrr f where f.revenue_month = m.revenue_month)"
    ).fetchall()
    assert mismatched == []


def test_expansion_splits_into_upsell_and_cross_sell(conn):
    upsell, cross_sell, expansion = conn.execute(
        "select sum(upsell_mrr_usd), sum(cross_sell_mrr_usd), sum(mrr_change_usd) "
        "from analytics.fct_mrr where movement = 'expansion'"
    ).fetchone()
    assert expansion > 0 and cross_sell > 0 and upsell > 0
    assert upsell + cross_sell == expansion


def test_net_revenue_retention_is_sane_and_excludes_new_customers(conn):
    rows = conn.execute(
        "select net_revenue_retention_ratio, gross_revenue_retention_ratio"
        " from analytics.fct_net_revenue_retention_total"
    ).fetchall()
    assert rows
    for nrr, grr in rows:
        assert 0 <= grr <= 1 and grr <= nrr < 3
    # The total is the cells summed: each starting customer is in exactly one cell.
    off = conn.execute(
        "select t.nrr_total_id from analytics.fct_net_revenue_retention_total t"
        " join analytics.fct_net_revenue_retention c using (period_end_month, window_name)"
        " group by t.nrr_total_id, t.starting_mrr_usd, t.ending_mrr_usd, t.starting_customers"
        " having t.starting_mrr_usd <> sum(c.starting_mrr_usd)"
        " or t.ending_mrr_usd <> sum(c.ending_mrr_usd)"
        " or t.starting_customers <> sum(c.starting_customers)"
    ).fetchall()
    assert off == []
    # The fixture customer is new in February 2026: not in the cohort of that month...
    starting = conn.execute(
        "select starting_customers from analytics.fct_net_revenue_retention_total "
        "where nrr_total_id = '2026-02:monthly'"
    ).fetchone()[0]
    active_in_january = conn.execute(
        "select count(*) from analytics.fct_mrr where revenue_month = '2026-01-01' and mrr_usd > 0"
    ).fetchone()[0]
    assert starting == active_in_january
    # ...but in March's, with its February MRR.
    in_march = conn.execute(
        "select starting_mrr_usd from analytics.fct_net_revenue_retention "
        "where nrr_id = '2026-03:monthly:mid_market:2026'"
    ).fetchone()
    assert in_march is not None and in_march[0] >= Decimal("420.00")


def test_guardrails_block_and_name_every_reason(conn):
    blocked, unblocked, unexplained = conn.execute(
        "select count(*) filter (where is_blocked), count(*) filter (where not is_blocked),"
        " count(*) filter (where is_blocked <> (blocked_reasons is not null))"
        " from analytics.fct_expansion_opportunities"
    ).fetchone()
    assert blocked > 0 and unblocked > 0 and unexplained == 0
    slipped = conn.execute(
        "select o.opportunity_id from analytics.fct_expansion_opportunities o"
        " join analytics.dim_customers c using (customer_id)"
        " left join analytics.dim_customer_health h using (customer_id)"
        " where not o.is_blocked and (h.health_band = 'red' or h.nps_180d_score < 0"
        " or c.lifecycle_stage = 'onboarding' or h.open_urgent_tickets > 0"
        " or h.overdue_invoices > 0)"
    ).fetchall()
    assert slipped == []
    detractors = conn.execute(
        "select count(*) from analytics.fct_expansion_opportunities o"
        " join analytics.dim_customer_health h using (customer_id)"
        " where h.nps_180d_score < 0 and o.blocked_reasons not like '%NPS detractor%'"
    ).fetchone()[0]
    assert detractors == 0


def test_customer_360_has_the_five_data_points_for_every_customer(conn):
    customers = conn.execute("select count(*) from analytics.dim_customers").fetchone()[0]
    rows, actions = conn.execute(
        "select count(*), count(next_best_action) from analytics.customer_360"
    ).fetchone()
    assert rows == actions == customers
    mismatched = conn.execute(
        "select count(*) from analytics.customer_360 c where white_space_mrr_usd <> coalesce("
        "(select sum(potential_mrr_usd) from analytics.fct_white_space w"
        " where w.customer_id = c.customer_id), 0)"
        " or full_adoption_mrr_usd <> mrr_usd + white_space_mrr_usd"
    ).fetchone()[0]
    assert mismatched == 0
    # The fixture customer owns Core and Automation: Analytics (10 seats × $15) is white space.
    fixture = conn.execute(
        "select potential_mrr_usd from analytics.fct_white_space"
        " where white_space_id = 'FIX001:P-ANLT'"
    ).fetchone()
    assert fixture == (Decimal("150.00"),)


def test_affinity_support_counts_active_customers(conn):
    active = conn.execute(
        "select count(*) from analytics.dim_customers where mrr_usd > 0"
    ).fetchone()[0]
    rows = conn.execute(
        "select owners_of_both, owners_of_a, owners_of_b, support_ratio, confidence_ratio,"
        " lift_ratio"
        " from analytics.fct_product_affinity"
    ).fetchall()
    assert rows
    for both, owners_a, owners_b, support, confidence, lift in rows:
        assert support == round(Decimal(both) / active, 4)
        assert confidence == round(Decimal(both) / owners_a, 4)
        assert abs(lift - (Decimal(both) / owners_a) / (Decimal(owners_b) / active)) < Decimal(
            "0.0001"
        )


def test_referrals_and_renewals_follow_their_rules(conn):
    wrong_referrals = conn.execute(
        "select count(*) from cs_personal.fct_referral_contacts r"
        " join analytics.customer_360 c using (customer_id)"
        " where r.nps_score < 9 or c.health_band <> 'green' or c.lifecycle_stage <> 'growth'"
    ).fetchone()[0]
    assert wrong_referrals == 0
    counted = conn.execute(
        "select customer_id, promoters_180d from analytics.fct_referral_candidates"
    ).fetchall()
    contacts = conn.execute(
        "select customer_id, count(*) from cs_personal.fct_referral_contacts group by 1"
    ).fetchall()
    assert sorted(counted) == sorted(contacts)
    days = conn.execute(
        "select min(days_to_renewal), max(days_to_renewal) from analytics.fct_renewals_upcoming"
    ).fetchone()
    assert 0 <= days[0] and days[1] <= 90
    # The fixture's Core renews on 2027-02-01 (67 days on); its Automation on 2027-03-10, too far.
    fixture = conn.execute(
        "select subscription_item_id, renewal_date, days_to_renewal, arr_at_stake_usd"
        " from analytics.fct_renewals_upcoming where customer_id = 'FIX001'"
    ).fetchall()
    assert fixture == [("SI-FIX-1", date(2027, 2, 1), 67, Decimal("3240.00"))]


def test_health_scores_are_bounded_and_banded(conn):
    rows = conn.execute(
        "select health_score, health_band from analytics.dim_customer_health"
    ).fetchall()
    assert rows
    for score, band in rows:
        assert 0 <= score <= 100
        assert band == ("green" if score >= 70 else "yellow" if score >= 40 else "red")


def test_bad_rows_are_quarantined_not_lost(conn):
    read, loaded, quarantined = conn.execute(
        "select sum(rows_read), sum(rows_loaded), sum(rows_quarantined) from ops.load_ledger "
        "where status = 'loaded'"
    ).fetchone()
    assert quarantined > 0
    assert read == loaded + quarantined
    reasons = conn.execute("select distinct _field from raw_quarantine.events").fetchall()
    assert {field for (field,) in reasons} <= {"quantity", "customer_id", "occurred_at"}


def test_every_published_table_and_column_carries_its_description(conn):
    """BI tools show COMMENT ON text beside fields; dbt writes it from the models' YAML."""
    tables = dict(
        conn.execute(
            "select c.relname, obj_description(c.oid, 'pg_class') from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'analytics' and c.relkind in ('r', 'v')"
        )
    )
    columns = conn.execute(
        "select c.relname, a.attname from pg_attribute a"
        " join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = 'analytics' and c.relkind in ('r', 'v') and a.attnum > 0"
        " and not a.attisdropped and coalesce(col_description(c.oid, a.attnum), '') = ''"
    ).fetchall()
    assert set(tables) == PUBLISHED_TABLES
    assert {name for name, comment in tables.items() if not comment} == set()
    assert columns == []
    assert tables["fct_cs_actions"].startswith("One row per customer per open")


def test_scoring_parameters_and_customer_attributes_reach_bi(conn):
    """bi_reader cannot read `reference`: the seeds the night scored with are published."""
    pairs = {
        "dim_health_components": "select component, weight, neutral_score"
        " from reference.health_score_weights",
        "dim_health_bands": "select band, min_score from reference.health_bands",
        "dim_size_tiers": "select dimension, tier, min_value from reference.segment_thresholds",
        "dim_currencies": "select currency, rate_to_usd from reference.fx_rates",
    }
    published = {
        "dim_health_components": "select component, weight_ratio, neutral_score"
        " from analytics.dim_health_components",
        "dim_health_bands": "select health_band, min_score from analytics.dim_health_bands",
        "dim_size_tiers": "select dimension, tier, min_value from analytics.dim_size_tiers",
        "dim_currencies": "select currency, rate_to_usd from analytics.dim_currencies",
    }
    for table, seed in pairs.items():
        assert sorted(conn.execute(published[table])) == sorted(conn.execute(seed)), table
    mismatched = conn.execute(
        "select count(*) from analytics.customer_360 c360"
        " full join analytics.dim_customers dim using (customer_id)"
        " where (c360.account_id, c360.industry, c360.region, c360.behavioural_segment)"
        " is distinct from (dim.account_id, dim.industry, dim.region, dim.behavioural_segment)"
    ).fetchone()[0]
    assert mismatched == 0
    owners = conn.execute(
        "select product_id, customers_owning from analytics.dim_products where customers_owning > 0"
    ).fetchall()
    # An active customer owns a product exactly when it has no white space row for it.
    owners_from_white_space = conn.execute(
        "select p.product_id, count(*) from analytics.dim_products p"
        " cross join analytics.dim_customer_health c"
        " where not exists (select from analytics.fct_white_space ws"
        "                   where ws.customer_id = c.customer_id and ws.product_id = p.product_id)"
        " group by p.product_id"
    ).fetchall()
    assert sorted(owners) == sorted(owners_from_white_space)


def test_bi_reader_sees_published_schema_only(url, conn):
    params = psycopg.conninfo.conninfo_to_dict(url)
    params.update(user="bi_reader", password="test-only-bi-password")
    backups = [
        name
        for (name,) in conn.execute(
            "select nspname from pg_namespace where nspname like 'analytics\\_%'"
        ).fetchall()
    ]
    with psycopg.connect(**params, autocommit=True) as bi:
        for name in PUBLISHED_TABLES:
            query = sql.SQL("select count(*) from {}").format(sql.Identifier("analytics", name))
            assert bi.execute(query).fetchone()[0] > 0, name
        forbidden = [
            "select * from raw.customers",
            "select * from ops.load_ledger",
            "select * from raw_quarantine.events",
            "select * from staging.stg_billing__customers",
            "create table analytics.x (id int)",
            "delete from analytics.dim_customers",
            "create schema bi_sandbox",
            *[f'select * from "{schema}".dim_customers' for schema in backups],
            "select * from cs_personal.fct_referral_contacts",
        ]
        for statement in forbidden:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute(statement)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(**{**params, "dbname": "postgres"})


def test_per_person_rows_are_readable_by_cs_reader_only(url, conn):
    """cs_reader is a group role: a person granted it reads the personal schema, no more."""
    personal_columns = conn.execute(
        "select table_schema, table_name from information_schema.columns"
        " where column_name = 'user_id' and table_schema in ('analytics', 'cs_personal')"
    ).fetchall()
    assert personal_columns == [("cs_personal", "fct_referral_contacts")]
    conn.execute("drop role if exists cs_test_person")
    conn.execute("create role cs_test_person login password 'test-only-cs' in role cs_reader")
    params = psycopg.conninfo.conninfo_to_dict(url)
    params.update(user="cs_test_person", password="test-only-cs")
    try:
        with psycopg.connect(**params, autocommit=True) as person:
            rows = person.execute("select count(*) from cs_personal.fct_referral_contacts")
            assert (
                rows.fetchone()[0]
                == conn.execute(
                    "select count(*) from cs_personal.fct_referral_contacts"
                ).fetchone()[0]
            )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                person.execute("select * from analytics.dim_customers")
    finally:
        conn.execute("drop role cs_test_person")


def test_publish_log_records_the_night(conn):
    action, build_schema, counts, gates, duration = conn.execute(
        "select action, build_schema, row_counts, gate_results, duration_seconds "
        "from ops.publish_log order by publish_id limit 1"
    ).fetchone()
    assert action == "publish" and build_schema.startswith("analytics_build_20261126_")
    assert set(counts) == PUBLISHED_TABLES | PERSONAL_TABLES
    assert gates["raw"]["success"] and gates["marts"]["success"]
    assert 0 < duration < 600


def test_the_run_log_records_every_stage_of_the_night(conn):
    status, stages = conn.execute(
        "select status, stages from ops.run_log order by run_log_id limit 1"
    ).fetchone()
    assert status == "published"
    assert set(stages) == {
        "ingest",
        "validate_raw",
        "build",
        "validate_marts",
        "publish",
        "dbt_docs",
    }
    assert all(stage["seconds"] >= 0 for stage in stages.values())
    assert stages["ingest"]["rows_loaded"] > 0 and stages["validate_marts"]["success"]


def test_the_published_asset_event_carries_row_counts(airflow_env):
    import json
    import sqlite3

    database = Path(airflow_env["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(database) as airflow_db:
        extras = airflow_db.execute(
            "select e.extra from asset_event e join asset a on a.id = e.asset_id"
            " where a.name = 'analytics.customer_health'"
        ).fetchall()
    assert len(extras) == 1
    assert set(json.loads(extras[0][0])["row_counts"]) == PUBLISHED_TABLES | PERSONAL_TABLES


def test_the_digest_dag_sends_who_needs_attention(airflow_env):
    with capture_webhooks() as (webhook_url, received):
        result = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", "customer_health_digest"],
            env={**airflow_env, "ALERT_WEBHOOK_URL": webhook_url},
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stdout[-3000:]
    digest = json.loads(received[0])
    assert digest["kind"] == "daily_digest"
    assert digest["details"]["night"] == NIGHT.isoformat()
    assert digest["details"]["at_risk"]
    assert all(c["band"] in ("red", "yellow") for c in digest["details"]["at_risk"])


def test_rerunning_the_night_from_the_cli_gives_identical_tables(conn, airflow_env):
    before, core_before = table_checksums(conn), table_checksums(conn, "core")
    ledger_rows = conn.execute("select count(*) from ops.load_ledger").fetchone()[0]
    alerts_sent = conn.execute("select count(*) from ops.health_alerts_sent").fetchone()[0]
    with capture_webhooks() as (webhook_url, received):
        result = subprocess.run(
            [str(BIN / "customer-health"), "run", "--date", NIGHT.isoformat()],
            env={**airflow_env, "ALERT_WEBHOOK_URL": webhook_url},
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert table_checksums(conn) == before
    assert table_checksums(conn, "core") == core_before
    # Band drops already notified are not notified again.
    assert conn.execute("select count(*) from ops.health_alerts_sent").fetchone()[0] == alerts_sent
    assert not [body for body in received if json.loads(body)["kind"] == "health_band_drop"]
    # Every file was skipped: same checksums, nothing new in the ledger.
    assert conn.execute("select count(*) from ops.load_ledger").fetchone()[0] == ledger_rows
    publishes = conn.execute(
        "select count(*) from ops.publish_log where logical_date = %s", [NIGHT]
    ).fetchone()[0]
    assert publishes == 2


def test_the_next_build_reuses_the_kept_parse_and_lands_in_its_own_schema(conn, settings, tmp_path):
    """The one-process build writes into the working schema, the same every night, so dbt
    can start from the parse the last build kept; the schema then takes the run's name. A
    working schema a killed build left behind is dropped, not built upon."""
    own_reports = replace(settings, reports_dir=tmp_path)
    working = working_build_schema(settings)
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(working)))
    conn.execute(sql.SQL("create table {} (x int)").format(sql.Identifier(working, "left_over")))
    kept = tmp_path / BUILD_PARSE_CACHE / PARTIAL_PARSE_FILE_NAME
    published = table_checksums(conn)
    schemas = []
    try:
        for attempt in ("first", "second"):
            prepared = prepare_build(own_reports, NIGHT, f"test-build-{attempt}")
            schemas.append(prepared["build_schema"])
            build(own_reports, prepared)
            if attempt == "first":
                first_parse = kept.read_bytes()
            built = table_checksums(conn, prepared["build_schema"])
            assert {name: built[name] for name in published} == published
            assert "left_over" not in built
        # dbt writes a parse only when it parsed anything again: the second build reused it.
        assert kept.read_bytes() == first_parse
        present = {
            name
            for (name,) in conn.execute(
                "select nspname from pg_namespace where nspname = any(%s)", [[working, *schemas]]
            ).fetchall()
        }
        assert present == set(schemas)
    finally:
        for schema in (working, *schemas):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def test_a_second_build_never_writes_into_the_working_schema_of_another(conn, settings):
    """A build that outlived its hold on the night still holds the working schema: another
    build stops, naming it, before it drops or writes anything."""
    working = working_build_schema(settings)
    in_use = sql.Identifier(working, "in_use")
    lock = "hashtext('customer_health.build:' || %s)"
    conn.execute(sql.SQL("create schema {}").format(sql.Identifier(working)))
    conn.execute(sql.SQL("create table {} as select 1 as x").format(in_use))
    conn.execute(f"select pg_advisory_lock({lock})", [working])
    try:
        with pytest.raises(DbtError, match=f"another build is writing {working} "):
            build(settings, prepare_build(settings, NIGHT, "test-build-locked-out"))
        assert conn.execute(sql.SQL("select x from {}").format(in_use)).fetchall() == [(1,)]
    finally:
        conn.execute(f"select pg_advisory_unlock({lock})", [working])
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(working)))
