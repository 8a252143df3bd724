-- One row per customer with recurring revenue by the night being built: time from the first
-- active month to the first month with an `expansion` movement (fct_mrr), and products owned
-- now and 12 months before the night's month with whether the customer is still active.
-- Segment and signup cohort are the customer's current ones, as in the revenue marts.
with mrr as (
    select * from {{ ref('fct_mrr') }}
),

customers as (
    select
        customer_id,
        size_segment
    from {{ ref('dim_customers') }}
),

customer_months as (
    select
        customer_id,
        min(revenue_month) as first_active_month,
        min(revenue_month) filter (where movement = 'expansion') as first_expansion_month,
        max(products_count) filter (
            where mrr_usd > 0 and revenue_month = date_trunc('month', {{ as_of_date() }})
        ) as products_owned_now,
        max(products_count) filter (
            where
            mrr_usd > 0
            and revenue_month = (date_trunc('month', {{ as_of_date() }}) - interval '12 months')::date
        ) as products_owned_12m_ago
    from mrr
    group by customer_id
)

select
    customer_months.customer_id::text as customer_id,
    customers.size_segment::text as size_segment,
    to_char(customer_months.first_active_month, 'YYYY')::text as signup_cohort,
    customer_months.first_active_month::date as first_active_month,
    customer_months.first_expansion_month::date as first_expansion_month,
    (customer_months.first_expansion_month is not null)::boolean as has_expanded,
    (
        12 * (
            extract(year from customer_months.first_expansion_month)
            - extract(year from customer_months.first_active_month)
        )
        + extract(month from customer_months.first_expansion_month)
        - extract(month from customer_months.first_active_month)
    )::integer as months_to_first_expansion,
    (customer_months.first_expansion_month - customer_months.first_active_month)::integer
        as days_to_first_expansion,
    coalesce(customer_months.products_owned_now, 0)::bigint as products_owned_now,
    (customer_months.products_owned_now is not null)::boolean as is_active_now,
    coalesce(customer_months.products_owned_12m_ago, 0)::bigint as products_owned_12m_ago,
    (customer_months.products_owned_12m_ago is not null)::boolean as is_active_12m_ago,
    (case
        when customer_months.products_owned_12m_ago is not null
            then customer_months.products_owned_now is not null
    end)::boolean as is_retained_12m
from customer_months
inner join customers on customer_months.customer_id = customers.customer_id
