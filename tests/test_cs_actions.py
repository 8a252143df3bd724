"""Customer-success actions on the published night: every slipping customer has a play.

The play rules with hand-computed rows are a dbt unit test (every_signal_gets_its_play);
these check the generated year against rules restated here from the other marts.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("published_night")

RISK_PLAYS = {"act_on_drop", "fix_before_renewal", "fix_health", "rescue"}
EXPANSION_PLAYS = {"cross_sell", "upsell_seats", "upsell_usage_limit", "annual_switch"}


def _plays(conn) -> dict[str, set[str]]:
    plays: dict[str, set[str]] = {}
    for customer, play in conn.execute("select customer_id, play from analytics.fct_cs_actions"):
        plays.setdefault(customer, set()).add(play)
    return plays


def test_every_band_drop_of_the_week_and_every_at_risk_customer_has_a_risk_play(conn):
    night = conn.execute("select max(health_date) from analytics.dim_customer_health").fetchone()[0]
    dropped = {
        customer
        for (customer,) in conn.execute(
            "select alerts.customer_id from analytics.fct_health_alerts as alerts"
            " inner join analytics.dim_customers using (customer_id)"
            " where alerts.alert_date > %s - 7 and lifecycle_stage <> 'churned'",
            [night],
        )
    }
    at_risk = {
        customer
        for (customer,) in conn.execute(
            "select customer_id from analytics.dim_customers where lifecycle_stage = 'at_risk'"
        )
    }
    plays = _plays(conn)
    assert dropped | at_risk, "the test night has customers to act on"
    assert {c for c in dropped if "act_on_drop" not in plays[c]} == set()
    assert {c for c in at_risk if not plays[c] & RISK_PLAYS} == set()
    assert {c for c, p in plays.items() if "act_on_drop" in p} == dropped


def test_only_green_customers_without_a_risk_play_get_an_expansion_play(conn):
    bands = dict(conn.execute("select customer_id, health_band from analytics.dim_customer_health"))
    plays = _plays(conn)
    offered = {c for c, p in plays.items() if p & EXPANSION_PLAYS}
    assert {c for c in offered if bands.get(c) != "green" or plays[c] & RISK_PLAYS} == set()
    assert all(len(p & EXPANSION_PLAYS) <= 1 for p in plays.values())


def test_customer_360_shows_each_customer_s_first_action(conn):
    mismatched = conn.execute(
        "select count(*) from analytics.customer_360 as c360"
        " full join (select * from analytics.fct_cs_actions where action_rank = 1) as first"
        " using (customer_id)"
        " where c360.next_best_action is distinct from first.play"
        " or c360.next_best_action_due_date is distinct from first.due_date"
        " or c360.action_owner is distinct from first.owner"
    ).fetchone()[0]
    customers, with_action = conn.execute(
        "select count(distinct customer_id), count(distinct actions.customer_id)"
        " from analytics.dim_customers"
        " left join analytics.fct_cs_actions as actions using (customer_id)"
    ).fetchone()
    assert mismatched == 0
    assert with_action == customers


def test_owners_are_the_customers_csm_or_the_pooled_queue(conn, generation):
    expected = {c.customer_id: c.csm_owner or "cs-pooled-queue" for c in generation.simulated}
    owners = dict(
        conn.execute(
            "select distinct customer_id, owner from analytics.fct_cs_actions"
            " where customer_id <> 'FIX001'"
        )
    )
    assert owners == expected
    assert set(expected.values()) - {"cs-pooled-queue"}, "some generated customers have a CSM"
