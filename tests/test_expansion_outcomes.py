"""Expansion outcomes on the real published night, each recomputed independently in Python
from fct_mrr / fct_mrr_movements (or staging), compared exactly; and the opportunity history
kept by dbt in a scratch database: a night replaces only its own rows."""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from customer_health.transform.dbt import dbt_environment, night_environment
from customer_health.warehouse.urls import with_database
from tests.helpers import NIGHT, dbt, table_checksums

FOUR = Decimal("0.0001")


@pytest.fixture(autouse=True)
def _night(published_night):
    return published_night


def ratio(numerator, denominator) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(FOUR, ROUND_HALF_UP)


def months_apart(later: date, earlier: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def shift_months(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def percentile_cont(values: list[int], fraction: float) -> Decimal | None:
    """PostgreSQL's percentile_cont: linear interpolation between the ordered values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)


@pytest.fixture
def mrr(conn):
    return conn.execute(
        "select customer_id, revenue_month, mrr_usd, movement, products_count"
        " from analytics.fct_mrr"
    ).fetchall()


@pytest.fixture
def segments(conn):
    return dict(conn.execute("select customer_id, size_segment from analytics.dim_customers"))


def test_time_to_first_expansion_per_customer_and_by_cohort(conn, mrr, segments):
    first_active: dict[str, date] = {}
    first_expansion: dict[str, date] = {}
    for customer, month, _, movement, _ in mrr:
        first_active[customer] = min(month, first_active.get(customer, month))
        if movement == "expansion":
            first_expansion[customer] = min(month, first_expansion.get(customer, month))
    expected = {
        customer: (
            segments[customer],
            f"{start.year}",
            first_expansion.get(customer),
            months_apart(first_expansion[customer], start) if customer in first_expansion else None,
            (first_expansion[customer] - start).days if customer in first_expansion else None,
        )
        for customer, start in first_active.items()
    }
    published = {
        row[0]: row[1:]
        for row in conn.execute(
            "select customer_id, size_segment, signup_cohort, first_expansion_month,"
            " months_to_first_expansion, days_to_first_expansion"
            " from analytics.fct_expansion_outcomes"
        )
    }
    assert published == expected
    assert len(first_expansion) >= 3, "the test night must hold expansions to mean anything"

    cells: dict[tuple[str, str], list] = defaultdict(list)
    for segment, cohort, _, months, days in expected.values():
        cells[(segment, cohort)].append((months, days))
    by_cohort = {}
    for (segment, cohort), customers in cells.items():
        months = [m for m, _ in customers if m is not None]
        days = [d for _, d in customers if d is not None]
        by_cohort[f"{segment}:{cohort}"] = (
            len(customers),
            len(months),
            ratio(len(months), len(customers)),
            percentile_cont(months, 0.25),
            percentile_cont(months, 0.5),
            percentile_cont(months, 0.75),
            (Decimal(sum(days)) / len(days)).quantize(Decimal("0.1"), ROUND_HALF_UP)
            if days
            else None,
        )
    published_by_cohort = {
        row[0]: row[1:]
        for row in conn.execute(
            "select segment_cohort_id, customers, expanded_customers, expanded_ratio,"
            " months_to_first_expansion_p25, months_to_first_expansion_median,"
            " months_to_first_expansion_p75, days_to_first_expansion_avg"
            " from analytics.fct_time_to_first_expansion"
        )
    }
    assert published_by_cohort == by_cohort


def test_quarterly_conversion_and_expansion_share_by_segment(conn, mrr, segments):
    active = {(customer, month) for customer, month, value, _, _ in mrr if value > 0}
    expanded = {(c, month) for c, month, _, movement, _ in mrr if movement == "expansion"}
    first_quarter = min(month for _, month, _, _, _ in mrr).replace(day=1)
    first_quarter = first_quarter.replace(month=(first_quarter.month - 1) // 3 * 3 + 1)
    quarters = []
    while first_quarter <= NIGHT:
        quarters.append(first_quarter)
        first_quarter = shift_months(first_quarter, 3)
    # New and expansion MRR from fct_mrr_movements, not from fct_mrr as the model does.
    booked: dict[tuple[date, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for month, segment, new, expansion in conn.execute(
        "select revenue_month, size_segment, new_mrr_usd, expansion_mrr_usd"
        " from analytics.fct_mrr_movements"
    ):
        quarter = month.replace(month=(month.month - 1) // 3 * 3 + 1)
        booked[(quarter, segment)][0] += new
        booked[(quarter, segment)][1] += expansion
    expected = {}
    for quarter in quarters:
        months = {shift_months(quarter, n) for n in range(3)}
        for segment in set(segments.values()):
            starting = {
                c
                for c, s in segments.items()
                if s == segment and (c, shift_months(quarter, -1)) in active
            }
            converted = {c for c in starting if any((c, m) in expanded for m in months)}
            new, expansion = booked[(quarter, segment)]
            label = f"{quarter.year}-Q{(quarter.month - 1) // 3 + 1}:{segment}"
            expected[label] = (
                shift_months(quarter, 3) - timedelta(days=1) <= NIGHT,
                len(starting),
                len(converted),
                ratio(len(converted), len(starting)),
                new,
                expansion,
                ratio(expansion, new + expansion),
            )
    published = {
        row[0]: row[1:]
        for row in conn.execute(
            "select quarter_segment_id, is_complete, starting_customers, expanded_customers,"
            " expansion_conversion_ratio, new_mrr_usd, expansion_mrr_usd,"
            " expansion_share_of_bookings_ratio"
            " from analytics.fct_expansion_conversion"
        )
    }
    assert published == expected
    rates = [row[3] for row in expected.values()]
    assert any(rate for rate in rates) and None in rates  # some conversions, some empty starts


def test_twelve_month_retention_by_products_owned(conn, mrr):
    products = {(c, month): count for c, month, value, _, count in mrr if value > 0}
    first_month = min(month for _, month in products)
    expected: dict[str, list] = {}
    period_end = shift_months(first_month, 12)
    while period_end <= NIGHT:
        for (customer, month), owned in products.items():
            if month == shift_months(period_end, -12):
                cell = expected.setdefault(f"{period_end:%Y-%m}:{owned}", [0, 0])
                cell[0] += 1
                cell[1] += (customer, period_end) in products
        period_end = shift_months(period_end, 1)
    published = {
        key: [starting, retained, rate]
        for key, starting, retained, rate in conn.execute(
            "select retention_cell_id, starting_customers, retained_customers, retention_12m_ratio"
            " from analytics.fct_retention_by_products_owned"
        )
    }
    for cell in expected.values():
        cell.append(ratio(cell[1], cell[0]))
    assert published == expected and expected
    # Tonight's cells are the per-customer flags of fct_expansion_outcomes, grouped.
    from_customers = conn.execute(
        "select products_owned_12m_ago, count(*), count(*) filter (where is_retained_12m)"
        " from analytics.fct_expansion_outcomes where is_active_12m_ago"
        " group by products_owned_12m_ago"
    ).fetchall()
    assert {f"{NIGHT:%Y-%m}:{p}": [n, r] for p, n, r in from_customers} == {
        key: cell[:2] for key, cell in expected.items() if key.startswith(f"{NIGHT:%Y-%m}:")
    }


def test_tonight_s_opportunities_are_in_the_history_and_open(conn):
    tonight = conn.execute(
        "select opportunity_id, customer_id, opportunity_type, product_id, estimated_mrr_usd,"
        " reason, is_blocked, blocked_reasons from analytics.fct_expansion_opportunities"
    ).fetchall()
    history = conn.execute(
        "select opportunity_id, customer_id, opportunity_type, product_id, estimated_mrr,"
        " reason, is_blocked, blocked_reasons from core.int_expansion_opportunities_history"
        " where as_of_date = %s",
        [NIGHT],
    ).fetchall()
    assert sorted(history, key=str) == sorted(tonight, key=str) and tonight
    outcomes = conn.execute(
        "select opportunity_id, published_date, decision_date, days_since_published,"
        " first_conversion_date, outcome from analytics.fct_opportunity_outcomes"
    ).fetchall()
    assert sorted(outcomes) == sorted(
        (row[0], NIGHT, NIGHT + timedelta(days=90), 0, None, "open") for row in tonight
    )
    # The product's MRR on the night, recomputed from staging's subscription items.
    mismatched = conn.execute(
        "with items as ("
        "  select s.customer_id, s.product_id, round(s.quantity * s.unit_price"
        "   * (1 - s.discount_pct / 100.0) / case when s.billing_period = 'year' then 12 else 1"
        "   end * fx.rate_to_usd, 2) as mrr"
        "  from staging.stg_billing__subscriptions s join reference.fx_rates fx using (currency)"
        "  where s.start_date <= %(night)s and (s.end_date is null or s.end_date > %(night)s))"
        " select o.opportunity_id, o.product_mrr_on_the_night_usd, coalesce(sum(i.mrr), 0)"
        " from analytics.fct_opportunity_outcomes o left join items i"
        "  on i.customer_id = o.customer_id and i.product_id = o.product_id"
        " where o.product_id is not null"
        " group by o.opportunity_id, o.product_mrr_on_the_night_usd"
        " having o.product_mrr_on_the_night_usd <> coalesce(sum(i.mrr), 0)",
        {"night": NIGHT},
    ).fetchall()
    assert mismatched == []
    owned = conn.execute(
        "select count(*) from analytics.fct_opportunity_outcomes"
        " where product_mrr_on_the_night_usd > 0"
    ).fetchone()[0]
    assert owned > 0  # upsells of products owned: the check above compared real amounts


def test_a_night_replaces_only_its_own_history_rows(conn, url, scratch_conn):
    """dbt runs the history model alone in a scratch database, on tonight's real
    opportunities: two nights, a rerun with changed rows, then --full-refresh."""
    columns = (
        "opportunity_id text, customer_id text, opportunity_type text, product_id text,"
        " estimated_mrr_usd numeric(14, 2), reason text, is_blocked boolean, blocked_reasons text"
    )
    rows = conn.execute(
        "select opportunity_id, customer_id, opportunity_type, product_id, estimated_mrr_usd,"
        " reason, is_blocked, blocked_reasons from analytics.fct_expansion_opportunities"
        " order by opportunity_id"
    ).fetchall()
    scratch_conn.execute("create schema outcomes_build")
    scratch_conn.execute(f"create table outcomes_build.fct_expansion_opportunities ({columns})")
    with scratch_conn.cursor() as cursor:
        cursor.executemany(
            "insert into outcomes_build.fct_expansion_opportunities values"
            " (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    env = {
        **os.environ,
        **dbt_environment(with_database(url, scratch_conn.info.dbname), "outcomes_build"),
    }

    def night(day: date, *flags: str) -> None:
        result = dbt(
            "run",
            "--select",
            "int_expansion_opportunities_history",
            *flags,
            env={**env, **night_environment(day)},
        )
        assert result.returncode == 0, result.stdout[-3000:]

    def per_night() -> dict[date, int]:
        return dict(
            scratch_conn.execute(
                "select as_of_date, count(*) from core.int_expansion_opportunities_history"
                " group by as_of_date"
            ).fetchall()
        )

    yesterday = NIGHT - timedelta(days=1)
    night(yesterday)
    night(NIGHT)
    assert per_night() == {yesterday: len(rows), NIGHT: len(rows)}
    kept = table_checksums(scratch_conn, "core")

    # Tonight is rerun after its opportunities changed: one fewer, one re-estimated.
    scratch_conn.execute(
        "delete from outcomes_build.fct_expansion_opportunities where opportunity_id = %s",
        [rows[0][0]],
    )
    scratch_conn.execute(
        "update outcomes_build.fct_expansion_opportunities set estimated_mrr_usd = 12345.67"
        " where opportunity_id = %s",
        [rows[1][0]],
    )
    night(NIGHT)
    assert per_night() == {yesterday: len(rows), NIGHT: len(rows) - 1}
    assert scratch_conn.execute(
        "select as_of_date, estimated_mrr from core.int_expansion_opportunities_history"
        " where opportunity_id = %s order by as_of_date",
        [rows[1][0]],
    ).fetchall() == [(yesterday, rows[1][4]), (NIGHT, Decimal("12345.67"))]

    # Rerunning the same inputs changes nothing; --full-refresh does not drop the log.
    again = table_checksums(scratch_conn, "core")
    assert again != kept
    night(NIGHT)
    night(NIGHT, "--full-refresh")
    assert table_checksums(scratch_conn, "core") == again
