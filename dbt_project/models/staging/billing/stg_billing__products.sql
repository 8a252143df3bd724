with source as (
    {{ latest_version(source('billing', 'products'), 'product_id') }}
),

renamed as (
    select
        product_id,
        name as product_name,
        family as product_family,
        list_price_monthly,
        unit as pricing_unit,
        usage_limit
    from source
)

select * from renamed
