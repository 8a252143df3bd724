-- One row per period-end month × window (monthly, trailing_12m) × segment, including an
-- 'all' segment. The cohort is the customers with MRR at the start of the window (the
-- month before, or 12 months before); customers new or reactivated inside the window are
-- excluded. NRR = ending ÷ starting; GRR = (starting − contraction − churn) ÷ starting.
with mrr as (
    select
        customer_id,
        month_start,
        mrr
    from {{ ref('fct_mrr') }}
),

segments as (
    select
        customer_id,
        size_segment
    from {{ ref('dim_customers') }}
),

windows as (
    select * from (values ('monthly', 1), ('trailing_12m', 12)) as w (window_name, months)
),

period_ends as (
    select distinct month_start as period_end_month from mrr
),

cohort as (
    select
        period_ends.period_end_month,
        windows.window_name,
        starting.customer_id,
        starting.mrr as starting_mrr,
        coalesce(ending.mrr, 0) as ending_mrr
    from period_ends
    cross join windows
    inner join mrr as starting
        on
            starting.month_start = (period_ends.period_end_month - windows.months * interval '1 month')::date
            and starting.mrr > 0
    left join mrr as ending
        on
            starting.customer_id = ending.customer_id
            and period_ends.period_end_month = ending.month_start
),

with_segment as (
    select
        cohort.*,
        segments.size_segment as segment
    from cohort
    inner join segments on cohort.customer_id = segments.customer_id
    union all
    select
        cohort.*,
        'all' as segment
    from cohort
),

totals as (
    select
        period_end_month,
        window_name,
        segment,
        count(*) as starting_customers,
        count(*) filter (where ending_mrr > 0) as retained_customers,
        sum(starting_mrr) as starting_mrr,
        sum(greatest(ending_mrr - starting_mrr, 0)) filter (where ending_mrr > 0) as expansion_mrr,
        sum(greatest(starting_mrr - ending_mrr, 0)) filter (where ending_mrr > 0) as contraction_mrr,
        sum(starting_mrr) filter (where ending_mrr = 0) as churned_mrr,
        sum(ending_mrr) as ending_mrr
    from with_segment
    group by period_end_month, window_name, segment
)

select
    (to_char(period_end_month, 'YYYY-MM') || ':' || window_name || ':' || segment)::text as nrr_id,
    period_end_month::date as period_end_month,
    window_name::text as window_name,
    segment::text as segment,
    starting_customers::bigint as starting_customers,
    retained_customers::bigint as retained_customers,
    starting_mrr::numeric(14, 2) as starting_mrr,
    coalesce(expansion_mrr, 0)::numeric(14, 2) as expansion_mrr,
    coalesce(contraction_mrr, 0)::numeric(14, 2) as contraction_mrr,
    coalesce(churned_mrr, 0)::numeric(14, 2) as churned_mrr,
    ending_mrr::numeric(14, 2) as ending_mrr,
    round(ending_mrr / starting_mrr, 4)::numeric as net_revenue_retention,
    round(
        (starting_mrr - coalesce(contraction_mrr, 0) - coalesce(churned_mrr, 0)) / starting_mrr, 4
    )::numeric as gross_revenue_retention,
    round(coalesce(expansion_mrr, 0) / starting_mrr, 4)::numeric as expansion_rate
from totals
