with source as (
    {{ latest_version(source('support', 'tickets'), 'ticket_id') }}
),

renamed as (
    select
        ticket_id,
        customer_id,
        opened_at,
        closed_at,
        priority,
        category as ticket_category,
        csat as csat_score
    from source
)

select * from renamed
