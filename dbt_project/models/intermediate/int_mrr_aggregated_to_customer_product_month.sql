-- One row per customer per product per month in which the product earned recurring
-- revenue. An item counts in every month from its start month up to, not including, the
-- month of its end date (an item ending mid-month earns nothing that month).
with items as (
    select * from {{ ref('int_subscription_items_normalized') }}
),

item_months as (
    select
        items.customer_id,
        items.product_id,
        items.mrr_usd,
        month_start::date as month_start
    from items
    cross join lateral generate_series(
        date_trunc('month', items.start_date),
        least(
            coalesce(date_trunc('month', items.end_date) - interval '1 month', 'infinity'),
            date_trunc('month', {{ as_of_date() }})
        ),
        interval '1 month'
    ) as month_start
)

select
    customer_id,
    product_id,
    month_start,
    sum(mrr_usd) as mrr_usd
from item_months
group by customer_id, product_id, month_start
