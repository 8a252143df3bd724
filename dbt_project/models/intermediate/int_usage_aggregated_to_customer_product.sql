-- One row per customer per product used in the 30 days up to the night being built:
-- active users, events and the summed event quantity (what usage limits count).
with events as (
    select * from {{ ref('stg_usage__events') }}
    where occurred_date between {{ as_of_date() }} - 29 and {{ as_of_date() }}
)

select
    customer_id,
    product_id,
    count(distinct user_id) as active_users_30d,
    count(*) as events_30d,
    sum(quantity) as usage_quantity_30d
from events
group by customer_id, product_id
