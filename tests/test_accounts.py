"""dim_accounts on the published night: every account recomputed from the customer marts,
and the accounts with several active buying centers are the ones the generator planned.

The hand-computed cases (weighting, the MRR-0 fallback, a churned account) are dbt unit
tests in dim_accounts.yml; these check the generated year."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.helpers import NIGHT

pytestmark = pytest.mark.usefixtures("published_night")


def test_every_account_s_mrr_and_health_recomputed_from_its_buying_centers(conn):
    """MRR summed and health weighted by MRR (plain average at MRR 0) in Python, from
    dim_customers and dim_customer_health, equal dim_accounts for every account."""
    members = defaultdict(list)
    for account, customer, mrr, account_arr, score in conn.execute(
        "select c.account_id, c.customer_id, c.mrr_usd, c.account_arr_usd, h.health_score"
        " from analytics.dim_customers c"
        " left join analytics.dim_customer_health h using (customer_id)"
    ).fetchall():
        members[account].append((customer, mrr, account_arr, score))
    bands = conn.execute(
        "select band, min_score from reference.health_bands order by min_score desc"
    ).fetchall()

    def band(score: Decimal | None) -> str | None:
        return None if score is None else next(b for b, floor in bands if score >= floor)

    expected = {}
    for account, rows in members.items():
        mrr = sum(row[1] for row in rows)
        scored = [
            (customer, row_mrr, score) for customer, row_mrr, _, score in rows if score is not None
        ]
        weight = sum(row_mrr for _, row_mrr, _ in scored)
        score = None
        if scored:
            exact = (
                sum(s * m for _, m, s in scored) / weight
                if weight > 0
                else sum(s for _, _, s in scored) / len(scored)
            )
            score = exact.quantize(Decimal("0.1"), ROUND_HALF_UP)
        worst = min(scored, key=lambda row: (row[2], row[0]), default=(None, None, None))
        assert {row[2] for row in rows} == {mrr * 12}, account  # dim_customers.account_arr
        expected[account] = (
            len(rows),
            len(scored),
            mrr,
            mrr * 12,
            score,
            band(score),
            (weight > 0) if scored else None,
            worst[0],
            worst[2],
        )
    published = {
        row[0]: row[1:]
        for row in conn.execute(
            "select account_id, buying_centers, active_buying_centers, mrr_usd, arr_usd,"
            " health_score, health_band, is_health_mrr_weighted, worst_customer_id,"
            " worst_health_score"
            " from analytics.dim_accounts"
        ).fetchall()
    }
    assert published == expected


def test_account_growth_figures_add_up_their_buying_centers(conn):
    """White space, open opportunities and the next renewal roll up from the customer-level
    marts, a sibling's products still counted as white space."""
    mismatched = conn.execute(
        "select a.account_id from analytics.dim_accounts a"
        " left join lateral (select sum(x.white_space_mrr_usd) as white_space,"
        "   min(x.next_renewal_date) as renewal"
        "   from analytics.customer_360 x join analytics.dim_customers c using (customer_id)"
        "   where c.account_id = a.account_id) as c360 on true"
        " left join lateral (select count(*) as n, coalesce(sum(o.estimated_mrr_usd), 0) as mrr"
        "   from analytics.fct_expansion_opportunities o"
        "   join analytics.dim_customers c using (customer_id)"
        "   where c.account_id = a.account_id and not o.is_blocked) as opportunities on true"
        " where a.white_space_mrr_usd <> c360.white_space"
        " or a.next_renewal_date is distinct from c360.renewal"
        " or a.open_opportunities <> opportunities.n"
        " or a.open_opportunity_mrr_usd <> opportunities.mrr"
    ).fetchall()
    assert mismatched == []


def test_accounts_with_several_active_buying_centers_are_the_generators(conn, generation):
    planned = {
        account
        for account, customers in generation.accounts().items()
        if sum(customer.active_on(NIGHT) for customer in customers) >= 2
    }
    published = {
        account
        for (account,) in conn.execute(
            "select account_id from analytics.dim_accounts where active_buying_centers >= 2"
        ).fetchall()
    }
    assert planned, "the test data must hold an account with several active buying centers"
    assert published == planned
    account_of = dict(
        conn.execute("select customer_id, account_id from analytics.dim_customers").fetchall()
    )
    for account, customers in generation.accounts().items():
        assert {account_of[customer.customer_id] for customer in customers} == {account}
