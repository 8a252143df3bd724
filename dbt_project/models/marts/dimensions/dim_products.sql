-- One row per product of the catalogue: its name, family, pricing unit, list price and
-- usage limit, with how many customers own it on the night and the MRR it earns then.
-- The product dimension BI joins white space, opportunities and affinity to.
with products as (
    select * from {{ ref('stg_billing__products') }}
),

owned as (
    select
        product_id,
        count(*) as customers_owning,
        sum(mrr_usd) as mrr
    from {{ ref('int_products_owned') }}
    group by product_id
)

select
    products.product_id::text as product_id,
    products.product_name::text as product_name,
    products.product_family::text as product_family,
    products.pricing_unit::text as pricing_unit,
    products.list_price_monthly::numeric(14, 2) as list_price_monthly_usd,
    products.usage_limit::integer as usage_limit,
    coalesce(owned.customers_owning, 0)::bigint as customers_owning,
    coalesce(owned.mrr, 0)::numeric(14, 2) as mrr_usd
from products
left join owned on products.product_id = owned.product_id
