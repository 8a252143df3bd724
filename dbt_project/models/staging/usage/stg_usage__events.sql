with source as (
    select distinct on (event_id) *
    from {{ source('usage', 'events') }}
    order by event_id asc, _logical_date desc, _line desc
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
