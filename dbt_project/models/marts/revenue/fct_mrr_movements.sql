-- One row per month per size segment, plus an 'all' row per month: starting MRR, each
-- movement's total, ending MRR and ARR. The reconciliation difference
-- starting + new + expansion + reactivation − contraction − churn − ending must be 0.
with mrr as (
    select * from {{ ref('fct_mrr') }}
),

segments as (
    select
        customer_id,
        size_segment
    from {{ ref('dim_customers') }}
),

movements as (
    select
        mrr.*,
        segments.size_segment
    from mrr
    inner join segments on mrr.customer_id = segments.customer_id
),

totals as (
    select
        month_start,
        coalesce(size_segment, 'all') as segment,
        sum(previous_mrr) as starting_mrr,
        coalesce(sum(mrr) filter (where movement = 'new'), 0) as new_mrr,
        coalesce(sum(mrr_change) filter (where movement = 'expansion'), 0) as expansion_mrr,
        sum(upsell_mrr) as upsell_mrr,
        sum(cross_sell_mrr) as cross_sell_mrr,
        coalesce(sum(-mrr_change) filter (where movement = 'contraction'), 0) as contraction_mrr,
        coalesce(sum(previous_mrr) filter (where movement = 'churn'), 0) as churned_mrr,
        coalesce(sum(mrr) filter (where movement = 'reactivation'), 0) as reactivation_mrr,
        sum(mrr) as ending_mrr,
        count(*) filter (where mrr > 0) as active_customers,
        count(*) filter (where movement = 'new') as new_customers,
        count(*) filter (where movement = 'churn') as churned_customers,
        count(*) filter (where movement = 'reactivation') as reactivated_customers
    from movements
    group by grouping sets ((month_start, size_segment), (month_start))
),

-- Every month from the first with MRR to the night's: a month without any customer row
-- still gets its 'all' row, all zeros, so charts and sums over months have no gaps.
months as (
    {{ month_spine("select min(month_start) from mrr") }}
),

empty_months as (
    select
        months.month_start,
        'all' as segment,
        0 as starting_mrr,
        0 as new_mrr,
        0 as expansion_mrr,
        0 as upsell_mrr,
        0 as cross_sell_mrr,
        0 as contraction_mrr,
        0 as churned_mrr,
        0 as reactivation_mrr,
        0 as ending_mrr,
        0 as active_customers,
        0 as new_customers,
        0 as churned_customers,
        0 as reactivated_customers
    from months
    where not exists (
        select from totals
        where totals.month_start = months.month_start
    )
),

every_month as (
    select * from totals
    union all
    select * from empty_months
)

select
    (to_char(month_start, 'YYYY-MM') || ':' || segment)::text as movement_id,
    month_start::date as month_start,
    segment::text as segment,
    starting_mrr::numeric(14, 2) as starting_mrr,
    new_mrr::numeric(14, 2) as new_mrr,
    expansion_mrr::numeric(14, 2) as expansion_mrr,
    upsell_mrr::numeric(14, 2) as upsell_mrr,
    cross_sell_mrr::numeric(14, 2) as cross_sell_mrr,
    contraction_mrr::numeric(14, 2) as contraction_mrr,
    churned_mrr::numeric(14, 2) as churned_mrr,
    reactivation_mrr::numeric(14, 2) as reactivation_mrr,
    ending_mrr::numeric(14, 2) as ending_mrr,
    (ending_mrr * 12)::numeric(14, 2) as ending_arr,
    active_customers::bigint as active_customers,
    new_customers::bigint as new_customers,
    churned_customers::bigint as churned_customers,
    reactivated_customers::bigint as reactivated_customers,
    (
        starting_mrr + new_mrr + expansion_mrr + reactivation_mrr
        - contraction_mrr - churned_mrr - ending_mrr
    )::numeric(14, 2) as reconciliation_difference
from every_month
