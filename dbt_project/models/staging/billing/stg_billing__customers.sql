with source as (
    {{ latest_version(source('billing', 'customers'), 'customer_id') }}
),

renamed as (
    select
        customer_id,
        name as customer_name,
        industry,
        upper(country) as country_code,
        employee_count,
        parent_customer_id,
        csm_owner,
        created_at,
        created_at::date as created_date
    from source
)

select * from renamed
