-- One row per period-end month × window (monthly, trailing_12m) × size segment × signup
-- cohort (year of the first active month) with starting MRR: no rollup rows. NRR, GRR and
-- expansion of a rollup are the ratios of the cells' summed MRR; the whole base's are in
-- fct_net_revenue_retention_total.
-- Retention cohort: customers with MRR at the window's start (the month before the period,
-- or 12 months before); customers new or reactivated inside the window are excluded.
--   NRR = cohort's ending MRR ÷ starting MRR
--   GRR = (starting − contraction − churn) ÷ starting
--   expansion ratio = expansion ÷ starting
--   quick ratio = (new + reactivation + expansion booked in the window)
--                 ÷ (contraction + churn booked in the window), all customers of the cell
with mrr as (
    select * from {{ ref('fct_mrr') }}
),

customers as (
    select
        customer_id,
        size_segment,
        to_char(first_active_month, 'YYYY') as signup_cohort
    from {{ ref('dim_customers') }}
),

windows as (
    select * from (values ('monthly', 1), ('trailing_12m', 12)) as w (window_name, months)
),

-- Every month from the first with MRR to the night's, whether or not anyone has a row in it:
-- a cohort that churned entirely still has a period end, with NRR 0.
period_ends as (
    select months.month_start as period_end_month
    from ({{ month_spine("select min(revenue_month) from mrr") }}) as months
),

periods as (
    select
        period_ends.period_end_month,
        windows.window_name,
        (period_ends.period_end_month - windows.months * interval '1 month')::date as window_start
    from period_ends
    cross join windows
),

starting as (
    select
        periods.period_end_month,
        periods.window_name,
        mrr.customer_id,
        mrr.mrr_usd as starting_mrr
    from periods
    inner join mrr on periods.window_start = mrr.revenue_month and mrr.mrr_usd > 0
),

booked as (
    select
        periods.period_end_month,
        periods.window_name,
        mrr.customer_id,
        coalesce(sum(mrr.mrr_usd) filter (where mrr.movement in ('new', 'reactivation')), 0)
            as gained_mrr,
        coalesce(sum(mrr.mrr_change_usd) filter (where mrr.movement = 'expansion'), 0)
            as expansion_booked_mrr,
        coalesce(sum(-mrr.mrr_change_usd) filter (where mrr.movement = 'contraction'), 0)
        + coalesce(sum(mrr.previous_mrr_usd) filter (where mrr.movement = 'churn'), 0)
            as lost_booked_mrr
    from periods
    inner join mrr
        on
            periods.window_start < mrr.revenue_month
            and periods.period_end_month >= mrr.revenue_month
    group by periods.period_end_month, periods.window_name, mrr.customer_id
),

per_customer as (
    select
        coalesce(starting.period_end_month, booked.period_end_month) as period_end_month,
        coalesce(starting.window_name, booked.window_name) as window_name,
        coalesce(starting.customer_id, booked.customer_id) as customer_id,
        coalesce(starting.starting_mrr, 0) as starting_mrr,
        coalesce(booked.gained_mrr, 0) as gained_mrr,
        coalesce(booked.expansion_booked_mrr, 0) as expansion_booked_mrr,
        coalesce(booked.lost_booked_mrr, 0) as lost_booked_mrr
    from starting
    full outer join booked
        on
            starting.period_end_month = booked.period_end_month
            and starting.window_name = booked.window_name
            and starting.customer_id = booked.customer_id
),

with_ending as (
    select
        per_customer.*,
        customers.size_segment,
        customers.signup_cohort,
        coalesce(ending.mrr_usd, 0) as ending_mrr
    from per_customer
    inner join customers on per_customer.customer_id = customers.customer_id
    left join mrr as ending
        on
            per_customer.customer_id = ending.customer_id
            and per_customer.period_end_month = ending.revenue_month
),

cells as (
    select
        period_end_month,
        window_name,
        size_segment,
        signup_cohort,
        count(*) filter (where starting_mrr > 0) as starting_customers,
        count(*) filter (where starting_mrr > 0 and ending_mrr > 0) as retained_customers,
        sum(starting_mrr) as starting_mrr,
        coalesce(sum(greatest(ending_mrr - starting_mrr, 0)) filter (
            where starting_mrr > 0 and ending_mrr > 0
        ), 0) as expansion_mrr,
        coalesce(sum(greatest(starting_mrr - ending_mrr, 0)) filter (
            where starting_mrr > 0 and ending_mrr > 0
        ), 0) as contraction_mrr,
        coalesce(sum(starting_mrr) filter (where starting_mrr > 0 and ending_mrr = 0), 0) as churn_mrr,
        coalesce(sum(ending_mrr) filter (where starting_mrr > 0), 0) as ending_mrr,
        sum(gained_mrr + expansion_booked_mrr) as gained_booked_mrr,
        sum(lost_booked_mrr) as lost_booked_mrr
    from with_ending
    group by period_end_month, window_name, size_segment, signup_cohort
    having sum(starting_mrr) > 0
)

select
    (
        to_char(period_end_month, 'YYYY-MM') || ':' || window_name || ':' || size_segment
        || ':' || signup_cohort
    )::text as nrr_id,
    period_end_month::date as period_end_month,
    window_name::text as window_name,
    size_segment::text as size_segment,
    signup_cohort::text as signup_cohort,
    {{ retention_columns() }}
from cells
