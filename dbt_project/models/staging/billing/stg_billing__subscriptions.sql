with source as (
    {{ latest_version(source('billing', 'subscriptions'), 'subscription_item_id') }}
),

renamed as (
    select
        subscription_item_id,
        customer_id,
        product_id,
        plan as plan_name,
        quantity,
        unit_price,
        currency,
        billing_period,
        discount_pct,
        start_date,
        end_date,
        cancel_at,
        status as subscription_status
    from source
)

select * from renamed
