-- One row per customer per product used in the 30 days up to the night being built:
-- active users, events and the summed event quantity (what usage limits count). Read from
-- the incremental core.int_usage_daily, not the staging events: those dedupe every event
-- ever loaded, which made each night cost the whole history for 30 days of it.
with usage_30d as (
    select * from {{ ref('int_usage_daily') }}
    where usage_date between {{ as_of_date() }} - 29 and {{ as_of_date() }}
),

totals as (
    select
        customer_id,
        product_id,
        sum(events)::bigint as events_30d,
        sum(usage_quantity)::bigint as usage_quantity_30d
    from usage_30d
    group by customer_id, product_id
),

users as (
    select
        usage_30d.customer_id,
        usage_30d.product_id,
        count(distinct active_user.user_id) as active_users_30d
    from usage_30d
    cross join lateral unnest(usage_30d.active_user_ids) as active_user (user_id)
    group by usage_30d.customer_id, usage_30d.product_id
)

select
    totals.customer_id,
    totals.product_id,
    users.active_users_30d,
    totals.events_30d,
    totals.usage_quantity_30d
from totals
inner join users
    on totals.customer_id = users.customer_id and totals.product_id = users.product_id
