-- One row per month per size segment: starting MRR, each movement's total, ending MRR and
-- ARR, customer counts. No rollup rows: every column adds up over segments, so a BI tool
-- sums them for the whole base. The reconciliation difference
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

size_tiers as (
    select tier as size_segment from {{ ref('segment_thresholds') }}
    where dimension = 'employees'
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
        revenue_month,
        size_segment,
        sum(previous_mrr_usd) as starting_mrr,
        coalesce(sum(mrr_usd) filter (where movement = 'new'), 0) as new_mrr,
        coalesce(sum(mrr_change_usd) filter (where movement = 'expansion'), 0) as expansion_mrr,
        sum(upsell_mrr_usd) as upsell_mrr,
        sum(cross_sell_mrr_usd) as cross_sell_mrr,
        coalesce(sum(-mrr_change_usd) filter (where movement = 'contraction'), 0) as contraction_mrr,
        coalesce(sum(previous_mrr_usd) filter (where movement = 'churn'), 0) as churn_mrr,
        coalesce(sum(mrr_usd) filter (where movement = 'reactivation'), 0) as reactivation_mrr,
        sum(mrr_usd) as ending_mrr,
        count(*) filter (where mrr_usd > 0) as active_customers,
        count(*) filter (where movement = 'new') as new_customers,
        count(*) filter (where movement = 'churn') as churned_customers,
        count(*) filter (where movement = 'reactivation') as reactivated_customers
    from movements
    group by revenue_month, size_segment
),

-- Every month from the first with MRR to the night's, for every size segment: a month or
-- segment without customer rows still has its row, all zeros, so charts have no gaps.
month_segments as (
    select
        months.month_start as revenue_month,
        size_tiers.size_segment
    from ({{ month_spine("select min(revenue_month) from mrr") }}) as months
    cross join size_tiers
),

every_month as (
    select
        month_segments.revenue_month,
        month_segments.size_segment,
        coalesce(totals.starting_mrr, 0) as starting_mrr,
        coalesce(totals.new_mrr, 0) as new_mrr,
        coalesce(totals.expansion_mrr, 0) as expansion_mrr,
        coalesce(totals.upsell_mrr, 0) as upsell_mrr,
        coalesce(totals.cross_sell_mrr, 0) as cross_sell_mrr,
        coalesce(totals.contraction_mrr, 0) as contraction_mrr,
        coalesce(totals.churn_mrr, 0) as churn_mrr,
        coalesce(totals.reactivation_mrr, 0) as reactivation_mrr,
        coalesce(totals.ending_mrr, 0) as ending_mrr,
        coalesce(totals.active_customers, 0) as active_customers,
        coalesce(totals.new_customers, 0) as new_customers,
        coalesce(totals.churned_customers, 0) as churned_customers,
        coalesce(totals.reactivated_customers, 0) as reactivated_customers
    from month_segments
    left join totals
        on
            month_segments.revenue_month = totals.revenue_month
            and month_segments.size_segment = totals.size_segment
)

select
    (to_char(revenue_month, 'YYYY-MM') || ':' || size_segment)::text as movement_id,
    revenue_month::date as revenue_month,
    size_segment::text as size_segment,
    starting_mrr::numeric(14, 2) as starting_mrr_usd,
    new_mrr::numeric(14, 2) as new_mrr_usd,
    expansion_mrr::numeric(14, 2) as expansion_mrr_usd,
    upsell_mrr::numeric(14, 2) as upsell_mrr_usd,
    cross_sell_mrr::numeric(14, 2) as cross_sell_mrr_usd,
    contraction_mrr::numeric(14, 2) as contraction_mrr_usd,
    churn_mrr::numeric(14, 2) as churn_mrr_usd,
    reactivation_mrr::numeric(14, 2) as reactivation_mrr_usd,
    ending_mrr::numeric(14, 2) as ending_mrr_usd,
    (ending_mrr * 12)::numeric(14, 2) as ending_arr_usd,
    active_customers::bigint as active_customers,
    new_customers::bigint as new_customers,
    churned_customers::bigint as churned_customers,
    reactivated_customers::bigint as reactivated_customers,
    (
        starting_mrr + new_mrr + expansion_mrr + reactivation_mrr
        - contraction_mrr - churn_mrr - ending_mrr
    )::numeric(14, 2) as reconciliation_difference_usd
from every_month
