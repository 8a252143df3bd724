-- One row per month start and health band: how many customers were in the band that day
-- and what share of them churned (no MRR left) or contracted (less MRR) 90 days later.
-- Only month starts whose 90 days have fully passed by the night being built are scored.
-- If the score predicts churn, red churns far more often than yellow, yellow than green.
-- Reads the scored history in core (the rows fct_customer_health_daily publishes) by its
-- health_date index, month start by month start, so a night reads a day a month instead
-- of the whole history.
with health_daily as not materialized (
    select * from {{ ref('int_customer_health_scored') }}
),

items as (
    select * from {{ ref('int_subscription_items_normalized') }}
),

month_starts as (
    select month_start::date as month_start
    from
        generate_series(
            (select date_trunc('month', min(health_date)::timestamp) from health_daily),
            ({{ as_of_date() }} - 90)::timestamp,
            interval '1 month'
        ) as month_starts (month_start)
),

-- The days as an array, not a join: the planner then reads each day from the index instead
-- of walking the whole index to merge with them.
banded_at_start as (
    select
        health_date as month_start,
        customer_id,
        health_band
    from health_daily
    where health_date = any(array(select month_starts.month_start from month_starts))
),

mrr_at as (
    select
        banded_at_start.month_start,
        banded_at_start.customer_id,
        coalesce(
            sum(items.mrr_usd) filter (where {{ item_active_on('banded_at_start.month_start') }}), 0
        ) as mrr_at_start,
        coalesce(
            sum(items.mrr_usd) filter (where {{ item_active_on('banded_at_start.month_start + 90') }}), 0
        ) as mrr_after_90d
    from banded_at_start
    left join items on banded_at_start.customer_id = items.customer_id
    group by banded_at_start.month_start, banded_at_start.customer_id
),

outcomes as (
    select
        banded_at_start.month_start,
        banded_at_start.health_band,
        mrr_at.mrr_after_90d = 0 as churned,
        mrr_at.mrr_after_90d > 0 and mrr_at.mrr_after_90d < mrr_at.mrr_at_start as contracted
    from banded_at_start
    inner join mrr_at
        on
            banded_at_start.month_start = mrr_at.month_start
            and banded_at_start.customer_id = mrr_at.customer_id
)

select
    (month_start || ':' || health_band)::text as backtest_id,
    month_start::date as health_date,
    health_band::text as health_band,
    count(*)::bigint as customers,
    count(*) filter (where churned)::bigint as churned_customers,
    count(*) filter (where contracted)::bigint as contracted_customers,
    round(avg(churned::int), 4)::numeric as churn_90d_ratio,
    round(avg(contracted::int), 4)::numeric as contraction_90d_ratio
from outcomes
group by month_start, health_band
