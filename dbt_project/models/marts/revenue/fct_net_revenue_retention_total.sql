-- One row per period-end month × window (monthly, trailing_12m) for the whole customer
-- base: the headline NRR, GRR and expansion from the summed MRR of every
-- fct_net_revenue_retention cell, and the quick ratio from every movement booked in the
-- window's months (fct_mrr_movements, all segments), new customers included.
with cells as (
    select * from {{ ref('fct_net_revenue_retention') }}
),

movements as (
    select * from {{ ref('fct_mrr_movements') }}
),

windows as (
    select * from (values ('monthly', 1), ('trailing_12m', 12)) as w (window_name, months)
),

retention as (
    select
        period_end_month,
        window_name,
        sum(starting_customers) as starting_customers,
        sum(retained_customers) as retained_customers,
        sum(starting_mrr_usd) as starting_mrr,
        sum(expansion_mrr_usd) as expansion_mrr,
        sum(contraction_mrr_usd) as contraction_mrr,
        sum(churn_mrr_usd) as churn_mrr,
        sum(ending_mrr_usd) as ending_mrr
    from cells
    group by period_end_month, window_name
),

booked as (
    select
        retention.period_end_month,
        retention.window_name,
        sum(movements.new_mrr_usd + movements.reactivation_mrr_usd + movements.expansion_mrr_usd)
            as gained_booked_mrr,
        sum(movements.contraction_mrr_usd + movements.churn_mrr_usd) as lost_booked_mrr
    from retention
    inner join windows on retention.window_name = windows.window_name
    inner join movements
        on
            retention.period_end_month - windows.months * interval '1 month' < movements.revenue_month
            and retention.period_end_month >= movements.revenue_month
    group by retention.period_end_month, retention.window_name
),

totals as (
    select
        retention.*,
        booked.gained_booked_mrr,
        booked.lost_booked_mrr
    from retention
    inner join booked
        on
            retention.period_end_month = booked.period_end_month
            and retention.window_name = booked.window_name
)

select
    (to_char(period_end_month, 'YYYY-MM') || ':' || window_name)::text as nrr_total_id,
    period_end_month::date as period_end_month,
    window_name::text as window_name,
    {{ retention_columns() }}
from totals
