-- One row per customer per product with an active subscription item on the night being
-- built: seats (or 1 for flat products), MRR and billing period.
with subscription_items as (
    select * from {{ ref('int_subscription_items_normalized') }}
),

items as (
    select * from subscription_items
    where {{ item_active_on(as_of_date(), 'subscription_items') }}
),

products as (
    select * from {{ ref('stg_billing__products') }}
)

select
    items.customer_id,
    items.product_id,
    products.pricing_unit,
    products.usage_limit,
    max(items.quantity) as quantity,
    sum(items.mrr_usd) as mrr_usd,
    bool_or(items.billing_period = 'month') as has_monthly_billing
from items
inner join products on items.product_id = products.product_id
group by items.customer_id, items.product_id, products.pricing_unit, products.usage_limit
