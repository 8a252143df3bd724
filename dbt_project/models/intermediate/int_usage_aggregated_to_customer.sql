-- One row per customer with usage in the 60 days up to the night being built: active
-- users and events in the last 30 days and the 30 days before, products used.
with events as (
    select * from {{ ref('stg_usage__events') }}
    where occurred_date between {{ as_of_date() }} - 59 and {{ as_of_date() }}
),

windows as (
    select
        customer_id,
        count(distinct user_id) filter (
            where occurred_date > {{ as_of_date() }} - 30
        ) as active_users_30d,
        count(*) filter (where occurred_date > {{ as_of_date() }} - 30) as events_30d,
        count(*) filter (where occurred_date <= {{ as_of_date() }} - 30) as events_prior_30d,
        count(distinct product_id) filter (
            where occurred_date > {{ as_of_date() }} - 30
        ) as products_used_30d
    from events
    group by customer_id
)

select * from windows
