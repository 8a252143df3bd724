-- One row per active customer per product it does not own: the MRR it would add at list
-- price, for the customer's current seats (seat products) or one unit (flat products).
-- The sum per customer is "revenue if the customer used every product".
with owned as (
    select * from {{ ref('int_products_owned') }}
),

customers as (
    select
        customer_id,
        max(quantity) filter (where pricing_unit = 'seat') as seats
    from owned
    group by customer_id
),

products as (
    select * from {{ ref('stg_billing__products') }}
),

not_owned as (
    select
        customers.customer_id,
        products.product_id,
        products.product_name,
        products.pricing_unit,
        products.list_price_monthly,
        coalesce(customers.seats, 1) as seats
    from customers
    cross join products
    where not exists (
        select 1 from owned
        where
            owned.customer_id = customers.customer_id
            and owned.product_id = products.product_id
    )
)

select
    (customer_id || ':' || product_id)::text as white_space_id,
    customer_id::text as customer_id,
    product_id::text as product_id,
    product_name::text as product_name,
    (case when pricing_unit = 'seat' then seats else 1 end)::integer as units,
    list_price_monthly::numeric(14, 2) as list_price_monthly_usd,
    (list_price_monthly * case when pricing_unit = 'seat' then seats else 1 end)::numeric(14, 2)
        as potential_mrr_usd
from not_owned
