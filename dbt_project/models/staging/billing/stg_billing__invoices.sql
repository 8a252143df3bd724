with source as (
    {{ latest_version(source('billing', 'invoices'), 'invoice_id') }}
),

renamed as (
    select
        invoice_id,
        customer_id,
        issued_at as issued_date,
        due_at as due_date,
        paid_at as paid_date,
        amount,
        currency,
        status as invoice_status
    from source
)

select * from renamed
