-- One row per period-end month × products owned 12 months before it, for every month from
-- the 12th after the first with MRR to the night's: of the customers with MRR > 0 in the
-- month 12 months before the period end, grouped by the products they had recurring
-- revenue from then (fct_mrr.products_count), the share with MRR > 0 in the period-end
-- month. Whatever happened in between (churn and reactivation) does not matter.
with mrr as (
    select * from {{ ref('fct_mrr') }}
    where mrr_usd > 0
),

period_ends as (
    {{ month_spine("select (min(revenue_month) + interval '12 months')::date from mrr") }}
),

cohorts as (
    select
        period_ends.month_start as period_end_month,
        start_month.customer_id,
        start_month.products_count as products_owned
    from period_ends
    inner join mrr as start_month
        on start_month.revenue_month = (period_ends.month_start - interval '12 months')::date
),

outcomes as (
    select
        cohorts.period_end_month,
        cohorts.products_owned,
        count(*) as starting_customers,
        count(end_month.customer_id) as retained_customers
    from cohorts
    left join mrr as end_month
        on
            cohorts.customer_id = end_month.customer_id
            and cohorts.period_end_month = end_month.revenue_month
    group by cohorts.period_end_month, cohorts.products_owned
)

select
    (to_char(period_end_month, 'YYYY-MM') || ':' || products_owned)::text as retention_cell_id,
    period_end_month::date as period_end_month,
    products_owned::bigint as products_owned,
    starting_customers::bigint as starting_customers,
    retained_customers::bigint as retained_customers,
    (starting_customers < {{ var('nrr_min_sample_customers') }})::boolean as is_small_sample,
    round(retained_customers::numeric / starting_customers, 4)::numeric(6, 4) as retention_12m_ratio
from outcomes
