-- One row per customer created by the night being built: firmographics, size tiers, spend,
-- billing frequency, tenure, lifecycle stage, behavioural segment and account rollup.
with customers as (
    select * from {{ ref('stg_billing__customers') }}
    where created_date <= {{ as_of_date() }}
),

owned as (
    select
        customer_id,
        sum(mrr_usd) as mrr,
        bool_or(not has_monthly_billing) as has_annual_plan
    from {{ ref('int_products_owned') }}
    group by customer_id
),

revenue_history as (
    select
        customer_id,
        min(month_start) as first_active_month,
        max(mrr_usd) filter (
            where month_start = (date_trunc('month', {{ as_of_date() }}) - interval '6 months')::date
        ) as mrr_6_months_ago
    from {{ ref('int_mrr_aggregated_to_customer_month') }}
    group by customer_id
),

health as (
    select
        customer_id,
        health_band,
        licensed_seats,
        active_users_30d,
        events_30d
    from {{ ref('dim_customer_health') }}
),

usage_rank as (
    -- Events per licensed seat, ranked among customers with any usage.
    select
        customer_id,
        percent_rank() over (
            order by events_30d::numeric / greatest(coalesce(licensed_seats, 1), 1)
        ) as usage_percentile
    from health
    where active_users_30d > 0
),

tiers as (
    select * from {{ ref('segment_thresholds') }}
),

enriched as (
    select
        customers.*,
        coalesce(owned.mrr, 0) as mrr,
        coalesce(owned.has_annual_plan, false) as has_annual_plan,
        revenue_history.first_active_month,
        revenue_history.mrr_6_months_ago,
        health.health_band,
        usage_rank.usage_percentile,
        coalesce(health.active_users_30d, 0) as active_users_30d
    from customers
    left join owned on customers.customer_id = owned.customer_id
    left join revenue_history on customers.customer_id = revenue_history.customer_id
    left join health on customers.customer_id = health.customer_id
    left join usage_rank on customers.customer_id = usage_rank.customer_id
),

accounts as (
    -- Buying centers roll up to the top of their parent chain.
    with recursive chain as (
        select
            customer_id,
            customer_id as account_id,
            0 as depth
        from enriched
        where parent_customer_id is null
        union all
        select
            child.customer_id,
            chain.account_id,
            chain.depth + 1 as depth
        from enriched as child
        inner join chain on child.parent_customer_id = chain.customer_id
        where chain.depth < 10
    )

    select * from chain
),

classified as (
    select
        enriched.*,
        coalesce(accounts.account_id, enriched.customer_id) as account_id,
        (
            select tiers.tier from tiers
            where tiers.dimension = 'arr' and enriched.mrr * 12 >= tiers.min_value
            order by tiers.min_value desc limit 1
        ) as arr_tier,
        (
            select tiers.tier from tiers
            where tiers.dimension = 'employees' and enriched.employee_count >= tiers.min_value
            order by tiers.min_value desc limit 1
        ) as employee_tier
    from enriched
    left join accounts on enriched.customer_id = accounts.customer_id
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
    employee_tier::text as size_segment,
    arr_tier::text as arr_tier,
    parent_customer_id::text as parent_customer_id,
    account_id::text as account_id,
    csm_owner::text as csm_owner,
    (sum(mrr * 12) over (partition by account_id))::numeric(14, 2) as account_arr_usd,
    mrr::numeric(14, 2) as mrr_usd,
    (mrr * 12)::numeric(14, 2) as arr_usd,
    (case
        when mrr = 0 then 'none'
        when has_annual_plan then 'annual'
        else 'monthly'
    end)::text as billing_frequency,
    created_date::date as customer_since_date,
    ({{ as_of_date() }} - created_date)::integer as tenure_days,
    first_active_month::date as first_active_month,
    (case
        when mrr = 0 then 'churned'
        when {{ as_of_date() }} - first_active_month < 90 then 'onboarding'
        when health_band = 'red' or mrr < coalesce(mrr_6_months_ago, 0) then 'at_risk'
        when
            mrr > coalesce(mrr_6_months_ago, mrr)
            or (health_band = 'green' and {{ as_of_date() }} - first_active_month >= 180)
            then 'growth'
        else 'impact'
    end)::text as lifecycle_stage,
    (case
        when mrr = 0 then 'none'
        when active_users_30d = 0 then 'dormant'
        when usage_percentile >= 0.75 then 'power'
        when usage_percentile < 0.10 then 'dormant'
        else 'casual'
    end)::text as behavioural_segment
from classified
