with source as (
    {{ latest_version(source('usage', 'events'), 'event_id') }}
),

renamed as (
    select
        event_id,
        customer_id,
        user_id,
        product_id,
        feature,
        occurred_at,
        occurred_at::date as occurred_date,
        quantity
    from source
)

select * from renamed
