-- One row per subscription item with its monthly recurring revenue in USD:
-- quantity × unit price × (1 − discount), annual plans ÷ 12, converted with the fx seed.
with items as (
    select * from {{ ref('stg_billing__subscriptions') }}
    where start_date <= {{ as_of_date() }}
),

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

normalized as (
    select
        items.subscription_item_id,
        items.customer_id,
        items.product_id,
        items.billing_period,
        items.quantity,
        items.start_date,
        items.end_date,
        round(
            items.quantity * items.unit_price * (1 - items.discount_pct / 100.0)
            / case when items.billing_period = 'year' then 12 else 1 end
            * fx_rates.rate_to_usd,
            2
        ) as mrr_usd
    from items
    inner join fx_rates on items.currency = fx_rates.currency
)

select * from normalized
