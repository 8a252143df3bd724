-- One row per customer ever billed: firmographics, segment, spend, billing frequency,
-- tenure and lifecycle stage as of the night being built.
with customers as (
    select * from {{ ref('stg_billing__customers') }}
),

mrr as (
    select * from {{ ref('int_mrr_aggregated_to_customer_month') }}
),

items as (
    select * from {{ ref('int_subscription_items_normalized') }}
),

health as (
    select
        customer_id,
        health_band
    from {{ ref('int_customer_health_scored') }}
),

current_items as (
    select
        customer_id,
        sum(mrr_usd) as mrr,
        bool_or(billing_period = 'year') as has_annual_plan
    from items
    where start_date <= {{ as_of_date() }} and (end_date is null or end_date > {{ as_of_date() }})
    group by customer_id
),

revenue_history as (
    select
        customer_id,
        min(month_start) as first_active_month,
        max(mrr_usd) filter (
            where month_start = (date_trunc('month', {{ as_of_date() }}) - interval '6 months')::date
        ) as mrr_6_months_ago
    from mrr
    group by customer_id
),

enriched as (
    select
        customers.*,
        coalesce(current_items.mrr, 0) as mrr,
        current_items.has_annual_plan,
        revenue_history.first_active_month,
        revenue_history.mrr_6_months_ago,
        health.health_band
    from customers
    left join current_items on customers.customer_id = current_items.customer_id
    left join revenue_history on customers.customer_id = revenue_history.customer_id
    left join health on customers.customer_id = health.customer_id
    where customers.created_date <= {{ as_of_date() }}
)

select
    customer_id::text as customer_id,
    customer_name::text as customer_name,
    industry::text as industry,
    country_code::text as country_code,
    (case
        when country_code in ('US', 'CA', 'MX', 'BR') then 'Americas'
        when country_code in ('JP', 'AU', 'IN', 'SG', 'CN', 'KR') then 'APAC'
        else 'EMEA'
    end)::text as region,
    employee_count::integer as employee_count,
    (case
        when employee_count >= 1000 then 'enterprise'
        when employee_count >= 100 then 'mid_market'
        else 'smb'
    end)::text as size_segment,
    parent_customer_id::text as parent_customer_id,
    mrr::numeric(14, 2) as mrr,
    (mrr * 12)::numeric(14, 2) as arr,
    (case
        when mrr = 0 then 'none'
        when has_annual_plan then 'annual'
        else 'monthly'
    end)::text as billing_frequency,
    created_date::date as customer_since,
    ({{ as_of_date() }} - created_date)::integer as tenure_days,
    first_active_month::date as first_active_month,
    (case
        when mrr = 0 then 'churned'
        when {{ as_of_date() }} - first_active_month < 90 then 'onboarding'
        when health_band = 'red' or mrr < coalesce(mrr_6_months_ago, 0) then 'at_risk'
        when mrr > coalesce(mrr_6_months_ago, mrr) then 'growth'
        else 'impact'
    end)::text as lifecycle_stage
from enriched
